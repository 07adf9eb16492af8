package websocket

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestPathValues: the path parameters of a request are the wildcards of
// its Pattern and those handed over with WithPathParams, the latter
// winning; an accepted connection keeps the same, and pathValue agrees
// with pathValues for every name.
func TestPathValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pattern string // registered in a ServeMux, "" for none
		path    string
		wrap    func(r *http.Request) *http.Request
		want    map[string]string
	}{
		{name: "none", path: "/x", want: nil},
		{name: "mux", pattern: "/rooms/{room}", path: "/rooms/lobby",
			want: map[string]string{"room": "lobby"}},
		{name: "mux method host rest", pattern: "GET example.com/t/{tenant}/ws/{rest...}", path: "http://example.com/t/acme/ws/a/b",
			want: map[string]string{"tenant": "acme", "rest": "a/b"}},
		{name: "mux {$}", pattern: "/rooms/{room}/{$}", path: "/rooms/lobby/",
			want: map[string]string{"room": "lobby"}},
		{name: "handed over", path: "/rooms/lobby",
			wrap: func(r *http.Request) *http.Request {
				return WithPathParams(r, Param{"room", "lobby"}, Param{"n", "7"})
			},
			want: map[string]string{"room": "lobby", "n": "7"}},
		{name: "handed over twice", pattern: "/t/{tenant}/", path: "/t/acme/rooms/lobby",
			wrap: func(r *http.Request) *http.Request {
				r = WithPathParams(r, Param{"room", "hall"}, Param{"tenant", "other"})
				return WithPathParams(r, Param{"room", "lobby"})
			},
			want: map[string]string{"tenant": "other", "room": "lobby"}},
		{name: "SetPathValue alone is not listed", pattern: "/rooms/{room}", path: "/rooms/lobby",
			wrap: func(r *http.Request) *http.Request {
				r.SetPathValue("extra", "x")
				return r
			},
			want: map[string]string{"room": "lobby"}},
		{name: "Pattern changed", pattern: "/a/{x}", path: "/a/1",
			wrap: func(r *http.Request) *http.Request {
				r.Pattern = "/b/{y}" // as chi does, with its own values
				r.SetPathValue("y", "2")
				return r
			},
			want: map[string]string{"y": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r *http.Request
			h := func(w http.ResponseWriter, req *http.Request) { r = req }
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.pattern != "" {
				mux := http.NewServeMux()
				mux.HandleFunc(tt.pattern, h)
				mux.ServeHTTP(httptest.NewRecorder(), req)
			} else {
				h(nil, req)
			}
			if r == nil {
				t.Fatal("the pattern did not match")
			}
			if tt.wrap != nil {
				r = tt.wrap(r)
			}
			pairs := pathValues(r)
			got := map[string]string(nil)
			for i := 0; i+1 < len(pairs); i += 2 {
				if got == nil {
					got = map[string]string{}
				}
				if _, dup := got[pairs[i]]; dup {
					t.Errorf("%q listed twice in %q", pairs[i], pairs)
				}
				got[pairs[i]] = pairs[i+1]
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pathValues = %q, want %v", pairs, tt.want)
			}
			a := newAcceptedReq(r)
			rebuilt := a.request(r.Context(), nil)
			for _, name := range []string{"room", "n", "tenant", "rest", "x", "y", "extra", "missing"} {
				want := tt.want[name]
				if v := pathValue(r, name); v != want {
					t.Errorf("pathValue(%q) = %q, want %q", name, v, want)
				}
				if v := a.pathValue(name); v != want {
					t.Errorf("accepted pathValue(%q) = %q, want %q", name, v, want)
				}
				if v := rebuilt.PathValue(name); v != want {
					t.Errorf("rebuilt request's PathValue(%q) = %q, want %q", name, v, want)
				}
			}
		})
	}
}

// TestPathValuesAllocs: a request without path parameters costs nothing
// to list, and looking one up never allocates.
func TestPathValuesAllocs(t *testing.T) {
	plain := httptest.NewRequest(http.MethodGet, "/x", nil)
	plain.Pattern = "GET /x"
	var matched *http.Request
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rooms/{room}", func(w http.ResponseWriter, r *http.Request) { matched = r })
	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/rooms/lobby", nil))
	routed := WithPathParams(matched, Param{"n", "7"})
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"pathValues without params", func() { _ = pathValues(plain) }},
		{"pathValue without params", func() { _ = pathValue(plain, "room") }},
		{"pathValue from the pattern", func() { _ = pathValue(routed, "room") }},
		{"pathValue handed over", func() { _ = pathValue(routed, "n") }},
	} {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations", tt.name, n)
		}
	}
}
