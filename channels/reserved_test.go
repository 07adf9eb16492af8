package channels_test

import (
	"context"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
)

func TestReserveGroup(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	if box.IsReserved("events:all") {
		t.Error("reserved before ReserveGroup")
	}
	if !box.ReserveGroup("events:all") || box.ReserveGroup("events:all") {
		t.Error("ReserveGroup: the first call reports a free name, the second a taken one")
	}
	if !box.IsReserved("events:all") || box.IsReserved("lobby") {
		t.Error("IsReserved")
	}
	if other := channels.NewBox(nil); other.IsReserved("events:all") {
		t.Error("another box shares the reservation")
	} else {
		other.Close(context.Background())
	}
}
