package websocket

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Tracker keeps the open connections of every handler whose Options name
// it, so that a server can close them when it stops: net/http's
// Server.Shutdown does not touch hijacked connections. Make one with
// NewTracker and share it between handlers (a router's Options.WebSocket
// does that for all its routes).
//
// A Tracker also enforces the limits that span handlers: connections per
// client IP and per user, and the handshake rate per IP (see
// TrackerOptions). A handshake over a limit is answered 429 Too Many
// Requests before any upgrade.
type Tracker struct {
	opts TrackerOptions

	mu       sync.Mutex
	conns    map[*WebSocket]struct{}
	perIP    map[string]int // connections, handshakes in progress included
	perUser  map[string]int
	buckets  map[string]*handshakeBucket
	draining bool
	empty    chan struct{} // closed when draining and no connection is left
}

// TrackerOptions are a Tracker's limits; nil or zero values mean none.
type TrackerOptions struct {
	// MaxConnsPerIP bounds the connections (handshakes in progress
	// included) from one client IP. Defaults to no limit, since clients
	// behind one NAT or proxy share an address.
	MaxConnsPerIP int
	// MaxConnsPerUser bounds the connections of one authenticated user
	// (UserFrom of the request's context, set by router.Authenticate).
	// Defaults to no limit.
	MaxConnsPerUser int
	// HandshakeRate is the handshakes a second one client IP may make, in
	// bursts of HandshakeBurst (default: HandshakeRate, at least 1); over
	// it the answer carries Retry-After. Defaults to no limit.
	HandshakeRate  float64
	HandshakeBurst int
	// ClientIP returns the address a request counts against. Defaults to
	// the host of Request.RemoteAddr; behind a proxy, return the client's
	// address from a header the proxy sets.
	ClientIP func(*http.Request) string
	// Now is the clock of the handshake rate. Defaults to time.Now.
	Now func() time.Time
}

// handshakeBucket is a token bucket of one IP's handshakes.
type handshakeBucket struct {
	tokens float64
	last   time.Time
}

// NewTracker returns an empty Tracker with the given limits (nil for
// none).
func NewTracker(opts *TrackerOptions) *Tracker {
	t := &Tracker{
		conns:   make(map[*WebSocket]struct{}),
		perIP:   make(map[string]int),
		perUser: make(map[string]int),
		buckets: make(map[string]*handshakeBucket),
	}
	if opts != nil {
		t.opts = *opts
	}
	if t.opts.HandshakeRate > 0 && t.opts.HandshakeBurst <= 0 {
		t.opts.HandshakeBurst = max(1, int(t.opts.HandshakeRate))
	}
	if t.opts.ClientIP == nil {
		t.opts.ClientIP = remoteIP
	}
	if t.opts.Now == nil {
		t.opts.Now = time.Now
	}
	return t
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Limit errors, as the bodies of the 429 answers.
var (
	ErrTooManyFromIP    = errors.New("websocket: too many connections from this address")
	ErrTooManyForUser   = errors.New("websocket: too many connections for this user")
	ErrHandshakeTooFast = errors.New("websocket: handshakes too fast from this address")
)

// admit counts a handshake against the limits: nil and a release func to
// call when the connection ends, or the limit it is over.
func (t *Tracker) admit(r *http.Request) (func(), error) {
	ip := t.opts.ClientIP(r)
	user := UserFrom(r.Context())
	t.mu.Lock()
	defer t.mu.Unlock()
	if rate := t.opts.HandshakeRate; rate > 0 {
		now := t.opts.Now()
		b := t.buckets[ip]
		if b == nil {
			if len(t.buckets) >= maxBuckets {
				t.pruneBucketsLocked(now)
			}
			b = &handshakeBucket{tokens: float64(t.opts.HandshakeBurst), last: now}
			t.buckets[ip] = b
		}
		b.tokens = min(float64(t.opts.HandshakeBurst), b.tokens+now.Sub(b.last).Seconds()*rate)
		b.last = now
		if b.tokens < 1 {
			return nil, ErrHandshakeTooFast
		}
		b.tokens--
	}
	if m := t.opts.MaxConnsPerIP; m > 0 && t.perIP[ip] >= m {
		return nil, ErrTooManyFromIP
	}
	if m := t.opts.MaxConnsPerUser; m > 0 && user != "" && t.perUser[user] >= m {
		return nil, ErrTooManyForUser
	}
	t.perIP[ip]++
	if user != "" {
		t.perUser[user]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.perIP[ip]--; t.perIP[ip] <= 0 {
				delete(t.perIP, ip)
			}
			if user != "" {
				if t.perUser[user]--; t.perUser[user] <= 0 {
					delete(t.perUser, user)
				}
			}
		})
	}, nil
}

// maxBuckets bounds the handshake buckets kept; beyond it, full ones
// (idle IPs) are dropped.
const maxBuckets = 100_000

func (t *Tracker) pruneBucketsLocked(now time.Time) {
	for ip, b := range t.buckets {
		if float64(t.opts.HandshakeBurst) <= b.tokens+now.Sub(b.last).Seconds()*t.opts.HandshakeRate {
			delete(t.buckets, ip)
		}
	}
}

// limitReason names a limit for Metrics.Rejected.
func limitReason(err error) string {
	switch {
	case errors.Is(err, ErrTooManyFromIP):
		return "limit_ip"
	case errors.Is(err, ErrTooManyForUser):
		return "limit_user"
	}
	return "handshake_rate"
}

// QueuedBytes returns the bytes waiting in the open connections' outbound
// queues (the batches being written included).
func (t *Tracker) QueuedBytes() int {
	n := 0
	for _, ws := range t.snapshot() {
		ws.mu.Lock()
		n += ws.queued + ws.inflight
		ws.mu.Unlock()
	}
	return n
}

// refuseLimit answers a handshake over a limit with 429.
func refuseLimit(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrHandshakeTooFast) {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, "429 Too Many Requests: "+err.Error(), http.StatusTooManyRequests)
}

// Len returns the number of open connections, handshakes in progress
// included.
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

// refuseDraining answers a handshake that arrives while draining.
func refuseDraining(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "503 Service Unavailable: the server is shutting down", http.StatusServiceUnavailable)
}

// enter records a connection from its handshake on, so that Shutdown also
// waits for handshakes in progress; false (nothing recorded) while
// draining.
func (t *Tracker) enter(ws *WebSocket) bool {
	t.mu.Lock()
	if t.draining {
		t.mu.Unlock()
		return false
	}
	t.conns[ws] = struct{}{}
	t.mu.Unlock()
	ws.OnClose(func() { t.remove(ws) })
	return true
}

// closeForShutdown ends one connection for Shutdown: a handshake still in
// progress is answered 503, an open connection is closed with code.
func closeForShutdown(ws *WebSocket, code StatusCode, reason string) {
	if ws.State() == StateConnecting {
		if err := ws.Reject(http.StatusServiceUnavailable, "server shutting down"); !errors.Is(err, ErrAlreadyAccepted) {
			return
		}
	}
	ws.Close(code, reason) //nolint:errcheck // the code is valid
}

func (t *Tracker) remove(ws *WebSocket) {
	// The limits' slot is freed before the connection stops counting.
	if ws.release != nil {
		ws.release()
	}
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
				closeForShutdown(ws, o.Code, o.Reason)
			})
		}
	}
	// Wait for every connection, and every handshake, to be over.
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
