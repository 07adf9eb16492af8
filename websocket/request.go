package websocket

import (
	"context"
	"crypto/tls"
	"iter"
	"net/http"
	"net/url"
	"reflect"
	"strings"
)

// An accepted connection keeps of its handshake request only what its
// methods read, in an acceptedReq, rather than the request itself: a
// shallow copy of http.Request is 312 bytes (a 320-byte allocation), with
// net/http's header map behind it, held for the connection's whole life.
// Request rebuilds an *http.Request from it on first use.

// acceptedReq is what an accepted connection keeps of its handshake
// request. A WebSocket handshake is a GET (the upgrade refuses anything
// else) without a body.
type acceptedReq struct {
	// url is the request's URL, or nil when it held only a path and a
	// query (the usual origin form: GET /path?query) and path, rawPath
	// and rawQuery hold them, which saves a 144-byte allocation.
	url                     *url.URL
	path, rawPath, rawQuery string
	proto                   string
	host                    string
	remoteAddr              string
	requestURI              string
	pattern                 string
	tls                     *tls.ConnectionState
	header                  string   // packed (see header.go)
	pathValues              []string // name, value, name, value, …: every r.PathValue
	// full is a shallow copy of the request without its Header, kept
	// only when its path values could not be listed (see pathValues):
	// then PathParam and Request use it.
	full *http.Request
}

// newAcceptedReq takes from r what an accepted connection keeps.
func newAcceptedReq(r *http.Request) *acceptedReq {
	a := &acceptedReq{
		proto:      r.Proto,
		host:       r.Host,
		remoteAddr: r.RemoteAddr,
		requestURI: r.RequestURI,
		pattern:    r.Pattern,
		tls:        r.TLS,
		header:     packHeader(r.Header),
	}
	switch u := r.URL; {
	case u == nil: // not from net/http's server; getURL gives an empty URL
	case *u == url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}:
		a.path, a.rawPath, a.rawQuery = u.Path, u.RawPath, u.RawQuery
	default:
		a.url = u
	}
	var ok bool
	if a.pathValues, ok = pathValues(r); !ok {
		cp := *r
		cp.Header = nil
		a.full = &cp
	}
	return a
}

// getURL returns the request's URL: the one it had, or a copy.
func (a *acceptedReq) getURL() *url.URL {
	if a.url != nil {
		return a.url
	}
	return &url.URL{Path: a.path, RawPath: a.rawPath, RawQuery: a.rawQuery}
}

// query returns the request's parsed query string.
func (a *acceptedReq) query() url.Values {
	if a.url != nil {
		return a.url.Query()
	}
	v, _ := url.ParseQuery(a.rawQuery)
	return v
}

// urlPath returns the request's URL path.
func (a *acceptedReq) urlPath() string {
	if a.url != nil {
		return a.url.Path
	}
	return a.path
}

// pathValue returns the value r.PathValue(name) gave.
func (a *acceptedReq) pathValue(name string) string {
	if a.full != nil {
		return a.full.PathValue(name)
	}
	for i := 0; i+1 < len(a.pathValues); i += 2 {
		if a.pathValues[i] == name {
			return a.pathValues[i+1]
		}
	}
	return ""
}

// request rebuilds the handshake request, with ctx as its context and
// header as its Header.
func (a *acceptedReq) request(ctx context.Context, header http.Header) *http.Request {
	if a.full != nil {
		r := a.full.WithContext(ctx)
		r.Header = header
		return r
	}
	major, minor, _ := http.ParseHTTPVersion(a.proto)
	r := (&http.Request{
		Method:     http.MethodGet,
		URL:        a.getURL(),
		Proto:      a.proto,
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     header,
		Body:       http.NoBody,
		Host:       a.host,
		RemoteAddr: a.remoteAddr,
		RequestURI: a.requestURI,
		TLS:        a.tls,
		Pattern:    a.pattern,
	}).WithContext(ctx)
	for i := 0; i+1 < len(a.pathValues); i += 2 {
		r.SetPathValue(a.pathValues[i], a.pathValues[i+1])
	}
	return r
}

// requestFields locates the unexported fields of http.Request that hold
// its path values: pat, the ServeMux pattern that matched (a *pattern
// whose str is the pattern as registered; matches holds its wildcards'
// values), and otherValues, the values set with SetPathValue under other
// names (the router's, chi's). requestFieldsOK is false when this Go's
// http.Request is laid out otherwise: then pathValues cannot list the
// values, and an accepted connection keeps a copy of the request instead.
var requestFields, requestFieldsOK = func() (f struct{ pat, patStr, otherValues []int }, ok bool) {
	rt := reflect.TypeFor[http.Request]()
	pat, ok1 := rt.FieldByName("pat")
	other, ok2 := rt.FieldByName("otherValues")
	if !ok1 || !ok2 || pat.Type.Kind() != reflect.Pointer || pat.Type.Elem().Kind() != reflect.Struct ||
		other.Type != reflect.TypeFor[map[string]string]() {
		return f, false
	}
	str, ok3 := pat.Type.Elem().FieldByName("str")
	if !ok3 || str.Type.Kind() != reflect.String {
		return f, false
	}
	f.pat, f.patStr, f.otherValues = pat.Index, str.Index, other.Index
	return f, true
}()

// pathValues lists r's path values as name, value pairs: the wildcards of
// the ServeMux pattern that matched it (read from the pattern itself, as
// r.Pattern may have been changed since: chi sets its own), and those set
// with SetPathValue under other names. ok is false when they could not be
// listed. Reflect only reads r's fields; it cannot change them.
func pathValues(r *http.Request) (pairs []string, ok bool) {
	if !requestFieldsOK {
		return nil, false
	}
	f := requestFields
	v := reflect.ValueOf(r).Elem()
	if pat := v.FieldByIndex(f.pat); !pat.IsNil() {
		for name := range wildcards(pat.Elem().FieldByIndex(f.patStr).String()) {
			pairs = append(pairs, name, r.PathValue(name))
		}
	}
	for it := v.FieldByIndex(f.otherValues).MapRange(); it.Next(); {
		pairs = append(pairs, it.Key().String(), it.Value().String())
	}
	return pairs, true
}

// wildcards yields the names of the wildcards in a ServeMux pattern:
// {name} and {name...}, not {$}.
func wildcards(pattern string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for p := pattern; ; {
			i := strings.IndexByte(p, '{')
			if i < 0 {
				return
			}
			j := strings.IndexByte(p[i:], '}')
			if j < 0 {
				return
			}
			name := strings.TrimSuffix(p[i+1:i+j], "...")
			p = p[i+j+1:]
			if name != "" && name != "$" && !yield(name) {
				return
			}
		}
	}
}
