package websocket_test

// The handshake: origins, answers, subprotocols and headers, what works
// before and after Accept, and the accessors of a connection.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

func TestOrigins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []string
		origin  string
		ok      bool
	}{
		{"no origin header", nil, "", true},
		{"same origin", nil, "http://SAME", true},
		{"foreign origin refused by default", nil, "http://evil.example", false},
		{"allowed by pattern", []string{"*.example.com"}, "https://app.example.com", true},
		{"pattern does not match", []string{"*.example.com"}, "https://example.org", false},
		{"scheme pattern", []string{"https://*.example.com"}, "http://app.example.com", false},
		{"wildcard", []string{"*"}, "https://anything.test", true},
		{"garbage origin", nil, "::::", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, _ := server(t, &websocket.Options{AllowedOrigins: tt.allowed}, func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					return err
				}
				return ws.SendText("in")
			})
			h := http.Header{}
			origin := tt.origin
			if origin == "http://SAME" {
				origin = "http://" + strings.TrimPrefix(url, "ws://")
			}
			if origin != "" {
				h.Set("Origin", origin)
			}
			c, resp, err := gws.DefaultDialer.Dial(url, h)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("accepted a foreign origin")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("got %v, want 403", resp)
			}
		})
	}
}

func TestHandshakeAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fn     websocket.HandlerFunc
		status int
		body   string
	}{
		{"reject", func(ws *websocket.WebSocket) error { return ws.Reject(401, "who are you") }, 401, "who are you"},
		{"close before accept", func(ws *websocket.WebSocket) error { return ws.Close(1000, "") }, 403, "Forbidden"},
		{"return without accept", func(*websocket.WebSocket) error { return nil }, 403, "Forbidden"},
		{"error before accept", func(*websocket.WebSocket) error { return errors.New("boom") }, 500, "Internal Server Error"},
		{"panic before accept", func(*websocket.WebSocket) error { panic("boom") }, 500, "Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, done := server(t, &websocket.Options{Logger: discardLogger()}, tt.fn)
			_, resp, err := gws.DefaultDialer.Dial(url, nil)
			if err == nil || resp == nil {
				t.Fatalf("dial: %v, want HTTP %d", err, tt.status)
			}
			body := make([]byte, 100)
			n, _ := resp.Body.Read(body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body[:n]), tt.body) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body[:n], tt.status, tt.body)
			}
			if tt.name != "panic before accept" {
				wait(t, done)
			}
		})
	}
}

func TestRejectAndAcceptAfterAnswer(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 4)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		errs <- ws.Accept(context.Background(), nil)
		errs <- ws.Reject(400, "late")
		return nil
	})
	c := dial(t, url, nil)
	for range 2 {
		if err := <-errs; !errors.Is(err, websocket.ErrAlreadyAccepted) {
			t.Errorf("got %v, want ErrAlreadyAccepted", err)
		}
	}
	readClose(t, c)
	wait(t, done)
}

func TestSendAndReceiveBeforeAccept(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := ws.SendText("early"); !errors.Is(err, websocket.ErrNotAccepted) {
			return fmt.Errorf("send: %v", err)
		}
		if _, err := ws.ReceiveText(context.Background()); !errors.Is(err, websocket.ErrNotAccepted) {
			return fmt.Errorf("receive: %v", err)
		}
		if ws.State() != websocket.StateConnecting {
			return fmt.Errorf("state %v", ws.State())
		}
		return ws.Reject(409, "no")
	})
	gws.DefaultDialer.Dial(url, nil)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

func TestSubprotocolAndResponseHeaders(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		err := ws.Accept(context.Background(), &websocket.AcceptOptions{
			Subprotocols: []string{"switchboard.v1.msgpack", "switchboard.v1.json"},
			Header:       http.Header{"X-Served-By": {"switchboard"}},
		})
		if err != nil {
			return err
		}
		return ws.SendText(ws.Subprotocol())
	})
	d := gws.Dialer{Subprotocols: []string{"switchboard.v1.json", "switchboard.v1.msgpack"}}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.Header.Get("X-Served-By") != "switchboard" {
		t.Error("extra header missing")
	}
	if c.Subprotocol() != "switchboard.v1.msgpack" {
		t.Errorf("client got subprotocol %q (server preference should win)", c.Subprotocol())
	}
	if _, data, _ := c.ReadMessage(); string(data) != "switchboard.v1.msgpack" {
		t.Errorf("server's Subprotocol() = %q", data)
	}
	wait(t, done)
}

