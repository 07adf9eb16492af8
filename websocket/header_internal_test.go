package websocket

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestPackHeader(t *testing.T) {
	tests := []http.Header{
		{},
		{"Host": {"127.0.0.1:8080"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}},
		{"X-Many": {"a", "", "c"}, "X-Empty": {""}, "": {"no name"}},
		{"X-None": {}},                                // a key without values stays
		{"X-Long": {strings.Repeat("v", 300)}},        // lengths past one varint byte
		{"X-Bytes": {"\x00\xff\r\n", "\x80\x80\x80"}}, // any byte
	}
	for _, h := range tests {
		got, err := unpackHeader(packHeader(h))
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Errorf("unpack(pack(%q)) = %q", h, got)
		}
	}
	// A nil header packs as an empty one.
	if got, err := unpackHeader(packHeader(nil)); err != nil || got == nil || len(got) != 0 {
		t.Errorf("unpack(pack(nil)) = %v, %v; want an empty header", got, err)
	}
	for _, bad := range []string{"\x05ab", "\x01a", "\x01a\x02\x01b", "\x01a\x01\x05b", "\xff", "\x01a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		if h, err := unpackHeader(bad); err == nil {
			t.Errorf("unpackHeader(%q) = %v, want an error", bad, h)
		}
	}
}

// FuzzPackHeader round-trips headers made of the input, and feeds the
// input to unpackHeader as it is, which must fail cleanly or give a header
// that packs back to an equal one.
func FuzzPackHeader(f *testing.F) {
	f.Add("Host\n127.0.0.1\nX\na\nX\nb", packHeader(http.Header{"A": {"1", "2"}}))
	f.Add("", "\x01a\x01\x01b")
	f.Fuzz(func(t *testing.T, lines, raw string) {
		h := http.Header{}
		parts := strings.Split(lines, "\n")
		for i := 0; i+1 < len(parts); i += 2 {
			h[parts[i]] = append(h[parts[i]], parts[i+1])
		}
		got, err := unpackHeader(packHeader(h))
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Fatalf("unpack(pack(%q)) = %q, %v", h, got, err)
		}
		u, err := unpackHeader(raw)
		if err != nil {
			return
		}
		again, err := unpackHeader(packHeader(u))
		if err != nil || !reflect.DeepEqual(again, u) {
			t.Fatalf("unpack(%q) = %q, which does not round-trip: %q, %v", raw, u, again, err)
		}
	})
}

// TestAcceptedURL: the URL an accepted connection gives back is the
// request's, whether it kept it (absolute form) or only its parts.
func TestAcceptedURL(t *testing.T) {
	for _, target := range []string{"/a?b=1&c=2", "/a%2Fb/c?x=%20", "/", "http://example.com/a?b=1"} {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		a := newAcceptedReq(r)
		kept := a.url != nil
		if want := r.URL.Scheme != ""; kept != want {
			t.Errorf("%s: kept the URL: %v, want %v", target, kept, want)
		}
		if got := a.getURL(); got.String() != r.URL.String() || *got != *r.URL {
			t.Errorf("%s: URL %q (%#v), want %q", target, got, got, r.URL)
		}
		if got, want := a.query().Encode(), r.URL.Query().Encode(); got != want {
			t.Errorf("%s: query %q, want %q", target, got, want)
		}
		if a.urlPath() != r.URL.Path {
			t.Errorf("%s: path %q, want %q", target, a.urlPath(), r.URL.Path)
		}
	}
}

// headerBytes counts a request's head as it was on the wire: request
// line, each header line (the Host header included, which net/http moves
// to r.Host), without the blank line that ends it.
func TestHeaderBytesCountsTheWire(t *testing.T) {
	t.Parallel()
	raw := "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"X-A: 1\r\nX-A: 22\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := headerBytes(r, 1<<20), len(raw)-2; got != want {
		t.Errorf("headerBytes = %d, want %d", got, want)
	}
	if got := headerBytes(r, 10); got <= 10 {
		t.Errorf("headerBytes with a limit of 10 = %d, want more than 10", got)
	}
}
