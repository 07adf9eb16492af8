package brokertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
)

// A broker that is a channels.OutcomeStore shares outcomes between its
// nodes: a claim on one holds on the other, a settled outcome is found
// there, a freed key is claimed again, and outcomes of other keys are
// their own. A broker that keeps no outcomes is not asked (the event
// router then keeps them on each node).
func testOutcomes(t *testing.T, c Cluster) {
	a, ok := c.NewNode(t).(channels.OutcomeStore)
	if !ok {
		t.Skip("the broker keeps no outcomes (an optional interface)")
	}
	b := c.NewNode(t).(channels.OutcomeStore)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := fmt.Sprint("suite|session|", time.Now().UnixNano())
	check := func(what string, s channels.OutcomeStore, k string, wantClaimed bool, want string) {
		t.Helper()
		out, claimed, err := s.ClaimOutcome(ctx, k, time.Minute)
		if err != nil || claimed != wantClaimed || string(out) != want {
			t.Fatalf("%s: claimed %v, outcome %q, err %v; want claimed %v, outcome %q", what, claimed, out, err, wantClaimed, want)
		}
	}
	check("a free key", a, key, true, "")
	check("a key held on another node", b, key, false, "")
	if err := a.SettleOutcome(ctx, key, []byte("the answer"), time.Minute); err != nil {
		t.Fatal(err)
	}
	check("a settled key, from another node", b, key, false, "the answer")
	check("another key", b, key+"-other", true, "")
	if err := b.SettleOutcome(ctx, key, nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	check("a freed key", a, key, true, "")
}
