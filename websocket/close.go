package websocket

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// Close starts the closing handshake with code and reason (cut to 123
// bytes) and returns when the connection is closed: the queued messages
// are flushed, the close frame sent and the peer's awaited, all within
// Options.CloseTimeout; after that the connection is torn down anyway.
//
// Close is idempotent: a later call waits for the first one to finish and
// returns nil. Before Accept, Close rejects the handshake with 403. A code
// that may not be sent (1005, 1006, 1015, or outside 1000–4999) closes with
// StatusInternalError and returns an error wrapping ErrInvalidStatusCode.
func (ws *WebSocket) Close(code StatusCode, reason string) error {
	if ws.State() == StateConnecting {
		if err := ws.Reject(403, "Forbidden"); !errors.Is(err, ErrAlreadyAccepted) {
			return nil // rejected, or the client is already gone
		}
		// Accept won the race: close the accepted connection.
	}
	var err error
	if !code.canSend() {
		err = fmt.Errorf("%w: %d", ErrInvalidStatusCode, int(code))
		code, reason = StatusInternalError, "internal error"
	}
	ws.mu.Lock()
	started := ws.startCloseLocked(code, reason, reason, true)
	ws.mu.Unlock()
	if started {
		ws.awaitClose(false)
	} else {
		ws.awaitDone()
	}
	return err
}

// startCloseLocked moves a connected connection to closing: no more sends,
// the close frame queued behind the pending messages (or alone, when flush
// is false). It records the code and reason that Receive will report. It
// reports false when closing had already started. ws.mu must be held.
func (ws *WebSocket) startCloseLocked(code StatusCode, sendReason, reportReason string, flush bool) bool {
	if ws.closing || ws.State() != StateConnected {
		return false
	}
	ws.closing = true
	ws.closeCode, ws.closeReason = code, reportReason
	ws.closeWritten = make(chan struct{})
	if !flush {
		ws.abort.Store(true)
		clear(ws.queue)
		ws.queue = ws.queue[:0]
		ws.queued, ws.pongAt = 0, 0
	}
	ws.pushLocked(outFrame{b: wire.FrameBytes(wire.OpClose, wire.ClosePayload(uint16(code), sendReason)), op: wire.OpClose})
	return true
}

// awaitClose finishes a close that this goroutine started: it waits for
// the close frame to be written, then for the peer's close frame (reading
// it itself unless another goroutine is in Receive, which reads it there),
// then tears down. reading says the caller holds readMu. Everything is
// bounded by CloseTimeout.
func (ws *WebSocket) awaitClose(reading bool) {
	ws.mu.Lock()
	written := ws.closeWritten
	ws.mu.Unlock()
	deadline := time.Now().Add(ws.cfg.closeTimeout)
	t := time.NewTimer(ws.cfg.closeTimeout)
	defer t.Stop()
	if written != nil {
		select {
		case <-written:
		case <-ws.ctx.Done():
			return
		case <-t.C:
			ws.teardown()
			return
		}
	}
	if reading || ws.readMu.TryLock() {
		if !reading {
			defer ws.readMu.Unlock()
		}
		if !ws.readBroken {
			ws.bc.SetReadDeadline(deadline) //nolint:errcheck // a failed read ends the loop anyway
			ws.rd.Lend(&ws.cfg.pools, ws.bc)
			for {
				if _, _, err := ws.conn.NextReader(); err != nil {
					ws.readBroken = true
					break
				}
			}
		}
		ws.teardown()
		return
	}
	// Another goroutine is in Receive: it will read the peer's close frame
	// and tear down. Bound its wait.
	ws.bc.SetReadDeadline(deadline) //nolint:errcheck
	select {
	case <-ws.ctx.Done():
	case <-t.C:
		ws.teardown()
	}
}

// awaitDone waits until the connection is torn down by whoever is closing
// it, at most CloseTimeout plus a margin.
func (ws *WebSocket) awaitDone() {
	t := time.NewTimer(ws.cfg.closeTimeout + time.Second)
	defer t.Stop()
	select {
	case <-ws.ctx.Done():
	case <-t.C:
		ws.teardown()
	}
}

// teardown ends the connection: state Closed, the disconnect error fixed,
// the network connection closed, the context cancelled, timers stopped.
// It is idempotent.
func (ws *WebSocket) teardown() {
	ws.mu.Lock()
	if ws.State() == StateClosed {
		ws.mu.Unlock()
		return
	}
	ws.state.Store(int32(StateClosed))
	if ws.discErr == nil {
		if ws.closing {
			ws.discErr = &DisconnectError{Code: ws.closeCode, Reason: ws.closeReason}
		} else {
			ws.discErr = &DisconnectError{Code: StatusAbnormalClosure}
		}
	}
	wasConnected := ws.conn != nil
	code := ws.discErr.Code
	ws.closing = true
	clear(ws.queue)
	ws.queue, ws.spare, ws.queued, ws.pongAt = nil, nil, 0, 0
	if ws.cfg.pingInterval > 0 {
		ws.cfg.keepalive.unschedule(ws)
	}
	bc := ws.bc
	hooks := ws.onClose
	ws.onClose = nil
	ws.mu.Unlock()
	if bc != nil {
		bc.Close() //nolint:errcheck // nothing to do about it
	}
	ws.cancel()
	if wasConnected {
		ws.cfg.metrics.Closed(code)
	}
	for _, fn := range hooks {
		fn()
	}
}

// disconnected returns the disconnect error once the connection is closed.
func (ws *WebSocket) disconnected() *DisconnectError {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.discErr == nil && ws.State() == StateClosed {
		return &DisconnectError{Code: StatusAbnormalClosure}
	}
	return ws.discErr
}

// Abort ends the connection at once, without the closing handshake: queued
// messages are dropped and the peer sees the connection drop. Receive then
// reports StatusAbnormalClosure. It is for a deadline that leaves no time
// for Close (a shutdown whose context ended); before Accept it rejects the
// handshake with 503.
func (ws *WebSocket) Abort() {
	if ws.State() == StateConnecting {
		if err := ws.Reject(http.StatusServiceUnavailable, "Service Unavailable"); !errors.Is(err, ErrAlreadyAccepted) {
			return
		}
	}
	ws.mu.Lock()
	if !ws.closing {
		ws.closing = true
		ws.closeCode, ws.closeReason = StatusAbnormalClosure, "aborted"
	}
	ws.mu.Unlock()
	ws.teardown()
}
