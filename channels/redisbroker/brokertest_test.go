package redisbroker_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/brokertest"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// redisCluster is brokers on one redis-server under a key prefix of
// their own, reaching it through a proxy the cluster can cut.
type redisCluster struct {
	proxy  *redistest.Proxy
	prefix string
}

func (c *redisCluster) NewNode(t *testing.T) channels.Broker {
	t.Helper()
	b, err := redisbroker.New(&redisbroker.Options{
		Addr:   c.proxy.URL(),
		Prefix: c.prefix,
		// Short, so that a killed node's entries expire within seconds.
		PresenceTTL: 3 * time.Second,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// Kill closes the broker: Close leaves the node's entries in Redis to
// expire, as a crash does.
func (c *redisCluster) Kill(t *testing.T, b channels.Broker) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func (c *redisCluster) Cut(*testing.T)     { c.proxy.Cut() }
func (c *redisCluster) Restore(*testing.T) { c.proxy.Restore() }

// The conformance suite, every subtest a cluster of its own on one
// redis-server.
func TestConformance(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	var n atomic.Int64
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		return &redisCluster{proxy: rs.Proxy(t), prefix: "bt" + strconv.FormatInt(n.Add(1), 10) + ":"}
	})
}
