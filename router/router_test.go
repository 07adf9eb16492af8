package router_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func wsURL(base, path string) string { return "ws" + strings.TrimPrefix(base, "http") + path }

// reply accepts, sends the path parameters as JSON and closes.
func reply(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	params := ws.PathParams()
	fromRequest := map[string]string{}
	for name := range params {
		fromRequest[name] = ws.Request().PathValue(name)
	}
	return ws.SendJSON(map[string]any{"path": ws.Request().URL.Path, "params": params, "pathValue": fromRequest})
}

type replyMsg struct {
	Path      string            `json:"path"`
	Params    map[string]string `json:"params"`
	PathValue map[string]string `json:"pathValue"`
}

// get dials path and returns the handler's reply, or the HTTP status of a
// refused handshake.
func get(t *testing.T, base, path string) (replyMsg, int) {
	t.Helper()
	c, resp, err := gws.DefaultDialer.Dial(wsURL(base, path), nil)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		return replyMsg{}, resp.StatusCode
	}
	defer c.Close()
	var m replyMsg
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m, 101
}

func TestTypedParams(t *testing.T) {
	t.Parallel()
	rt := router.New()
	rt.HandleFunc("/users/{id:int}", reply)
	rt.HandleFunc("/users/me", reply)
	rt.HandleFunc("/users/{name}", reply)
	rt.HandleFunc("/sessions/{sid:uuid}", reply)
	rt.HandleFunc("/posts/{s:slug}/{n:int}", reply)
	rt.HandleFunc("/files/{path...}", reply)
	base := start(t, rt)
	tests := []struct {
		path   string
		status int
		params map[string]string
	}{
		{"/users/42", 101, map[string]string{"id": "42"}},
		{"/users/me", 101, map[string]string{}},
		{"/users/ada", 101, map[string]string{"name": "ada"}},
		{"/sessions/123e4567-e89b-12d3-a456-426614174000", 101, map[string]string{"sid": "123e4567-e89b-12d3-a456-426614174000"}},
		{"/sessions/not-a-uuid", 404, nil},
		{"/posts/hello-world/7", 101, map[string]string{"s": "hello-world", "n": "7"}},
		{"/posts/hello-world/seven", 404, nil},
		{"/files/a/b%20c.txt", 101, map[string]string{"path": "a/b c.txt"}},
	}
	for _, tt := range tests {
		m, status := get(t, base, tt.path)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d", tt.path, status, tt.status)
			continue
		}
		if status != 101 {
			continue
		}
		if fmt.Sprint(m.Params) != fmt.Sprint(tt.params) || fmt.Sprint(m.PathValue) != fmt.Sprint(tt.params) {
			t.Errorf("%s: params %v, PathValue %v, want %v", tt.path, m.Params, m.PathValue, tt.params)
		}
	}
}

func TestMountThreeLevelsAndBoundaries(t *testing.T) {
	t.Parallel()
	leaf := router.New()
	leaf.HandleFunc("/rooms/{room}", reply)
	leaf.HandleFunc("/", reply)
	mid := router.New()
	mid.Mount("/v1", leaf)
	top := router.New()
	top.Mount("/api", mid)
	top.HandleFunc("/apix", reply)
	base := start(t, top)

	tests := []struct {
		path   string
		status int
		room   string
	}{
		{"/api/v1/rooms/lobby", 101, "lobby"},
		{"/api/v1", 101, ""},
		{"/api/v1/", 101, ""},
		{"/apix", 101, ""},            // a route of its own, not the /api mount
		{"/apix/v1/rooms/a", 404, ""}, // /api does not catch /apix
		{"/api/v2/rooms/a", 404, ""},
		{"/api/v1x/rooms/a", 404, ""},
		{"/nothing", 404, ""},
	}
	for _, tt := range tests {
		m, status := get(t, base, tt.path)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d", tt.path, status, tt.status)
			continue
		}
		if status == 101 {
			if m.Path != tt.path {
				t.Errorf("%s: handler saw URL path %q (the request URL must stay whole)", tt.path, m.Path)
			}
			if m.Params["room"] != tt.room {
				t.Errorf("%s: room %q, want %q", tt.path, m.Params["room"], tt.room)
			}
		}
	}
}

