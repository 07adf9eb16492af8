package channels_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
)

func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	s := channels.NewOutcomes(0, 0, func() time.Time { return now })
	const ttl = time.Minute

	if out, claimed, _ := s.ClaimOutcome(ctx, "a", ttl); !claimed || out != nil {
		t.Fatal("a free key was not claimed")
	}
	if out, claimed, _ := s.ClaimOutcome(ctx, "a", ttl); claimed || out != nil {
		t.Fatalf("a held key: claimed %v, outcome %q", claimed, out)
	}
	s.SettleOutcome(ctx, "a", []byte("answer"), ttl)
	if out, claimed, _ := s.ClaimOutcome(ctx, "a", ttl); claimed || string(out) != "answer" {
		t.Fatalf("a settled key: claimed %v, outcome %q", claimed, out)
	}
	now = now.Add(ttl + time.Second)
	if _, claimed, _ := s.ClaimOutcome(ctx, "a", ttl); !claimed {
		t.Fatal("an expired key was not claimed again")
	}
	// A nil outcome frees the key.
	s.SettleOutcome(ctx, "a", nil, ttl)
	if _, claimed, _ := s.ClaimOutcome(ctx, "a", ttl); !claimed {
		t.Fatal("a freed key was not claimed again")
	}
	// Settling a key nobody holds stores nothing.
	s.SettleOutcome(ctx, "never", []byte("x"), ttl)
	if _, claimed, _ := s.ClaimOutcome(ctx, "never", ttl); !claimed {
		t.Fatal("a settle without a claim stored an outcome")
	}
}

// The store holds at most its count and bytes, dropping the oldest, and
// lets go of what expired as it is used.
func TestOutcomesBounded(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	s := channels.NewOutcomes(100, 10_000, func() time.Time { return now })
	for i := range 1000 {
		key := fmt.Sprint("k", i)
		s.ClaimOutcome(ctx, key, time.Minute)
		s.SettleOutcome(ctx, key, make([]byte, 50), time.Minute)
		if n := s.Len(); n > 100 {
			t.Fatalf("%d outcomes held", n)
		}
	}
	if _, claimed, _ := s.ClaimOutcome(ctx, "k999", time.Minute); claimed {
		t.Fatal("the newest outcome was dropped")
	}
	if _, claimed, _ := s.ClaimOutcome(ctx, "k0", time.Minute); !claimed {
		t.Fatal("the oldest outcome was kept past the bound")
	}
	big := channels.NewOutcomes(1000, 1000, func() time.Time { return now })
	for i := range 100 {
		key := fmt.Sprint("k", i)
		big.ClaimOutcome(ctx, key, time.Minute)
		big.SettleOutcome(ctx, key, make([]byte, 300), time.Minute)
	}
	if n := big.Len(); n > 4 {
		t.Fatalf("%d outcomes of 300 bytes held under a 1000-byte bound", n)
	}
	now = now.Add(2 * time.Minute)
	s.ClaimOutcome(ctx, "late", time.Minute)
	if n := s.Len(); n != 1 {
		t.Fatalf("%d outcomes held after they all expired", n)
	}
}

func TestMemoryBrokerOutcomesAfterClose(t *testing.T) {
	b := channels.NewMemoryBroker(nil)
	b.Close(context.Background())
	if _, _, err := b.ClaimOutcome(context.Background(), "k", time.Minute); err != channels.ErrBrokerClosed {
		t.Fatalf("got %v", err)
	}
}
