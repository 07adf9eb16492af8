package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"
)

// Client timing.
const (
	minStay      = 500 * time.Millisecond
	maxStay      = 5 * time.Second
	closeTimeout = 5 * time.Second // for the server's answer to a close frame
)

// counters are the soak's running totals.
type counters struct {
	connects   atomic.Int64 // client handshakes that succeeded
	received   atomic.Int64 // messages the clients read
	broadcasts atomic.Int64 // GroupSend calls
	userSends  atomic.Int64 // SendToUser calls
}

// crowd is the client side: one goroutine per client, each connecting,
// staying, leaving and reconnecting until the context ends.
type crowd struct {
	wg sync.WaitGroup
}

// users returns how many users the clients are: two clients per user, so
// that SendToUser reaches a user's every device.
func users(clients int) int { return max(clients/2, 1) }

func userName(i int) string { return "u" + strconv.Itoa(i) }

// startClients starts n clients of the server at url. They stop, closing
// their connections cleanly, when ctx ends; wait waits for them.
func startClients(ctx context.Context, url string, n int, c *counters, errs *errorCounts) *crowd {
	var nd net.Dialer
	d := &gws.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  256,
		// Mark the TCP connection made, so that a failed dial tells a
		// connect that failed from a handshake that did.
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := nd.DialContext(ctx, network, addr)
			if p, ok := ctx.Value(connectedKey{}).(*bool); ok && err == nil {
				*p = true
			}
			return conn, err
		},
	}
	cr := &crowd{}
	for i := range n {
		cr.wg.Add(1)
		go func() {
			defer cr.wg.Done()
			runClient(ctx, d, url+"?user="+userName(i/2), c, errs)
		}()
	}
	return cr
}

// wait waits for every client to stop.
func (cr *crowd) wait() { cr.wg.Wait() }

// connectedKey is the context key of the flag that the dialer sets once
// the TCP connection is made.
type connectedKey struct{}

// runClient connects, runs a session and reconnects until ctx ends.
func runClient(ctx context.Context, d *gws.Dialer, url string, c *counters, errs *errorCounts) {
	// Spread the first handshakes over a second.
	if !sleep(ctx, rand.N(time.Second)) {
		return
	}
	for ctx.Err() == nil {
		connected := false
		conn, resp, err := d.DialContext(context.WithValue(ctx, connectedKey{}, &connected), url, nil)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			switch {
			case resp != nil:
				errs.add("dial: HTTP " + strconv.Itoa(resp.StatusCode))
			case connected:
				errs.add("dial: handshake: " + errKind(err))
			default:
				errs.add("dial: connect: " + errKind(err))
			}
			sleep(ctx, 100*time.Millisecond+rand.N(900*time.Millisecond))
			continue
		}
		c.connects.Add(1)
		session(ctx, conn, c, errs)
	}
}

// session reads from conn for a random 0.5–5 s, then leaves: half the
// time cleanly with a close frame, half the time by dropping the TCP
// connection. When ctx ends it leaves at once, cleanly. It returns with
// conn closed and its reader gone.
func session(ctx context.Context, conn *gws.Conn, c *counters, errs *errorCounts) {
	done := make(chan error, 1)
	go func() { done <- readAll(conn, &c.received) }()
	stay := time.NewTimer(minStay + rand.N(maxStay-minStay))
	defer stay.Stop()
	clean := rand.IntN(2) == 0
	select {
	case err := <-done:
		conn.Close()
		errs.add("dropped by server: " + errKind(err))
		return
	case <-stay.C:
	case <-ctx.Done():
		clean = true
	}
	if !clean {
		conn.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			errs.add("abrupt close: " + errKind(err))
		}
		return
	}
	msg := gws.FormatCloseMessage(gws.CloseNormalClosure, "bye")
	if err := conn.WriteControl(gws.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		errs.add("clean close: write: " + errKind(err))
	}
	conn.SetReadDeadline(time.Now().Add(closeTimeout)) //nolint:errcheck // the read fails either way
	err := <-done
	conn.Close()
	if !gws.IsCloseError(err, gws.CloseNormalClosure) {
		errs.add("clean close: answer: " + errKind(err))
	}
}

// readAll reads and counts messages until the connection fails, and
// returns the error. gorilla answers pings and close frames by itself.
func readAll(conn *gws.Conn, received *atomic.Int64) error {
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		received.Add(1)
	}
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