func TestNotFoundAndUpgradeRequired(t *testing.T) {
	t.Parallel()
	rt := router.New()
	rt.HandleFunc("/ws", reply)
	fb := router.NewWithOptions(&router.Options{Fallback: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a page")
	})})
	fb.HandleFunc("/ws", reply)
	mux := http.NewServeMux()
	mux.Handle("/plain/", http.StripPrefix("/plain", rt))
	mux.Handle("/fb/", http.StripPrefix("/fb", fb))
	base := start(t, mux)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/plain/ws", 426, "Upgrade Required"},
		{"/plain/nope", 404, "not found"},
		{"/fb/ws", 200, "a page"},
		{"/fb/nope", 404, "not found"},
	}
	for _, tt := range tests {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
			t.Errorf("%s: %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
		if tt.status == 426 && resp.Header.Get("Upgrade") != "websocket" {
			t.Errorf("%s: no Upgrade header", tt.path)
		}
	}
	// A WebSocket handshake to an unknown path is refused before upgrading.
	if _, status := get(t, base, "/plain/nope"); status != 404 {
		t.Errorf("unknown path handshake got %d", status)
	}
	// Mounted in ServeMux, the router still routes.
	if _, status := get(t, base, "/plain/ws"); status != 101 {
		t.Errorf("/plain/ws handshake got %d", status)
	}
}

func TestMiddlewareOrderAndRejection(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var trace []string
	mark := func(name string) router.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				trace = append(trace, name)
				mu.Unlock()
				next.ServeHTTP(w, r)
			})
		}
	}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("token") != "ok" {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	var handled sync.WaitGroup
	child := router.New()
	child.Use(mark("child1"), mark("child2"))
	child.HandleFunc("/x/{id:int}", func(ws *websocket.WebSocket) error {
		defer handled.Done()
		mu.Lock()
		trace = append(trace, "handler:"+ws.PathParam("id"))
		mu.Unlock()
		return reply(ws)
	}, mark("route1"), auth, mark("route2"))
	parent := router.New()
	parent.Use(mark("parent1"), mark("parent2"))
	parent.Mount("/c", child)
	base := start(t, parent)

	if _, status := get(t, base, "/c/x/1"); status != 401 {
		t.Fatalf("no token: status %d, want 401", status)
	}
	handled.Add(1)
	if _, status := get(t, base, "/c/x/2?token=ok"); status != 101 {
		t.Fatalf("with token: status %d", status)
	}
	handled.Wait()
	mu.Lock()
	got := strings.Join(trace, ",")
	mu.Unlock()
	want := "parent1,parent2,child1,child2,route1," + // refused by auth: no handler
		"parent1,parent2,child1,child2,route1,route2,handler:2"
	if got != want {
		t.Errorf("order\n got %s\nwant %s", got, want)
	}
}

func TestHandlerErrorsCloseAndLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	rt := router.NewWithOptions(&router.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rt.HandleFunc("/panic", func(ws *websocket.WebSocket) error {
		ws.Accept(ws.Context(), nil)
		var m map[string]int
		m["boom"]++ // nil map write: a real panic
		return nil
	})
	rt.HandleFunc("/error", func(ws *websocket.WebSocket) error {
		ws.Accept(ws.Context(), nil)
		return errors.New("database unreachable")
	})
	rt.HandleFunc("/coded", func(ws *websocket.WebSocket) error {
		ws.Accept(ws.Context(), nil)
		return websocket.NewCloseError(websocket.StatusTryAgainLater, "busy")
	})
	base := start(t, rt)
	tests := []struct {
		path, reason string
		code         int
	}{
		{"/panic", "internal error", 1011},
		{"/error", "internal error", 1011},
		{"/coded", "busy", 1013},
	}
	for _, tt := range tests {
		c, _, err := gws.DefaultDialer.Dial(wsURL(base, tt.path), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err = c.ReadMessage()
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != tt.code || ce.Text != tt.reason {
			t.Errorf("%s: got %v, want close %d %q", tt.path, err, tt.code, tt.reason)
		}
		c.Close()
	}
	// The server is still alive after the panic, and both failures are logged.
	if _, status := get(t, base, "/nope"); status != 404 {
		t.Error("server not answering after a handler panic")
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (!logs.contains("database unreachable") || !logs.contains("assignment to entry in nil map")) {
		time.Sleep(10 * time.Millisecond)
	}
	if !logs.contains("database unreachable") || !logs.contains("assignment to entry in nil map") {
		t.Errorf("logs missing the handler failures:\n%s", logs.String())
	}
	// A close the handler asked for is not a failure: no Error line (1013
	// is a warning, per websocket.Ending).
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "busy") && !strings.Contains(line, "level=WARN") {
			t.Errorf("a CloseError with 1013 logged as %q, want a warning at most", line)
		}
	}
}

