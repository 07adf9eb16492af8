package client

import (
	"errors"
	"testing"
	"time"
)

// The close codes and HTTP statuses of docs/PROTOCOL.md, and what the
// client does on each.
func TestPolicy(t *testing.T) {
	o := Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second}.withDefaults()
	c := &Client{opts: o}
	const (
		stop    = "stop"
		soon    = "soon"    // within MinBackoff
		normal  = "normal"  // MinBackoff/2 to MinBackoff on a first failure
		patient = "patient" // at least MaxBackoff/4 (half of half of it)
	)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&HandshakeError{Status: 401}, stop},
		{&HandshakeError{Status: 403}, stop},
		{&HandshakeError{Status: 404}, stop},
		{&HandshakeError{Status: 431}, stop},
		{&HandshakeError{Status: 429}, patient},
		{&HandshakeError{Status: 503}, patient},
		{&HandshakeError{Status: 502}, normal},
		{&CloseError{Code: 1000}, stop},
		{&CloseError{Code: 1001}, normal},
		{&CloseError{Code: 1002}, stop},
		{&CloseError{Code: 1003}, stop},
		{&CloseError{Code: 1006}, normal},
		{&CloseError{Code: 1007}, stop},
		{&CloseError{Code: 1008}, stop},
		{&CloseError{Code: 1009}, normal},
		{&CloseError{Code: 1011}, normal},
		{&CloseError{Code: 1012}, soon},
		{&CloseError{Code: 1013}, patient},
		{&CloseError{Code: 4000}, soon},
		{&CloseError{Code: 4001}, patient},
		{&CloseError{Code: 4002}, normal},
		{&CloseError{Code: 4003}, patient},
		{&CloseError{Code: 4004}, stop},
		{&CloseError{Code: 4005}, normal},
		{&CloseError{Code: 4321}, normal},
		{errors.New("connection refused"), normal},
	} {
		for range 20 { // the waits are random
			var b backoff
			wait, final := c.policy(tc.err, &b)
			var got string
			switch {
			case final:
				got = stop
			case wait <= o.MinBackoff && tc.want == soon:
				got = soon
			case wait >= o.MinBackoff/2 && wait <= o.MinBackoff && tc.want == normal:
				got = normal
			case wait >= o.MaxBackoff/4 && wait <= o.MaxBackoff:
				got = patient
			default:
				got = wait.String()
			}
			if got != tc.want {
				t.Fatalf("%v: got %s, want %s", tc.err, got, tc.want)
			}
		}
	}
}

// The wait doubles per failure up to MaxBackoff, each one jittered
// between half of it and all of it.
func TestBackoffGrows(t *testing.T) {
	o := Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: 1 * time.Second}.withDefaults()
	var b backoff
	for i, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		if d := b.next(&o); d != want {
			t.Fatalf("attempt %d: %v, want %v", i, d, want)
		}
		if j := jitter(want); j < want/2 || j > want {
			t.Fatalf("jitter(%v) = %v", want, j)
		}
	}
	b.reset()
	if d := b.next(&o); d != o.MinBackoff {
		t.Fatalf("after reset: %v", d)
	}
}
