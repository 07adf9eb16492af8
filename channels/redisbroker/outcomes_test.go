package redisbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// Two nodes share outcomes through Redis: what one claims and settles,
// the other finds; a freed or expired key is claimed again.
func TestOutcomesAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	var nodes []*redisbroker.Broker
	for range 2 {
		b, err := redisbroker.New(&redisbroker.Options{Addr: rs.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(context.Background()) })
		nodes = append(nodes, b)
	}
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	if out, claimed, err := a.ClaimOutcome(ctx, "s1|7", time.Minute); err != nil || !claimed || out != nil {
		t.Fatalf("first claim: %q, %v, %v", out, claimed, err)
	}
	if out, claimed, err := b.ClaimOutcome(ctx, "s1|7", time.Minute); err != nil || claimed || out != nil {
		t.Fatalf("claim while held: %q, %v, %v", out, claimed, err)
	}
	if err := a.SettleOutcome(ctx, "s1|7", []byte("\x00answer\xff"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if out, claimed, err := b.ClaimOutcome(ctx, "s1|7", time.Minute); err != nil || claimed || string(out) != "\x00answer\xff" {
		t.Fatalf("claim once settled: %q, %v, %v", out, claimed, err)
	}
	if err := b.SettleOutcome(ctx, "s1|7", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := a.ClaimOutcome(ctx, "s1|7", 100*time.Millisecond); err != nil || !claimed {
		t.Fatalf("claim once freed: %v, %v", claimed, err)
	}
	if ttl, err := rs.Command("PTTL", "switchboard:o:s1|7"); err != nil || ttl == "-1" || ttl == "-2" {
		t.Fatalf("the claim's TTL: %q, %v", ttl, err)
	}
	// A settle after the claim expired stores nothing.
	time.Sleep(150 * time.Millisecond)
	if err := a.SettleOutcome(ctx, "s1|7", []byte("late"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if out, claimed, _ := b.ClaimOutcome(ctx, "s1|7", time.Minute); !claimed || out != nil {
		t.Fatalf("a settle after expiry stored %q", out)
	}
}
