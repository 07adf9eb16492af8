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

// redisCluster is brokers on one redis-server, or sharded over several,
// under a key prefix of their own, reaching each server through a proxy
// the cluster can cut.
type redisCluster struct {
	proxies []*redistest.Proxy
	prefix  string
}

func newRedisCluster(t *testing.T, prefix string, servers ...*redistest.Server) *redisCluster {
	c := &redisCluster{prefix: prefix}
	for _, rs := range servers {
		c.proxies = append(c.proxies, rs.Proxy(t))
	}
	return c
}

func (c *redisCluster) NewNode(t *testing.T) channels.Broker {
	t.Helper()
	o := &redisbroker.Options{
		Prefix: c.prefix,
		// Short, so that a killed node's entries expire within seconds.
		PresenceTTL: 3 * time.Second,
		Logger:      slog.New(slog.DiscardHandler),
	}
	if len(c.proxies) == 1 {
		o.Addr = c.proxies[0].URL()
	} else {
		for _, p := range c.proxies {
			o.Shards = append(o.Shards, p.URL())
		}
	}
	return suiteBroker(t, o)
}

// suiteBroker makes a broker for the conformance suite, closed when the
// test ends.
func suiteBroker(t *testing.T, o *redisbroker.Options) channels.Broker {
	t.Helper()
	b, err := redisbroker.New(o)
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
func (c *redisCluster) Kill(t *testing.T, b channels.Broker) { killBroker(t, b) }

func killBroker(t *testing.T, b channels.Broker) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// Cut cuts every server off.
func (c *redisCluster) Cut(*testing.T) {
	for _, p := range c.proxies {
		p.Cut()
	}
}

func (c *redisCluster) Restore(*testing.T) {
	for _, p := range c.proxies {
		p.Restore()
	}
}

// The conformance suite, every subtest a cluster of its own on one
// redis-server.
func TestConformance(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	var n atomic.Int64
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		return newRedisCluster(t, "bt"+strconv.FormatInt(n.Add(1), 10)+":", rs)
	})
}

// The conformance suite over three shards, every subtest a cluster of its
// own on the same three redis-servers.
func TestConformanceSharded(t *testing.T) {
	t.Parallel()
	rss, _ := startShards(t, 3)
	var n atomic.Int64
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		return newRedisCluster(t, "bts"+strconv.FormatInt(n.Add(1), 10)+":", rss...)
	})
}
