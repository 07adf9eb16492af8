package websocket

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
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
	pathValues              []string // name, value, name, value, … (see pathvalues.go); nil when none
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
	a.pathValues = pathValues(r)
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

// pathValue returns the value of the named path parameter, or "".
func (a *acceptedReq) pathValue(name string) string {
	return lookup(a.pathValues, name)
}

// request rebuilds the handshake request, with ctx as its context and
// header as its Header.
func (a *acceptedReq) request(ctx context.Context, header http.Header) *http.Request {
	return handshakeRequest(ctx, &http.Request{
		Method:     http.MethodGet,
		URL:        a.getURL(),
		Proto:      a.proto,
		Header:     header,
		Host:       a.host,
		RemoteAddr: a.remoteAddr,
		RequestURI: a.requestURI,
		TLS:        a.tls,
		Pattern:    a.pattern,
	}, a.pathValues)
}

// handshakeRequest returns a request with r's method, URL, protocol,
// header, host, addresses, RequestURI, TLS state and pattern, ctx as its
// context, no body, and pairs (name, value, …) as its path values: what
// Request gives both before and after Accept.
func handshakeRequest(ctx context.Context, r *http.Request, pairs []string) *http.Request {
	major, minor, _ := http.ParseHTTPVersion(r.Proto)
	nr := (&http.Request{
		Method:     r.Method,
		URL:        r.URL,
		Proto:      r.Proto,
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     r.Header,
		Body:       http.NoBody,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		RequestURI: r.RequestURI,
		TLS:        r.TLS,
		Pattern:    r.Pattern,
	}).WithContext(ctx)
	for i := 0; i+1 < len(pairs); i += 2 {
		nr.SetPathValue(pairs[i], pairs[i+1])
	}
	return nr
}
