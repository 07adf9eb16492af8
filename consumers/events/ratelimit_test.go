package events

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	start := time.Unix(0, 0)
	// 10 events a second, bursts of 2.
	run := func(every time.Duration, n int) (refused int, score float64) {
		b := newBucket(10, 2, start)
		now := start
		for i := 0; i < n; i++ {
			if !b.allow(now) {
				refused++
			}
			now = now.Add(every)
		}
		return refused, b.violations
	}
	if refused, score := run(100*time.Millisecond, 100); refused != 0 || score != 0 {
		t.Errorf("at the limit: %d refused, score %v", refused, score)
	}
	if _, score := run(50*time.Millisecond, 100); score < 20 {
		t.Errorf("at twice the limit for 5s: score %v, want it climbing past 20", score)
	}
	// One burst over, then calm: the score falls back to zero.
	b := newBucket(10, 2, start)
	for i := 0; i < 5; i++ {
		b.allow(start)
	}
	if b.violations != 3 {
		t.Fatalf("after a burst of 5: score %v", b.violations)
	}
	now := start
	for i := 0; i < 10; i++ {
		now = now.Add(100 * time.Millisecond)
		b.allow(now)
	}
	if b.violations != 0 {
		t.Errorf("after calm: score %v", b.violations)
	}
}
