package router

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/switchboard-go/switchboard/internal/pattern"
	"github.com/switchboard-go/switchboard/websocket"
)

// Handler handles one WebSocket connection; see websocket.HandlerFunc for
// what its return value means.
type Handler interface {
	ServeWebSocket(ws *websocket.WebSocket) error
}

// HandlerFunc adapts a function to Handler.
//
// Deprecated: use websocket.HandlerFunc, which it is.
type HandlerFunc = websocket.HandlerFunc

// Middleware wraps the HTTP handler of a route: it runs before the
// handshake and may answer the request itself (a 401, say) instead of
// calling next.
type Middleware = func(next http.Handler) http.Handler

// Options configure a WSRouter. A nil *Options means the defaults.
type Options struct {
	// WebSocket configures the connections of this router's routes.
	// Defaults to the websocket package's defaults.
	WebSocket *websocket.Options
	// Logger receives handler errors and panics (it replaces
	// WebSocket.Logger). Defaults to slog.Default().
	Logger *slog.Logger
	// Fallback answers requests that match a route but are not WebSocket
	// upgrades. Defaults to 426 Upgrade Required with "Upgrade: websocket".
	Fallback http.Handler
}

// WSRouter routes WebSocket handshakes by path to handlers. It is an
// http.Handler, so it mounts in net/http's ServeMux, chi, echo, gin or any
// router that takes one. Register routes and middleware before serving;
// registration is safe for concurrent use, though.
type WSRouter struct {
	wsOpts   *websocket.Options
	fallback http.Handler

	mu     sync.RWMutex
	mws    []Middleware
	sealed bool // a route or mount exists: Use is over
	routes []*route
	mounts []*mount
}

type route struct {
	pat *pattern.Pattern
	h   http.Handler
}

type mount struct {
	pat   *pattern.Pattern
	child *WSRouter
	h     http.Handler
}

// New returns a router with default options.
func New() *WSRouter { return NewWithOptions(nil) }

// NewWithOptions returns a router configured by opts (nil for defaults).
func NewWithOptions(opts *Options) *WSRouter {
	if opts == nil {
		opts = &Options{}
	}
	var wsOpts websocket.Options
	if opts.WebSocket != nil {
		wsOpts = *opts.WebSocket
	}
	if opts.Logger != nil {
		wsOpts.Logger = opts.Logger
	}
	return &WSRouter{wsOpts: &wsOpts, fallback: opts.Fallback}
}

// Use appends router-wide middleware. It applies to every route of this
// router and of the routers mounted in it, outside their own middleware:
// for a request to a route of a child mounted in a parent, the order is
// the parent's Use middleware (in the order given, the first outermost),
// then the child's, then the route's own, then the handler. Use panics
// once a route or mount has been registered.
func (rt *WSRouter) Use(mws ...Middleware) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.sealed {
		panic("router: Use must be called before Handle, HandleFunc and Mount")
	}
	for _, mw := range mws {
		if mw == nil {
			panic("router: nil middleware")
		}
	}
	rt.mws = append(rt.mws, mws...)
}

// Handle registers h for pattern, with optional route middleware (applied
// inside the router's, the first outermost). Patterns are made of
// slash-separated segments: literal text, {name}, {name:int}, {name:uuid},
// {name:slug}, or a trailing {name...} that takes the rest of the path.
// When several patterns match, the most specific wins, segment by segment
// from the left (literal, then int, uuid, slug, {name}, {name...}).
// Handle panics on a malformed pattern or one that conflicts with an
// existing route.
func (rt *WSRouter) Handle(pat string, h Handler, mws ...Middleware) {
	if h == nil {
		panic("router: nil handler for " + pat)
	}
	p, err := pattern.Parse(pat)
	if err != nil {
		panic("router: " + err.Error())
	}
	endpoint := rt.endpoint(h)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, r := range rt.routes {
		if r.pat.Conflicts(p) {
			panic(fmt.Sprintf("router: pattern %q conflicts with %q", pat, r.pat.Raw))
		}
	}
	rt.sealed = true
	rt.routes = append(rt.routes, &route{pat: p, h: chain(chain(endpoint, mws), rt.mws)})
	slices.SortStableFunc(rt.routes, func(a, b *route) int {
		switch {
		case pattern.Less(a.pat, b.pat):
			return -1
		case pattern.Less(b.pat, a.pat):
			return 1
		}
		return 0
	})
}

