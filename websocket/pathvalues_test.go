package websocket_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboard-go/switchboard/websocket"
)

// pathView is what a handler reads of its path parameters.
type pathView struct {
	Params    map[string]string // PathParams
	Param     map[string]string // PathParam of each name asked
	PathValue map[string]string // Request().PathValue of each name asked
}

// lookPath reads ws's path parameters under names.
func lookPath(ws *websocket.WebSocket, names []string) pathView {
	v := pathView{Params: ws.PathParams(), Param: map[string]string{}, PathValue: map[string]string{}}
	for _, n := range names {
		v.Param[n] = ws.PathParam(n)
		v.PathValue[n] = ws.Request().PathValue(n)
	}
	return v
}

// servePath serves h behind a ServeMux pattern, dials path with a real
// client and returns what the handler read: before Accept (when early;
// Request is then made before Accept) and after.
func servePath(t *testing.T, pattern string, wrap func(*http.Request) *http.Request, path string, names []string, early bool) (before, after pathView) {
	t.Helper()
	type views struct {
		before, after pathView
		err           error
	}
	done := make(chan views, 1)
	ws := websocket.Handler(func(ws *websocket.WebSocket) error {
		var v views
		if early {
			v.before = lookPath(ws, names)
		}
		v.err = accept(ws)
		if v.err == nil {
			v.after = lookPath(ws, names)
		}
		done <- v
		return v.err
	}, nil)
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if wrap != nil {
			r = wrap(r)
		}
		ws.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+path, nil)
	v := <-done
	if v.err != nil {
		t.Fatal(v.err)
	}
	return v.before, v.after
}

// TestPathParamsAgree: under a ServeMux, with or without parameters
// handed over by WithPathParams, PathParam, PathParams and Request's
// PathValue give the same parameters, before and after Accept.
func TestPathParamsAgree(t *testing.T) {
	t.Parallel()
	names := []string{"room", "rest", "n", "extra", "missing"}
	handOver := func(ps ...websocket.Param) func(*http.Request) *http.Request {
		return func(r *http.Request) *http.Request { return websocket.WithPathParams(r, ps...) }
	}
	tests := []struct {
		name    string
		pattern string
		wrap    func(*http.Request) *http.Request
		path    string
		want    map[string]string
	}{
		{"mux", "/rooms/{room}", nil, "/rooms/lobby", map[string]string{"room": "lobby"}},
		{"mux method host rest", "GET 127.0.0.1/rooms/{room}/{rest...}", nil, "/rooms/lobby/a/b%20c",
			map[string]string{"room": "lobby", "rest": "a/b c"}},
		{"mux {$}", "GET /rooms/{room}/{$}", nil, "/rooms/lobby/", map[string]string{"room": "lobby"}},
		{"no params", "/plain", nil, "/plain", nil},
		{"handed over", "/rooms/", handOver(websocket.Param{Name: "room", Value: "hall"}, websocket.Param{Name: "n", Value: "7"}),
			"/rooms/x", map[string]string{"room": "hall", "n": "7"}},
		{"handed over under a mux pattern", "/rooms/{room}/{rest...}", handOver(websocket.Param{Name: "n", Value: "7"}),
			"/rooms/lobby/a", map[string]string{"room": "lobby", "rest": "a", "n": "7"}},
		{"SetPathValue alone is not a parameter", "/rooms/{room}", func(r *http.Request) *http.Request {
			r.SetPathValue("extra", "x")
			return r
		}, "/rooms/lobby", map[string]string{"room": "lobby"}},
	}
	for _, tt := range tests {
		want := pathView{Params: tt.want, Param: map[string]string{}, PathValue: map[string]string{}}
		for _, n := range names {
			want.Param[n], want.PathValue[n] = tt.want[n], tt.want[n]
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, after := servePath(t, tt.pattern, tt.wrap, tt.path, names, false); !reflect.DeepEqual(after, want) {
				t.Errorf("after Accept:\n got %+v\nwant %+v", after, want)
			}
			before, after := servePath(t, tt.pattern, tt.wrap, tt.path, names, true)
			if !reflect.DeepEqual(before, want) {
				t.Errorf("before Accept:\n got %+v\nwant %+v", before, want)
			}
			if !reflect.DeepEqual(after, want) {
				t.Errorf("after Accept, Request made before:\n got %+v\nwant %+v", after, want)
			}
		})
	}
}
