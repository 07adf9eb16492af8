package websocket

import (
	"context"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Tracker keeps the open connections of every handler whose Options name
// it, so that a server can close them when it stops: net/http's
// Server.Shutdown does not touch hijacked connections. Make one with
// NewTracker and share it between handlers (a router's Options.WebSocket
// does that for all its routes).
type Tracker struct {
	mu       sync.Mutex
	conns    map[*WebSocket]struct{}
	draining bool
	empty    chan struct{} // closed when draining and no connection is left
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{conns: make(map[*WebSocket]struct{})}
}

// Len returns the number of open connections.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Draining reports whether Shutdown was called: new handshakes are then
// refused with 503.
func (t *Tracker) Draining() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.draining
}

// refuse answers a handshake that arrives while draining.
func (t *Tracker) refuse(w http.ResponseWriter) bool {
	if !t.Draining() {
		return false
	}
	w.Header().Set("Retry-After", "5")
	http.Error(w, "503 Service Unavailable: the server is shutting down", http.StatusServiceUnavailable)
	return true
}

// add records an accepted connection; one accepted while draining is
// closed at once (on its own goroutine: Accept must not wait for it), and
// Shutdown waits for it like the others.
func (t *Tracker) add(ws *WebSocket) {
	t.mu.Lock()
	t.conns[ws] = struct{}{}
	draining := t.draining
	t.mu.Unlock()
	ws.OnClose(func() { t.remove(ws) })
	if draining {
		go ws.Close(StatusShutdown, "server shutting down") //nolint:errcheck // valid code
	}
}

func (t *Tracker) remove(ws *WebSocket) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, ws)
	if t.draining && len(t.conns) == 0 && t.empty != nil {
		close(t.empty)
		t.empty = nil
	}
}

// ShutdownOptions shape Tracker.Shutdown; nil means defaults.
type ShutdownOptions struct {
	// Code and Reason are sent in every close frame. Default to
	// StatusShutdown and "server shutting down".
	Code   StatusCode
	Reason string
	// Batch is how many connections are closed at a time. Defaults to 100.
	Batch int
	// Jitter is the longest random pause between two batches, so that
	// clients do not all reconnect at once; negative means none. Defaults
	// to 100ms.
	Jitter time.Duration
}

// Shutdown refuses new handshakes (503) and closes every connection: each
// flushes what it has queued, then sends the close frame (see Close), in
// batches with random pauses between them. It returns when every
// connection has ended; when ctx ends first, the rest are aborted (dropped
// without the closing handshake) and ctx.Err() is returned. Later calls
// close what is left the same way.
func (t *Tracker) Shutdown(ctx context.Context, opts *ShutdownOptions) error {
	var o ShutdownOptions
	if opts != nil {
		o = *opts
	}
	if o.Code == 0 {
		o.Code, o.Reason = StatusShutdown, "server shutting down"
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Jitter == 0 {
		o.Jitter = 100 * time.Millisecond
	}
	t.mu.Lock()
	t.draining = true
	conns := make([]*WebSocket, 0, len(t.conns))
	for ws := range t.conns {
		conns = append(conns, ws)
	}
	t.mu.Unlock()
	mrand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })

	abort := func() error {
		for _, ws := range t.snapshot() {
			ws.Abort()
		}
		return ctx.Err()
	}
	const parallel = 64
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for start := 0; start < len(conns); start += o.Batch {
		if start > 0 && o.Jitter > 0 {
			timer := time.NewTimer(mrand.N(o.Jitter))
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				defer wg.Wait()
				return abort()
			}
		}
		for _, ws := range conns[start:min(start+o.Batch, len(conns))] {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				defer wg.Wait()
				return abort()
			}
			wg.Go(func() {
				defer func() { <-sem }()
				ws.Close(o.Code, o.Reason) //nolint:errcheck // the code is valid
			})
		}
	}
	// Connections accepted meanwhile were closed by add; wait for all.
	t.mu.Lock()
	var empty chan struct{}
	if len(t.conns) > 0 {
		if t.empty == nil {
			t.empty = make(chan struct{})
		}
		empty = t.empty
	}
	t.mu.Unlock()
	if empty != nil {
		select {
		case <-empty:
		case <-ctx.Done():
			defer wg.Wait()
			return abort()
		}
	}
	wg.Wait()
	return nil
}

func (t *Tracker) snapshot() []*WebSocket {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*WebSocket, 0, len(t.conns))
	for ws := range t.conns {
		out = append(out, ws)
	}
	return out
}
