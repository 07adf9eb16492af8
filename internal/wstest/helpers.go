package wstest

import (
	"net/url"
	"testing"
	"time"
)

// Query builds a query string from key, value pairs; a key may repeat.
func Query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q
}

// Eventually polls cond every poll until it holds, failing the test with
// what after limit.
func Eventually(t testing.TB, what string, limit, poll time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(poll)
	}
}
