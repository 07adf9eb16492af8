package websocket

import (
	"context"
	"crypto/tls"
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

// otherValues is the index of http.Request's field that holds the path
// values set with SetPathValue under names that are not wildcards of the
// request's pattern (the router's, chi's), or nil when this Go's
// http.Request has no such field: then pathValues cannot list them all,
// and an accepted connection keeps a copy of the request instead.
var otherValues = func() []int {
	f, ok := reflect.TypeFor[http.Request]().FieldByName("otherValues")
	if !ok || f.Type != reflect.TypeFor[map[string]string]() {
		return nil
	}
	return f.Index
}()

// pathValues lists r's path values as name, value pairs: the wildcards of
// the ServeMux pattern that matched it, and those set with SetPathValue
// under other names. ok is false when they could not be listed.
func pathValues(r *http.Request) (pairs []string, ok bool) {
	if otherValues == nil {
		return nil, false
	}
	for p := r.Pattern; ; {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			break
		}
		name := strings.TrimSuffix(p[i+1:i+j], "...")
		p = p[i+j+1:]
		if name != "" && name != "$" {
			pairs = append(pairs, name, r.PathValue(name))
		}
	}
	// Read, never written: reflect lets a map in an unexported field be
	// read, not changed.
	m := reflect.ValueOf(r).Elem().FieldByIndex(otherValues)
	for it := m.MapRange(); it.Next(); {
		pairs = append(pairs, it.Key().String(), it.Value().String())
	}
	return pairs, true
}
