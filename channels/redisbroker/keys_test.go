package redisbroker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// Every key the broker writes has a TTL, or an owner that deleted it once
// its users left: after saved messages in many groups and everyone gone,
// none is left without one, whatever the history's age cap.
func TestEveryKeyExpires(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	cases := []struct {
		prefix string
		ttl    time.Duration
	}{
		{"aged:", time.Minute},
		{"ageless:", -1}, // no age cap on the history
	}
	for _, c := range cases {
		n := newNode(t, rs.URL(), &redisbroker.Options{Prefix: c.prefix}, &channels.Options{HistoryTTL: c.ttl})
		for i := range 20 {
			g := "room-" + strconv.Itoa(i)
			conn, _ := n.connect(query("user", "u"+strconv.Itoa(i%3), "group", g))
			if _, err := n.box.GroupSend(ctx, g, "hello", channels.SaveHistory(), channels.Confirm()); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := n.box.History(ctx, g, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := n.broker.ClaimOutcome(ctx, g, time.Minute); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if err := n.broker.SettleOutcome(ctx, g, []byte("answer"), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			conn.Close()
		}
		eventually(t, "every channel gone", func() bool { return n.box.Stats().Channels == 0 })
	}

	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	seen := 0
	for {
		res, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range res.Elements {
			seen++
			pttl, err := client.Do(ctx, client.B().Pttl().Key(k).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			if pttl == -1 {
				t.Errorf("key %q has no TTL", k)
			}
		}
		if cursor = res.Cursor; cursor == 0 {
			break
		}
	}
	if seen == 0 {
		t.Fatal("no keys at all: nothing was tested")
	}
}
