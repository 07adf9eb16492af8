package router_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// pathView is what a handler reads of its path parameters.
type pathView struct {
	Params    map[string]string `json:"params"`    // PathParams
	Param     map[string]string `json:"param"`     // PathParam of each name asked
	PathValue map[string]string `json:"pathValue"` // Request().PathValue of each name asked
}

var pathNames = []string{"tenant", "org", "room", "path", "missing"}

func lookPath(ws *websocket.WebSocket) pathView {
	v := pathView{Params: ws.PathParams(), Param: map[string]string{}, PathValue: map[string]string{}}
	for _, n := range pathNames {
		v.Param[n] = ws.PathParam(n)
		v.PathValue[n] = ws.Request().PathValue(n)
	}
	return v
}

// TestPathParamsAgree: a WSRouter's parameters, and those of the
// ServeMux pattern it is mounted under (with a method and a host), reach
// PathParam, PathParams and Request's PathValue alike, whether Request is
// first made before Accept or after.
func TestPathParamsAgree(t *testing.T) {
	t.Parallel()
	look := func(early bool) websocket.HandlerFunc {
		return func(ws *websocket.WebSocket) error {
			var before pathView
			if early {
				before = lookPath(ws)
			}
			if err := ws.Accept(ws.Context(), nil); err != nil {
				return err
			}
			return ws.SendJSON([]pathView{before, lookPath(ws)})
		}
	}
	rt := router.New()
	rt.HandleFunc("/t/{org}/rooms/{room:slug}/{path...}", look(false))
	rt.HandleFunc("/t/{org}/early/{room:slug}/{path...}", look(true))
	rt.HandleFunc("/t/{org}/plain", look(true))
	mux := http.NewServeMux()
	mux.Handle("GET 127.0.0.1/t/{tenant}/", rt)
	base := start(t, mux)

	full := map[string]string{"tenant": "acme", "org": "acme", "room": "lobby", "path": "a/b c"}
	for _, tt := range []struct {
		path  string
		early bool
		want  map[string]string
	}{
		{"/t/acme/rooms/lobby/a/b%20c", false, full},
		{"/t/acme/early/lobby/a/b%20c", true, full},
		{"/t/acme/plain", true, map[string]string{"tenant": "acme", "org": "acme"}},
	} {
		want := pathView{Params: tt.want, Param: map[string]string{}, PathValue: map[string]string{}}
		for _, n := range pathNames {
			want.Param[n], want.PathValue[n] = tt.want[n], tt.want[n]
		}
		c := dialBounded(t, wsURL(base, tt.path))
		var got []pathView
		if err := c.ReadJSON(&got); err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		c.Close()
		if len(got) != 2 || !reflect.DeepEqual(got[1], want) {
			t.Errorf("%s after Accept:\n got %+v\nwant %+v", tt.path, got, want)
		}
		if tt.early && (len(got) != 2 || !reflect.DeepEqual(got[0], want)) {
			t.Errorf("%s before Accept:\n got %+v\nwant %+v", tt.path, got, want)
		}
	}
}
