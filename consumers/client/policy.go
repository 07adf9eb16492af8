package client

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// backoff counts the failed attempts since the last connection that
// lasted.
type backoff struct{ n int }

func (b *backoff) reset() { b.n = 0 }

// next is the wait before the next attempt: MinBackoff doubled per failed
// attempt, up to MaxBackoff.
func (b *backoff) next(o *Options) time.Duration {
	d := o.MinBackoff
	for i := 0; i < b.n && d < o.MaxBackoff; i++ {
		d *= 2
	}
	b.n++
	return min(d, o.MaxBackoff)
}

// jitter is a random time between half of d and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// policy says what a connection's end calls for (docs/PROTOCOL.md,
// sections 2 and 11): the wait before the next attempt, or final when the
// client must not try again by itself.
func (c *Client) policy(err error, b *backoff) (wait time.Duration, final bool) {
	o := &c.opts
	normal := func() (time.Duration, bool) { return jitter(b.next(o)), false }
	patient := func() (time.Duration, bool) { return jitter(max(b.next(o), o.MaxBackoff/2)), false }
	soon := func() (time.Duration, bool) { b.next(o); return rand.N(o.MinBackoff + 1), false }

	var he *HandshakeError
	var ce *CloseError
	switch {
	case errors.As(err, &he):
		switch he.Status {
		case http.StatusUnauthorized, http.StatusForbidden, // refused: do not retry as is
			http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusUpgradeRequired, http.StatusRequestHeaderFieldsTooLarge: // a client or URL to fix
			return 0, true
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return patient()
		}
		return normal()
	case errors.As(err, &ce):
		switch ce.Code {
		case 1000, // the server ended the session
			1002, 1003, 1007, // a client bug: retrying would repeat it
			1008, 4004: // refused, with a reason: tell the user
			return 0, true
		case 1012, 4000: // restarting, shutting down: another node may take us now
			return soon()
		case 1013, 4001, 4003: // come back later; read faster; slow down
			return patient()
		}
		return normal() // 1001, 1006, 1009, 1011, 4002, 4005 (credentials are fetched again), unknown
	}
	return normal()
}