func TestRegistrationPanics(t *testing.T) {
	t.Parallel()
	h := func(*websocket.WebSocket) error { return nil }
	tests := []struct {
		name string
		fn   func()
		msg  string
	}{
		{"bad pattern", func() { router.New().HandleFunc("rooms", h) }, "must start with '/'"},
		{"unknown type", func() { router.New().HandleFunc("/r/{id:float}", h) }, "unknown parameter type"},
		{"conflict", func() {
			rt := router.New()
			rt.HandleFunc("/r/{a}", h)
			rt.HandleFunc("/r/{b}", h)
		}, "conflicts with"},
		{"nil handler", func() { router.New().Handle("/x", nil) }, "nil handler"},
		{"use after handle", func() {
			rt := router.New()
			rt.HandleFunc("/x", h)
			rt.Use(func(n http.Handler) http.Handler { return n })
		}, "before Handle"},
		{"mount with params", func() { router.New().Mount("/{x}", router.New()) }, "must be literal"},
		{"mount twice", func() {
			rt := router.New()
			rt.Mount("/a", router.New())
			rt.Mount("/a/", router.New())
		}, "already mounted"},
		{"mount self", func() {
			rt := router.New()
			rt.Mount("/a", rt)
		}, "another router"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				p := recover()
				msg, _ := p.(string)
				if !strings.HasPrefix(msg, "router: ") || !strings.Contains(msg, tt.msg) {
					t.Errorf("panic %v, want router: ...%s", p, tt.msg)
				}
			}()
			tt.fn()
		})
	}
}

func TestConnectionOptionsApply(t *testing.T) {
	t.Parallel()
	rt := router.NewWithOptions(&router.Options{WebSocket: &websocket.Options{ReadLimit: 10}})
	done := make(chan error, 1)
	rt.HandleFunc("/ws", func(ws *websocket.WebSocket) error {
		ws.Accept(context.Background(), nil)
		_, err := ws.ReceiveText(context.Background())
		done <- err
		return err
	})
	base := start(t, rt)
	c, _, err := gws.DefaultDialer.Dial(wsURL(base, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(gws.TextMessage, []byte("more than ten bytes"))
	if code := websocket.CloseStatus(<-done); code != websocket.StatusMessageTooBig {
		t.Errorf("got %v, want 1009 from the router's ReadLimit", code)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }

// statusRecorder wraps the ResponseWriter the way logging middleware does
// (chi's WrapResponseWriter, for one): it hides Hijack but offers Unwrap.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// opaqueWriter hides everything: no Hijack, no Unwrap.
type opaqueWriter struct{ w http.ResponseWriter }

func (o opaqueWriter) Header() http.Header         { return o.w.Header() }
func (o opaqueWriter) Write(b []byte) (int, error) { return o.w.Write(b) }
func (o opaqueWriter) WriteHeader(code int)        { o.w.WriteHeader(code) }

func TestUpgradeThroughWrappingMiddleware(t *testing.T) {
	t.Parallel()
	rt := router.NewWithOptions(&router.Options{Logger: slog.New(slog.DiscardHandler)})
	rt.HandleFunc("/wrapped", reply, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
		})
	})
	rt.HandleFunc("/opaque", reply, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(opaqueWriter{w}, r)
		})
	})
	base := start(t, rt)
	if m, status := get(t, base, "/wrapped"); status != 101 || m.Path != "/wrapped" {
		t.Errorf("through an Unwrap-ing middleware: status %d", status)
	}
	if _, status := get(t, base, "/opaque"); status != http.StatusInternalServerError {
		t.Errorf("through a writer that cannot hijack: status %d, want 500", status)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	users := make(chan string, 1)
	rt := router.New()
	rt.Use(router.Authenticate(func(r *http.Request) (string, error) {
		tok := r.URL.Query().Get("token")
		if tok == "" {
			tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if !strings.HasPrefix(tok, "tok-") {
			return "", errors.New("bad token")
		}
		return strings.TrimPrefix(tok, "tok-"), nil
	}))
	rt.HandleFunc("/ws", func(ws *websocket.WebSocket) error {
		users <- ws.User()
		return reply(ws)
	})
	base := start(t, rt)
	if _, status := get(t, base, "/ws?token=nope"); status != http.StatusUnauthorized {
		t.Errorf("bad token: %d, want 401", status)
	}
	if _, status := get(t, base, "/ws?token=tok-ada"); status != 101 {
		t.Fatalf("good token: %d", status)
	}
	if u := <-users; u != "ada" {
		t.Errorf("ws.User() = %q", u)
	}
	c, _, err := gws.DefaultDialer.Dial(wsURL(base, "/ws"), http.Header{"Authorization": {"Bearer tok-bob"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if u := <-users; u != "bob" {
		t.Errorf("ws.User() from a header = %q", u)
	}
}
