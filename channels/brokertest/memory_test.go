package brokertest_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memoryCluster is boxes sharing one MemoryBroker: every node is that
// broker.
type memoryCluster struct{ b *channels.MemoryBroker }

func (c memoryCluster) NewNode(*testing.T) channels.Broker { return c.b }

func TestMemoryBroker(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		b := channels.NewMemoryBroker(nil)
		t.Cleanup(func() { b.Close(context.Background()) })
		return memoryCluster{b}
	})
}