// TestHeaderAfterAccept: an accepted connection keeps its headers packed;
// Header and Request().Header still give every value, the same map each
// time, from any goroutine.
func TestHeaderAfterAccept(t *testing.T) {
	t.Parallel()
	sent := http.Header{"X-Token": {"t0k"}, "X-Many": {"a", "", "c"}, "Cookie": {"k=v; other=w"}}
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		before := ws.Header().Clone()
		if err := accept(ws); err != nil {
			return err
		}
		var wg sync.WaitGroup
		hs := make([]http.Header, 8)
		for i := range hs {
			wg.Go(func() { hs[i] = ws.Header() })
		}
		wg.Wait()
		for _, h := range hs[1:] {
			if reflect.ValueOf(h).UnsafePointer() != reflect.ValueOf(hs[0]).UnsafePointer() {
				return errors.New("Header gave different maps")
			}
		}
		after := hs[0]
		if !reflect.DeepEqual(after, before) {
			return fmt.Errorf("Header after Accept = %q, before = %q", after, before)
		}
		for k, v := range sent {
			if !reflect.DeepEqual(after[k], v) {
				return fmt.Errorf("Header()[%q] = %q, want %q", k, after[k], v)
			}
		}
		if r := ws.Request(); !reflect.DeepEqual(r.Header, after) || r.Header.Get("X-Token") != "t0k" {
			return fmt.Errorf("Request().Header = %q", r.Header)
		}
		if ws.Query().Get("q") != "1" || ws.Client().Port() == 0 {
			return errors.New("query or client lost with the headers")
		}
		return nil
	})
	c := dial(t, url+"?q=1", sent)
	defer c.Close()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestNotAnUpgradeGets426(t *testing.T) {
	t.Parallel()
	url, _ := server(t, nil, func(ws *websocket.WebSocket) error { return nil })
	resp, err := http.Get("http" + strings.TrimPrefix(url, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
		t.Errorf("got %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

// TestRequestAfterAccept: what the handler reads of the handshake request
// (path values of every kind, the rebuilt Request's fields) is the same
// after Accept, when the connection keeps only part of the request, as
// before.
func TestRequestAfterAccept(t *testing.T) {
	t.Parallel()
	type view struct {
		Room, Rest, Extra, Missing string
		Query, Client, Method      string
		URL, Proto, Host, URI      string
		Pattern, PathValues        string
		Major, Minor               int
		TLS                        bool
	}
	look := func(ws *websocket.WebSocket) view {
		r := ws.Request()
		return view{
			Room: ws.PathParam("room"), Rest: ws.PathParam("rest"), Extra: ws.PathParam("extra"), Missing: ws.PathParam("missing"),
			Query: ws.Query().Get("q"), Client: ws.Client().String(), Method: r.Method,
			URL: r.URL.String(), Proto: r.Proto, Host: r.Host, URI: r.RequestURI,
			Pattern:    r.Pattern,
			PathValues: r.PathValue("room") + "|" + r.PathValue("rest") + "|" + r.PathValue("extra"),
			Major:      r.ProtoMajor, Minor: r.ProtoMinor, TLS: r.TLS != nil,
		}
	}
	done := make(chan error, 1)
	ws := websocket.Handler(func(ws *websocket.WebSocket) error {
		err := func() error {
			// Not read before Accept: Request would keep that copy.
			before := ws.PathParam("room") + ws.PathParam("rest") + ws.PathParam("extra") + ws.Query().Get("q") + ws.Client().String()
			if err := accept(ws); err != nil {
				return err
			}
			got := look(ws)
			want := view{
				Room: "lobby", Rest: "a/b", Extra: "set by middleware", Query: "1",
				Client: got.Client, Method: http.MethodGet,
				URL: "/rooms/lobby/a/b?q=1", Proto: "HTTP/1.1", Host: got.Host, URI: "/rooms/lobby/a/b?q=1",
				Pattern:    "GET /rooms/{room}/{rest...}",
				PathValues: "lobby|a/b|set by middleware",
				Major:      1, Minor: 1,
			}
			if got.Client == "" || got.Client == "invalid AddrPort" || !strings.HasPrefix(got.Host, "127.0.0.1:") {
				return fmt.Errorf("client %q, host %q", got.Client, got.Host)
			}
			if got != want {
				return fmt.Errorf("after Accept:\n got %+v\nwant %+v", got, want)
			}
			if after := got.Room + got.Rest + got.Extra + got.Query + got.Client; after != before {
				return fmt.Errorf("after Accept %q, before %q", after, before)
			}
			if ws.Request() != ws.Request() {
				return errors.New("Request gave two requests")
			}
			return nil
		}()
		done <- err
		return err
	}, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /rooms/{room}/{rest...}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As a router hands over its own route's parameters.
		ws.ServeHTTP(w, websocket.WithPathParams(r, websocket.Param{Name: "extra", Value: "set by middleware"}))
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/rooms/lobby/a/b?q=1", nil)
	defer c.Close()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	type info struct {
		id, client, header, query, state string
		stored                           any
	}
	infos := make(chan info, 2)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		before := ws.State().String()
		if err := accept(ws); err != nil {
			return err
		}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ws.Set(fmt.Sprint(i), i)
				ws.Get(fmt.Sprint(i))
			}()
		}
		wg.Wait()
		ws.Set("user", "ada")
		ws.Delete("3")
		_, has3 := ws.Get("3")
		v, _ := ws.Get("user")
		if has3 {
			v = "delete failed"
		}
		if ws.Request().Context() != ws.Context() {
			return errors.New("Request().Context() is not Context()")
		}
		infos <- info{ws.ID(), ws.Client().Addr().String(), ws.Header().Get("X-Token"), ws.Query().Get("q"), before + ">" + ws.State().String(), v}
		_, _, err := ws.Receive(context.Background())
		if ws.Context().Err() == nil {
			return errors.New("context not cancelled at disconnect")
		}
		return err
	})
	for range 2 {
		c := dial(t, url+"?q=42", http.Header{"X-Token": {"t0k"}})
		c.Close()
	}
	a, b := <-infos, <-infos
	if a.id == b.id || len(a.id) != 26 {
		t.Errorf("ids %q and %q", a.id, b.id)
	}
	if a.client != "127.0.0.1" || a.header != "t0k" || a.query != "42" || a.state != "connecting>connected" || a.stored != "ada" {
		t.Errorf("got %+v", a)
	}
	wait(t, done)
	wait(t, done)
}
