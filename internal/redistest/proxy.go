package redistest

import (
	"testing"

	"github.com/switchboard-go/switchboard/internal/tcpproxy"
)

// Proxy is a tcpproxy.Proxy in front of a Server: while it is cut, the
// server is unreachable for the clients that go through it while it keeps
// running for the others.
type Proxy struct {
	*tcpproxy.Proxy
}

// Proxy starts a proxy to the server; it stops when the test ends.
func (s *Server) Proxy(tb testing.TB) *Proxy {
	tb.Helper()
	return &Proxy{tcpproxy.Start(tb, s.Addr())}
}

// URL is the proxy's redis:// URL.
func (p *Proxy) URL() string { return "redis://" + p.Addr() }