// HandleFunc registers fn for pattern; see Handle.
func (rt *WSRouter) HandleFunc(pat string, fn func(*websocket.WebSocket) error, mws ...Middleware) {
	if fn == nil {
		panic("router: nil handler for " + pat)
	}
	rt.Handle(pat, websocket.HandlerFunc(fn), mws...)
}

// Mount serves child under prefix, a literal path such as "/api/v1". The
// prefix matches whole segments ("/api" serves "/api" and "/api/x", not
// "/apix") and is stripped once: child patterns see the rest of the path
// ("/" for the prefix itself). Routes of rt win over mounts, and longer
// prefixes over shorter ones. Mounts nest to any depth. Mount panics on a
// prefix with parameters, a prefix already mounted, or a nil child.
func (rt *WSRouter) Mount(prefix string, child *WSRouter) {
	if child == nil || child == rt {
		panic("router: Mount needs another router")
	}
	p, err := pattern.Parse(prefix)
	if err != nil {
		panic("router: " + err.Error())
	}
	if !p.IsLiteral() {
		panic(fmt.Sprintf("router: mount prefix %q must be literal", prefix))
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, m := range rt.mounts {
		if m.pat.Conflicts(p) || trimSlash(m.pat.Raw) == trimSlash(prefix) {
			panic(fmt.Sprintf("router: prefix %q is already mounted", prefix))
		}
	}
	rt.sealed = true
	rt.mounts = append(rt.mounts, &mount{pat: p, child: child, h: chain(child, rt.mws)})
	slices.SortStableFunc(rt.mounts, func(a, b *mount) int {
		return len(trimSlash(b.pat.Raw)) - len(trimSlash(a.pat.Raw))
	})
}

func trimSlash(s string) string {
	for len(s) > 1 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// endpoint is the innermost HTTP handler of a route: 426 (or the
// fallback) for plain HTTP, else the WebSocket handshake.
func (rt *WSRouter) endpoint(h Handler) http.Handler {
	ws := websocket.Handler(h.ServeWebSocket, rt.wsOpts)
	fallback := rt.fallback
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsUpgrade(r) {
			if fallback != nil {
				fallback.ServeHTTP(w, r)
			} else {
				websocket.UpgradeRequired(w)
			}
			return
		}
		ws.ServeHTTP(w, r)
	})
}

// chain wraps h in mws, the first outermost.
func chain(h http.Handler, mws []Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// mountedPath is the context value a parent leaves for the child it
// mounted: the part of the path still to route.
type mountedPath struct {
	child *WSRouter
	path  string
}

type mountedKey struct{}

// ServeHTTP routes r: a matching route gets the handshake (after its
// middleware), a matching mount passes r on to its child, anything else
// gets 404. A route's path parameters are handed to the connection with
// websocket.WithPathParams, which also sets them with r.SetPathValue.
func (rt *WSRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if mp, ok := r.Context().Value(mountedKey{}).(mountedPath); ok && mp.child == rt {
		path = mp.path
	}
	if path == "" {
		path = "/"
	}
	rt.mu.RLock()
	for _, rte := range rt.routes {
		if params, ok := rte.pat.Match(path, nil); ok {
			rt.mu.RUnlock()
			if len(params) > 0 {
				ps := make([]websocket.Param, len(params))
				for i, p := range params {
					ps[i] = websocket.Param{Name: p.Name, Value: p.Value}
				}
				r = websocket.WithPathParams(r, ps...)
			}
			rte.h.ServeHTTP(w, r)
			return
		}
	}
	for _, m := range rt.mounts {
		if rest, ok := m.pat.MatchPrefix(path); ok {
			rt.mu.RUnlock()
			ctx := context.WithValue(r.Context(), mountedKey{}, mountedPath{child: m.child, path: rest})
			m.h.ServeHTTP(w, r.WithContext(ctx))
			return
		}
	}
	rt.mu.RUnlock()
	http.NotFound(w, r)
}
