package websocket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// AcceptOptions are the per-connection choices of Accept. A nil
// *AcceptOptions accepts with no subprotocol and no extra headers.
type AcceptOptions struct {
	// Subprotocols the server speaks, in order of preference. The first one
	// the client also offered is chosen (see Subprotocol); none chosen when
	// there is no overlap.
	Subprotocols []string
	// Header holds extra response headers (cookies, for instance).
	Header http.Header
}

// Accept completes the handshake: the connection becomes StateConnected.
// It fails with a 403 answer when the request's Origin is not allowed
// (see Options.AllowedOrigins), and with ErrAlreadyAccepted or ErrClosed
// when the handshake was already answered. ctx bounds the wait for the
// HTTP handler goroutine, which writes the answer.
func (ws *WebSocket) Accept(ctx context.Context, opts *AcceptOptions) error {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	// hsMu makes Accept and Reject (and so Close before Accept) atomic with
	// respect to each other: whoever comes second sees the final state.
	ws.hsMu.Lock()
	defer ws.hsMu.Unlock()
	var (
		conn   *gws.Conn
		bc     *wire.Conn
		upErr  error
		header = opts.Header
	)
	err := ws.answer(ctx, func(w http.ResponseWriter) {
		// ReadBufferSize 0: gorilla reads through the hijacked reader,
		// ws.rd's (see package wire).
		u := gws.Upgrader{
			HandshakeTimeout:  ws.cfg.handshakeTimeout,
			WriteBufferPool:   ws.cfg.writePool,
			Subprotocols:      opts.Subprotocols,
			CheckOrigin:       ws.cfg.checkOrigin,
			EnableCompression: ws.cfg.compression,
		}
		hw := wire.NewHijackWriter(w, &ws.rd, &ws.cfg.pools)
		conn, upErr = u.Upgrade(hw, ws.req.Load(), header)
		bc = hw.Conn()
		if upErr == nil {
			// Here, on the HTTP goroutine's deep stack: walking the
			// header map on the handler's would grow its stack for good.
			ws.keepRequest()
		}
	})
	if err != nil {
		return err
	}
	if upErr != nil {
		ws.mu.Lock()
		ws.discErr = &DisconnectError{Code: StatusAbnormalClosure, Reason: "handshake failed"}
		ws.mu.Unlock()
		if ws.cfg.checkOrigin(ws.req.Load()) {
			ws.cfg.metrics.Rejected("handshake")
		} else {
			ws.cfg.metrics.Rejected("origin")
		}
		ws.teardown()
		return &acceptError{upErr}
	}
	ws.rd.Start(bc, &ws.cfg.pools, (*wireControl)(ws))
	conn.SetCloseHandler(ignoreClose)
	conn.SetPingHandler(ws.onPing)
	conn.SetPongHandler(ws.onPong)
	ws.lastRead.Store(time.Now().UnixNano())
	ws.mu.Lock()
	ws.conn = conn
	ws.bc = bc
	ws.subprotocol = conn.Subprotocol()
	ws.state.Store(int32(StateConnected))
	if ws.cfg.pingInterval > 0 && !ws.closing {
		ws.cfg.keepalive.schedule(ws, time.Now().Add(ws.cfg.pingInterval).UnixNano())
	}
	ws.mu.Unlock()
	ws.cfg.metrics.Accepted()
	return nil
}

// Reject answers the handshake with an HTTP status (such as 401 or 403)
// and reason as the plain-text body, instead of accepting. The connection
// becomes StateClosed.
func (ws *WebSocket) Reject(status int, reason string) error {
	if status < 400 || status > 599 {
		return fmt.Errorf("websocket: reject: status %d is not an HTTP error status", status)
	}
	ws.hsMu.Lock()
	defer ws.hsMu.Unlock()
	err := ws.answer(context.Background(), func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		fmt.Fprintln(w, reason)
	})
	if errors.Is(err, ErrAlreadyAccepted) || errors.Is(err, ErrClosed) {
		return err
	}
	ws.mu.Lock()
	if ws.discErr == nil {
		ws.discErr = &DisconnectError{Code: StatusPolicyViolation, Reason: "rejected"}
	}
	ws.mu.Unlock()
	ws.cfg.metrics.Rejected("handler")
	ws.teardown()
	return err
}

// answer runs fn on the HTTP goroutine if the handshake is still open.
func (ws *WebSocket) answer(ctx context.Context, fn func(http.ResponseWriter)) error {
	ws.mu.Lock()
	hs := ws.hs
	ws.mu.Unlock()
	switch {
	case ws.State() == StateConnected:
		return ErrAlreadyAccepted
	case ws.State() == StateClosed:
		return ErrClosed
	case hs == nil:
		return ErrHandshakeOver
	}
	var done <-chan struct{}
	if ctx != ws.ctx {
		done = ctx.Done()
	}
	err := hs.do(done, fn)
	if err == context.Canceled {
		err = ctx.Err()
	}
	if err == nil {
		ws.mu.Lock()
		ws.hs = nil // answered: nothing of the HTTP request is needed any more
		ws.mu.Unlock()
	}
	return err
}

func ignoreClose(int, string) error { return nil }

// offersDeflate mirrors gorilla's negotiation: permessage-deflate is used
// when compression is on and the client offers it.
func offersDeflate(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-Websocket-Extensions") {
		for _, ext := range strings.Split(h, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.EqualFold(strings.TrimSpace(name), "permessage-deflate") {
				return true
			}
		}
	}
	return false
}

// acceptError is a failed upgrade: the client got an HTTP error answer
// (a foreign Origin, a malformed handshake) or went away.
type acceptError struct{ err error }

func (e *acceptError) Error() string { return "websocket: accept: " + e.err.Error() }
func (e *acceptError) Unwrap() error { return e.err }
