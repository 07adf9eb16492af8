package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/internal/wstest"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 5 * time.Second

// dial opens a WebSocket with a real gorilla client. It returns the HTTP
// status of a refused handshake, or the connection (status 101), whose
// reads are bounded.
func dial(t *testing.T, url string, h http.Header) (*gws.Conn, int) {
	t.Helper()
	d := gws.Dialer{HandshakeTimeout: timeout}
	c, resp, err := d.Dial(url, h)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		return nil, resp.StatusCode
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	return c, resp.StatusCode
}

// closeClean sends a close frame and waits for the server's answer, so
// that the server's handler has returned when it does.
func closeClean(t *testing.T, c *gws.Conn) {
	t.Helper()
	defer c.Close()
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), time.Now().Add(timeout))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *gws.CloseError
			if !errors.As(err, &ce) || ce.Code != gws.CloseNormalClosure {
				t.Errorf("close: got %v, want close 1000", err)
			}
			return
		}
	}
}

// httpGet returns the status and body of a plain GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// checkApp drives the example's routes at base ("http://host:port"): echo
// and a room over WebSocket, the chi JSON route, and the refusals. With
// wantReqID, the X-Request-Id sent must reach both kinds of handler
// through chi's RequestID.
func checkApp(t *testing.T, base string, wantReqID bool) {
	t.Helper()
	ws := "ws" + strings.TrimPrefix(base, "http")

	c, status := dial(t, ws+"/ws/echo", nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/ws/echo: handshake status %d", status)
	}
	for _, msg := range []struct {
		typ  int
		data string
	}{{gws.TextMessage, "hello"}, {gws.BinaryMessage, "\x00\xff"}} {
		c.WriteMessage(msg.typ, []byte(msg.data))
		typ, data, err := c.ReadMessage()
		if err != nil || typ != msg.typ || string(data) != msg.data {
			t.Errorf("/ws/echo: got %d %q %v, want %d %q", typ, data, err, msg.typ, msg.data)
		}
	}
	closeClean(t, c)

	// The room on the WSRouter, and on chi's own route.
	for _, path := range []string{"/ws/rooms/lobby", "/live/lobby"} {
		c, status = dial(t, ws+path, http.Header{"X-Request-Id": {"req-ws-1"}})
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("%s: handshake status %d", path, status)
		}
		var hello map[string]string
		if err := c.ReadJSON(&hello); err != nil || hello["room"] != "lobby" {
			t.Errorf("%s: room greeting %v %v, want room lobby from the path", path, hello, err)
		}
		if got := hello["requestId"]; wantReqID && got != "req-ws-1" || !wantReqID && got != "" {
			t.Errorf("%s: room greeting requestId %q (RequestID in the chain: %v)", path, got, wantReqID)
		}
		c.WriteMessage(gws.TextMessage, []byte("hi"))
		if _, data, err := c.ReadMessage(); err != nil || string(data) != "lobby: hi" {
			t.Errorf("%s: room echo %q %v", path, data, err)
		}
		closeClean(t, c)
	}

	status, body := httpGet(t, base+"/api/rooms/lobby")
	var info map[string]string
	if err := json.Unmarshal([]byte(body), &info); status != http.StatusOK || err != nil ||
		info["room"] != "lobby" || info["websocket"] != "/ws/rooms/lobby" {
		t.Errorf("GET /api/rooms/lobby: %d %q %v", status, body, err)
	}
	if wantReqID && info["requestId"] == "" {
		t.Errorf("GET /api/rooms/lobby: no request ID in %q", body)
	}

	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/ws/echo", http.StatusUpgradeRequired, "Upgrade Required"}, // the WSRouter's answer
		{"/ws/rooms/lobby", http.StatusUpgradeRequired, "Upgrade Required"},
		{"/ws/nope", http.StatusNotFound, "not found"}, // the WSRouter's 404
		{"/nope", http.StatusNotFound, "not found"},    // chi's 404
	}
	for _, tt := range tests {
		if status, body := httpGet(t, base+tt.path); status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, status, body, tt.status, tt.body)
		}
	}
	for _, path := range []string{"/ws/nope", "/ws/rooms/a/b", "/nope", "/live/Not_A_Room"} {
		if _, status := dial(t, ws+path, nil); status != http.StatusNotFound {
			t.Errorf("handshake to %s: status %d, want 404", path, status)
		}
	}
}

