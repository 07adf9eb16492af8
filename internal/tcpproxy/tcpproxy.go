// Package tcpproxy is a TCP proxy for tests that cut a client's network
// and restore it: the Redis broker's outages, the chat page's drops.
package tcpproxy

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a server that a test can
// cut: while it is cut, the connections through it are closed and new
// ones are closed as soon as they are accepted, so that the server is
// unreachable for its clients while it keeps running for the others.
type Proxy struct {
	l      net.Listener
	target string

	mu      sync.Mutex
	cut     bool
	stalled bool       // bytes are held, connections kept
	flow    *sync.Cond // signalled when stalled or cut changes; uses mu
	conns   map[net.Conn]struct{}

	wg sync.WaitGroup
}

// Start starts a proxy to target (host:port); it stops when the test
// ends.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := New(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// New starts a proxy to target (host:port); Close stops it.
func New(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, target: target, conns: make(map[net.Conn]struct{})}
	p.flow = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Cut closes every connection through the proxy and refuses new ones
// until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.closeAllLocked()
	p.mu.Unlock()
}

// Stall stops every byte in either direction, keeping the connections
// open, as a network that drops packets silently does, until Restore (or
// Cut).
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// Restore lets connections and bytes through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut, p.stalled = false, false
	p.flow.Broadcast()
	p.mu.Unlock()
}

// flowing waits while the proxy is stalled; it reports false once cut.
func (p *Proxy) flowing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled && !p.cut {
		p.flow.Wait()
	}
	return !p.cut
}

func (p *Proxy) closeAllLocked() {
	p.flow.Broadcast()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.l.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		// Both ends are tracked before a byte goes through, so that a
		// Cut from now on closes them.
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.conns[up] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies from src to dst until either ends, then closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && (!p.flowing() || writeAll(dst, buf[:n]) != nil) {
			break
		}
		if err != nil {
			break // a broken side ends the pair
		}
	}
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
	dst.Close()
	src.Close()
}

func writeAll(dst net.Conn, b []byte) error {
	_, err := dst.Write(b)
	return err
}
