package consumers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/safemsgpack"
	"github.com/switchboard-go/switchboard/websocket"
)

// Consumer handles one connection. Embed Base in a struct to get the
// default hooks and the helpers, and override the hooks you need.
type Consumer interface {
	// OnConnect runs first. It accepts (Base's default) or rejects the
	// handshake; see the package doc.
	OnConnect(ctx context.Context) error
	// OnReceive runs for each message, decoded by Options.Encoding.
	OnReceive(ctx context.Context, msg any) error
	// OnDisconnect runs once when an accepted connection has ended, with
	// the close code sent or received.
	OnDisconnect(code websocket.StatusCode)

	base() *Base
}

// Encoding is how messages reach OnReceive and how values are sent: the
// one payload-encoding type of the module, channels.PayloadType.
//
// Deprecated: use channels.PayloadType.
type Encoding = channels.PayloadType

// The encodings, as OnReceive sees them.
//
// Deprecated: use channels.JSON, channels.Text, channels.Bytes and
// channels.Msgpack.
const (
	// JSON: text frames decoded with encoding/json into an any.
	JSON = channels.JSON
	// Text: text frames as a string.
	Text = channels.Text
	// Bytes: binary frames as a []byte.
	Bytes = channels.Bytes
	// Msgpack: binary frames decoded with msgpack into an any.
	Msgpack = channels.Msgpack
)

// Options configure a consumer Handler; nil means defaults.
type Options struct {
	// Box registers the connections; without one, the group helpers return
	// ErrNoBox. Defaults to none.
	Box *channels.ChannelBox
	// Encoding decides what OnReceive gets and how values sent to the
	// connection are encoded: channels.JSON (text frames decoded with
	// encoding/json into an any), channels.Text (text frames as a
	// string), channels.Bytes (binary frames as a []byte) or
	// channels.Msgpack (binary frames decoded with msgpack into an any).
	// Defaults to channels.JSON.
	Encoding channels.PayloadType
	// Subprotocols, when set, are offered at Accept (before
	// websocket.AcceptOptions' own), and a connection that agrees on one
	// of them gets its encoding instead of Encoding. Defaults to none.
	Subprotocols []Subprotocol
	// Expires closes the channel after that long without a message either
	// way (see channels.RegisterOptions). Defaults to never.
	Expires time.Duration
	// User returns the user id of a connection, for the box's user index.
	// Defaults to none.
	User func(ws *websocket.WebSocket) string
	// Logger receives hook errors and panics. Defaults to slog.Default().
	Logger *slog.Logger
}

// ErrNoBox is returned by the group helpers of a consumer whose Handler
// has no Options.Box.
var ErrNoBox = errors.New("consumers: no ChannelBox in Options")

// Subprotocol is a WebSocket subprotocol a consumer speaks, with the
// encoding of its messages.
type Subprotocol struct {
	Name     string
	Encoding channels.PayloadType
}

type config struct {
	Options
}

// encodingFor returns the encoding of a connection that agreed on
// subprotocol.
func (c *config) encodingFor(subprotocol string) channels.PayloadType {
	for _, s := range c.Subprotocols {
		if s.Name == subprotocol && subprotocol != "" {
			return s.Encoding
		}
	}
	return c.Encoding
}