// statusLog is the kind of middleware access logs and metrics use: it
// wraps the ResponseWriter with chi's NewWrapResponseWriter and, once the
// handler returned, records what the wrapper saw. (For a hijacked
// handshake that is status 0: the 101 went out on the raw connection, not
// through WriteHeader. chi's Logger prints it as 000.)
type statusLog struct {
	mu   sync.Mutex
	seen []logEntry
}

type logEntry struct {
	path    string
	upgrade bool
	status  int
}

func (l *statusLog) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		l.mu.Lock()
		l.seen = append(l.seen, logEntry{r.URL.Path, websocket.IsUpgrade(r), ww.Status()})
		l.mu.Unlock()
	})
}

// waitFor returns the first entry for path (a handshake or not) and
// whether there is one within the timeout: the handshake's HTTP handler
// returns right after the 101, so its entry may land just after the
// client is connected.
func (l *statusLog) waitFor(path string, upgrade bool) (logEntry, bool) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		i := slices.IndexFunc(l.seen, func(e logEntry) bool { return e.path == path && e.upgrade == upgrade })
		var e logEntry
		if i >= 0 {
			e = l.seen[i]
		}
		l.mu.Unlock()
		if i >= 0 {
			return e, true
		}
	}
	return logEntry{}, false
}

func quietWSOptions() *websocket.Options {
	return &websocket.Options{Logger: slog.New(slog.DiscardHandler)}
}

func quietWSRouter() *router.WSRouter {
	return newWSRouter(&router.Options{Logger: slog.New(slog.DiscardHandler)})
}

// TestUpgradeThroughChiMiddleware mounts the WSRouter in chi behind each
// middleware alone, then behind the example's whole stack, and drives the
// routes with real clients over loopback TCP.
func TestUpgradeThroughChiMiddleware(t *testing.T) {
	t.Parallel()
	type mw = func(http.Handler) http.Handler
	tests := []struct {
		name      string
		mws       func(l *statusLog) []mw
		wantReqID bool
		wrapped   bool // l.middleware is in the chain
	}{
		{"no middleware", func(*statusLog) []mw { return nil }, false, false},
		{"RequestID", func(*statusLog) []mw { return []mw{middleware.RequestID} }, true, false},
		{"Logger", func(*statusLog) []mw { return []mw{middleware.Logger} }, false, false},
		{"Recoverer", func(*statusLog) []mw { return []mw{middleware.Recoverer} }, false, false},
		{"NewWrapResponseWriter", func(l *statusLog) []mw { return []mw{l.middleware} }, false, true},
		{"the example's stack and a wrapper", func(l *statusLog) []mw {
			return []mw{middleware.RequestID, middleware.Logger, middleware.Recoverer, l.middleware}
		}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var access statusLog
			srv := httptest.NewServer(newRouter(quietWSRouter(), quietWSOptions(), tt.mws(&access)...))
			defer srv.Close()
			if tt.wrapped {
				// The wrapping middleware sees the handshake's HTTP handler
				// return while the connection is open: the connection does
				// not hold on to the wrapped writer.
				c, status := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/echo", nil)
				if status != http.StatusSwitchingProtocols {
					t.Fatalf("handshake status %d", status)
				}
				if _, ok := access.waitFor("/ws/echo", true); !ok {
					t.Error("the wrapper did not see the handshake's handler return")
				}
				closeClean(t, c)
			}
			checkApp(t, srv.URL, tt.wantReqID)
			if !tt.wrapped {
				return
			}
			for _, want := range []logEntry{
				{"/ws/rooms/lobby", true, -1},
				{"/api/rooms/lobby", false, http.StatusOK},
				{"/ws/echo", false, http.StatusUpgradeRequired},
			} {
				e, ok := access.waitFor(want.path, want.upgrade)
				if !ok || want.status >= 0 && e.status != want.status {
					access.mu.Lock()
					t.Errorf("the wrapper did not see %+v; it saw %+v", want, access.seen)
					access.mu.Unlock()
				}
			}
		})
	}
}

