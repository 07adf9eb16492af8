package events

import "time"

// bucket is a token bucket: rate tokens a second, up to burst. It also
// scores violations: each refusal adds one, each allowed event takes half
// back, so that a client sending at twice the limit or more keeps
// climbing, while one that overran a burst once falls back to zero.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
	violations          float64
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	b := float64(burst)
	return &bucket{rate: rate, burst: b, tokens: b, last: now}
}

// allow takes a token, or counts a violation.
func (b *bucket) allow(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		b.violations = max(0, b.violations-0.5)
		return true
	}
	b.violations++
	return false
}
