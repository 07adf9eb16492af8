package websocket

import (
	"context"
	"net/http"

	"github.com/switchboard-go/switchboard/internal/pathparam"
)

// A connection's path parameters come from two places, both explicit:
//
//   - the wildcards of the pattern in the request's Pattern field, each
//     read with PathValue: what net/http's ServeMux matched (or a router
//     that sets Pattern and path values as ServeMux does);
//   - the parameters a router handed over with WithPathParams: the
//     router package's WSRouter does, and an adapter of a few lines does
//     for any other router (see examples/chi).
//
// Where both name a parameter, WithPathParams wins, and a later call of
// it wins over an earlier one. PathParam, PathParams and Request's
// PathValue give these and only these, before and after Accept. An
// accepted connection keeps them as name, value pairs (nil when there are
// none), which is all it keeps of them.

// Param is a path parameter: a name and the value a router matched.
type Param struct {
	Name  string
	Value string
}

type paramsKey struct{}

// WithPathParams returns r with params added to the path parameters a
// WebSocket connection reports (PathParam, PathParams, Request), for a
// router that matched them. It carries them in r's context, so r must be
// the request the router passes on, and sets each with SetPathValue, so
// that the returned request's PathValue gives them too. A parameter
// already set under the same name, by a ServeMux pattern or an earlier
// call, is replaced. With no params, it returns r.
func WithPathParams(r *http.Request, params ...Param) *http.Request {
	if len(params) == 0 {
		return r
	}
	prev := paramsFrom(r.Context())
	all := make([]Param, 0, len(prev)+len(params))
	all = append(append(all, prev...), params...)
	r = r.WithContext(context.WithValue(r.Context(), paramsKey{}, all))
	for _, p := range params {
		r.SetPathValue(p.Name, p.Value)
	}
	return r
}

// paramsFrom returns the params that WithPathParams put in ctx, in the
// order given.
func paramsFrom(ctx context.Context) []Param {
	ps, _ := ctx.Value(paramsKey{}).([]Param)
	return ps
}

// pathValues lists r's path parameters as name, value pairs, each name
// once; nil when there are none.
func pathValues(r *http.Request) []string {
	ps := paramsFrom(r.Context())
	n := len(ps)
	for range pathparam.Wildcards(r.Pattern) {
		n++
	}
	if n == 0 {
		return nil
	}
	pairs := make([]string, 0, 2*n)
	for name := range pathparam.Wildcards(r.Pattern) {
		pairs = setPair(pairs, name, r.PathValue(name))
	}
	for _, p := range ps {
		pairs = setPair(pairs, p.Name, p.Value)
	}
	return pairs
}

// setPair sets name's value in pairs, or appends it.
func setPair(pairs []string, name, value string) []string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == name {
			pairs[i+1] = value
			return pairs
		}
	}
	return append(pairs, name, value)
}

// pathValue returns what pathValues(r) lists for name, or "", without
// allocating.
func pathValue(r *http.Request, name string) string {
	ps := paramsFrom(r.Context())
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].Name == name {
			return ps[i].Value
		}
	}
	for w := range pathparam.Wildcards(r.Pattern) {
		if w == name {
			return r.PathValue(name)
		}
	}
	return ""
}

// lookup returns name's value in pairs, or "".
func lookup(pairs []string, name string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == name {
			return pairs[i+1]
		}
	}
	return ""
}