// Handler returns a router handler that runs a new Consumer from factory
// for each connection.
func Handler(factory func() Consumer, opts *Options) websocket.HandlerFunc {
	if factory == nil {
		panic("consumers: nil factory")
	}
	cfg := &config{}
	if opts != nil {
		cfg.Options = *opts
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(ws *websocket.WebSocket) error {
		c := factory()
		b := c.base()
		b.ws, b.cfg, b.enc = ws, cfg, cfg.Encoding
		run(c, b)
		return nil
	}
}

// run drives one connection through the hooks.
func run(c Consumer, b *Base) {
	ctx := b.ws.Context()
	err := b.safely("OnConnect", func() error { return c.OnConnect(ctx) })
	if b.ws.State() == websocket.StateConnecting {
		// OnConnect's error refuses the handshake; its panic is a failure.
		var pe *panicError
		if !errors.As(err, &pe) {
			err = websocket.Refuse(err)
		}
		e := websocket.EndingFor(err, false)
		b.logEnding("OnConnect", e, err)
		b.ws.Reject(e.HTTPStatus, http.StatusText(e.HTTPStatus)) //nolint:errcheck // the client may be gone
		return
	}
	code := b.closeFor("OnConnect", err)
	for code == 0 {
		typ, data, rerr := b.ws.Receive(ctx)
		if rerr != nil {
			code = websocket.CloseStatus(rerr)
			if code < 0 {
				code = websocket.StatusAbnormalClosure
			}
			break
		}
		if fr, ok := c.(FrameReceiver); ok {
			code = b.closeFor("OnReceive", b.safely("OnReceive", func() error { return fr.ReceiveFrame(ctx, typ, data) }))
			continue
		}
		msg, bad, reason := b.decode(typ, data)
		if bad != 0 {
			b.ws.Close(bad, reason) //nolint:errcheck // valid code
			code = bad
			break
		}
		code = b.closeFor("OnReceive", b.safely("OnReceive", func() error { return c.OnReceive(ctx, msg) }))
	}
	if err := b.safely("OnDisconnect", func() error { c.OnDisconnect(code); return nil }); err != nil {
		b.logEnding("OnDisconnect", websocket.EndingFor(err, true), err)
	}
}

// FrameReceiver is a Consumer that decodes frames itself (the event
// router of package events does): ReceiveFrame gets each frame as it
// came, instead of OnReceive, and its error closes the connection as
// OnReceive's does.
type FrameReceiver interface {
	Consumer
	ReceiveFrame(ctx context.Context, typ websocket.MessageType, data []byte) error
}

// closeFor closes the connection for hook's error, as the close policy
// (websocket.EndingFor) says, and returns the code sent; 0 for no error
// on a connection still open. A connection that ended under the hook
// reports its own code.
func (b *Base) closeFor(hook string, err error) websocket.StatusCode {
	if err == nil && b.ws.State() != websocket.StateClosed {
		return 0
	}
	e := websocket.EndingFor(err, true)
	if err != nil {
		b.logEnding(hook, e, err)
	}
	code := e.Code
	if err != nil && b.ws.Close(e.Code, e.Reason) != nil {
		code = websocket.StatusInternalError
	}
	if b.ws.State() == websocket.StateClosed {
		// Report what actually ended the connection (the peer may have
		// closed first).
		_, _, rerr := b.ws.Receive(context.Background())
		if c := websocket.CloseStatus(rerr); c > 0 {
			return c
		}
	}
	return code
}

// logEnding logs hook's error at the level the close policy gives it.
func (b *Base) logEnding(hook string, e websocket.Ending, err error) {
	b.cfg.Logger.Log(context.Background(), e.Level, "consumers: "+hook+": "+e.Kind.String(),
		"id", b.ws.ID(), "path", b.ws.Request().URL.Path, "err", err)
}

// panicError is a recovered panic of a hook.
type panicError struct{ msg string }

func (e *panicError) Error() string { return e.msg }

// safely runs a hook, turning a panic into a *panicError.
func (b *Base) safely(hook string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{fmt.Sprintf("consumers: %s panicked: %v\n%s", hook, p, debug.Stack())}
		}
	}()
	return fn()
}

// decode turns a frame into what OnReceive gets, or a close code.
func (b *Base) decode(typ websocket.MessageType, data []byte) (any, websocket.StatusCode, string) {
	want := websocket.TextMessage
	if b.enc == channels.Bytes || b.enc == channels.Msgpack {
		want = websocket.BinaryMessage
	}
	if typ != want {
		return nil, websocket.StatusUnsupportedData, fmt.Sprintf("expected %s frames", want)
	}
	switch b.enc {
	case channels.Text:
		return string(data), 0, ""
	case channels.Bytes:
		return data, 0, ""
	case channels.Msgpack:
		var v any
		if err := safemsgpack.Unmarshal(data, &v); err != nil {
			return nil, websocket.StatusInvalidPayload, "invalid msgpack"
		}
		return v, 0, ""
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, websocket.StatusInvalidPayload, "invalid JSON"
	}
	return v, 0, ""
}
