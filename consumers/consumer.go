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
	"github.com/switchboard-go/switchboard/router"
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

// Encoding is how messages reach OnReceive.
type Encoding uint8

const (
	// JSON: text frames decoded with encoding/json into an any.
	JSON Encoding = iota
	// Text: text frames as a string.
	Text
	// Bytes: binary frames as a []byte.
	Bytes
	// Msgpack: binary frames decoded with msgpack into an any.
	Msgpack
)

func (e Encoding) String() string {
	switch e {
	case JSON:
		return "json"
	case Text:
		return "text"
	case Bytes:
		return "bytes"
	case Msgpack:
		return "msgpack"
	}
	return fmt.Sprintf("Encoding(%d)", e)
}

// Options configure a consumer Handler; nil means defaults.
type Options struct {
	// Box registers the connections; without one, the group helpers return
	// ErrNoBox. Defaults to none.
	Box *channels.ChannelBox
	// Encoding of received messages. Defaults to JSON.
	Encoding Encoding
	// PayloadType of the channel, for what is sent to it. Defaults to the
	// one matching Encoding.
	PayloadType *channels.PayloadType
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

type config struct {
	Options
	payloadType channels.PayloadType
}

// Handler returns a router handler that runs a new Consumer from factory
// for each connection.
func Handler(factory func() Consumer, opts *Options) router.HandlerFunc {
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
	cfg.payloadType = map[Encoding]channels.PayloadType{
		JSON: channels.JSON, Text: channels.Text, Bytes: channels.Bytes, Msgpack: channels.Msgpack,
	}[cfg.Encoding]
	if cfg.PayloadType != nil {
		cfg.payloadType = *cfg.PayloadType
	}
	return func(ws *websocket.WebSocket) error {
		c := factory()
		b := c.base()
		b.ws, b.cfg, b.enc, b.pt = ws, cfg, cfg.Encoding, cfg.payloadType
		run(c, b)
		return nil
	}
}

// run drives one connection through the hooks.
func run(c Consumer, b *Base) {
	ctx := b.ws.Context()
	err := b.safely("OnConnect", func() error { return c.OnConnect(ctx) })
	if b.ws.State() == websocket.StateConnecting {
		status := http.StatusForbidden
		var pe *panicError
		switch {
		case errors.As(err, &pe):
			b.cfg.Logger.Error("consumers: hook failed", "id", b.ws.ID(), "err", err)
		case websocket.CloseStatus(err) == websocket.StatusTryAgainLater:
			// A broker outage, say: the client should come back later.
			b.cfg.Logger.Warn("consumers: OnConnect failed for now; refusing the handshake with 503", "id", b.ws.ID(), "err", err)
			status = http.StatusServiceUnavailable
		case err != nil:
			b.cfg.Logger.Info("consumers: handshake refused by OnConnect", "id", b.ws.ID(), "path", b.ws.Request().URL.Path, "err", err)
		}
		b.ws.Reject(status, http.StatusText(status)) //nolint:errcheck // the client may be gone
		return
	}
	code := b.closeFor(err)
	for code == 0 {
		typ, data, rerr := b.ws.Receive(ctx)
		if rerr != nil {
			code = websocket.CloseStatus(rerr)
			if code < 0 {
				code = websocket.StatusAbnormalClosure
			}
			break
		}
		if rc, ok := c.(rawReceiver); ok {
			code = b.closeFor(b.safely("OnReceive", func() error { return rc.receiveRaw(ctx, typ, data) }))
			continue
		}
		msg, bad, reason := b.decode(typ, data)
		if bad != 0 {
			b.ws.Close(bad, reason) //nolint:errcheck // valid code
			code = bad
			break
		}
		code = b.closeFor(b.safely("OnReceive", func() error { return c.OnReceive(ctx, msg) }))
	}
	if err := b.safely("OnDisconnect", func() error { c.OnDisconnect(code); return nil }); err != nil {
		b.cfg.Logger.Error("consumers: hook failed", "id", b.ws.ID(), "err", err)
	}
}

// rawReceiver is a consumer that decodes frames itself (the event
// consumer); its errors close the connection like OnReceive's.
type rawReceiver interface {
	receiveRaw(ctx context.Context, typ websocket.MessageType, data []byte) error
}

// closeFor closes the connection for a hook's error and returns the code
// sent; 0 for no error on a connection still open. A connection that
// ended under the hook reports its own code.
func (b *Base) closeFor(err error) websocket.StatusCode {
	if err == nil {
		if b.ws.State() == websocket.StateClosed {
			_, _, rerr := b.ws.Receive(context.Background())
			return websocket.CloseStatus(rerr)
		}
		return 0
	}
	var de *websocket.DisconnectError
	if errors.As(err, &de) {
		return de.Code
	}
	code, reason := websocket.StatusInternalError, "internal error"
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, channels.ErrBrokerUnavailable):
		// An outage, not a bug: the client should come back later. (Such
		// an error carries 1013 as a CloseError too; this case logs it.)
		code, reason = websocket.StatusTryAgainLater, "try again later"
		b.cfg.Logger.Warn("consumers: broker unavailable; closing", "id", b.ws.ID(), "path", b.ws.Request().URL.Path, "err", err)
	case errors.As(err, &ce):
		code, reason = ce.Code, ce.Reason
	default:
		b.cfg.Logger.Error("consumers: hook failed", "id", b.ws.ID(), "path", b.ws.Request().URL.Path, "err", err)
	}
	if b.ws.Close(code, reason) != nil {
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
	if b.enc == Bytes || b.enc == Msgpack {
		want = websocket.BinaryMessage
	}
	if typ != want {
		return nil, websocket.StatusUnsupportedData, fmt.Sprintf("expected %s frames", want)
	}
	switch b.enc {
	case Text:
		return string(data), 0, ""
	case Bytes:
		return data, 0, ""
	case Msgpack:
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