// TestHandlerPanicUnderRecoverer: a WebSocket handler runs on a goroutine
// of its own, out of chi's Recoverer's reach; Switchboard recovers its
// panic, closes with 1011 and the server goes on serving.
func TestHandlerPanicUnderRecoverer(t *testing.T) {
	t.Parallel()
	wsr := quietWSRouter()
	wsr.HandleFunc("/panic", func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		panic("boom")
	})
	srv := httptest.NewServer(newRouter(wsr, quietWSOptions(), middleware.RequestID, middleware.Recoverer))
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	c, status := dial(t, base+"/ws/panic", nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d", status)
	}
	_, _, err := c.ReadMessage()
	c.Close()
	var ce *gws.CloseError
	if !errors.As(err, &ce) || ce.Code != gws.CloseInternalServerErr || ce.Text != "internal error" {
		t.Errorf("got %v, want close 1011 internal error", err)
	}
	c, status = dial(t, base+"/ws/echo", nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("after the panic: handshake status %d", status)
	}
	closeClean(t, c)
}

// TestDemo builds and starts the example as shipped (chi's RequestID,
// Logger and Recoverer) and drives it over a real socket.
func TestDemo(t *testing.T) {
	addr := wstest.StartExample(t)
	checkApp(t, "http://"+addr, true)
}

// TestPathParamsUnderChi: on chi routes, with chiPathParams, PathParam,
// PathParams and Request's PathValue give chi's parameters alike (a
// {name:regexp} and the * of a catch-all too), before and after Accept;
// without it, those of a pattern ServeMux could read still reach them.
func TestPathParamsUnderChi(t *testing.T) {
	t.Parallel()
	type view struct {
		Params    map[string]string `json:"params"`
		Param     map[string]string `json:"param"`
		PathValue map[string]string `json:"pathValue"`
	}
	names := []string{"tenant", "room", "*", "missing"}
	look := func(ws *websocket.WebSocket) view {
		v := view{Params: ws.PathParams(), Param: map[string]string{}, PathValue: map[string]string{}}
		for _, n := range names {
			v.Param[n] = ws.PathParam(n)
			v.PathValue[n] = ws.Request().PathValue(n)
		}
		return v
	}
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		before := look(ws)
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		return ws.SendJSON([]view{before, look(ws)})
	}, quietWSOptions())
	r := chi.NewRouter()
	r.With(chiPathParams).Get("/t/{tenant}/live/{room:[a-z0-9-]+}/*", h.ServeHTTP)
	r.Get("/t/{tenant}/plain/{room}", h.ServeHTTP)
	srv := httptest.NewServer(r)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	for _, tt := range []struct {
		path string
		want map[string]string
	}{
		{"/t/acme/live/lobby/a/b", map[string]string{"tenant": "acme", "room": "lobby", "*": "a/b"}},
		{"/t/acme/plain/lobby", map[string]string{"tenant": "acme", "room": "lobby"}},
	} {
		want := view{Params: tt.want, Param: map[string]string{}, PathValue: map[string]string{}}
		for _, n := range names {
			want.Param[n], want.PathValue[n] = tt.want[n], tt.want[n]
		}
		c, status := dial(t, base+tt.path, nil)
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("%s: handshake status %d", tt.path, status)
		}
		var got []view
		if err := c.ReadJSON(&got); err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		closeClean(t, c)
		for i, when := range []string{"before", "after"} {
			if len(got) != 2 || !reflect.DeepEqual(got[i], want) {
				t.Errorf("%s %s Accept:\n got %+v\nwant %+v", tt.path, when, got, want)
			}
		}
	}
}
