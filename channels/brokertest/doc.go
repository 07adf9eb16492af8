// Package brokertest is the conformance suite for channels.Broker: a
// broker that passes it keeps the promises a ChannelBox relies on, alone
// and as one node of a cluster. Every broker of this module runs it, the
// MemoryBroker included.
//
// To check a broker, implement Cluster (how to make the nodes of one
// cluster) and call Run from a test:
//
//	type cluster struct{ addr, prefix string }
//
//	func (c cluster) NewNode(t *testing.T) channels.Broker {
//		b, err := mybroker.New(c.addr, c.prefix)
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() { b.Close(context.Background()) })
//		return b
//	}
//
//	func TestConformance(t *testing.T) {
//		srv := startServer(t)
//		var n atomic.Int64
//		brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
//			return cluster{srv.Addr(), fmt.Sprintf("t%d:", n.Add(1))}
//		})
//	}
//
// Run makes a new Cluster for each subtest and runs the subtests in
// parallel, so clusters must not see one another: give each its own key
// prefix on a shared server, say. A Cluster that can also kill a node
// (Killer) or make its server unreachable (Cutter) gets the subtests that
// need it; the others are skipped, saying why.
//
// The suite calls the Broker's methods directly, with Handlers that
// record what is delivered to them, and drives the brokers through real
// ChannelBoxes, one per node, with WebSocket clients on 127.0.0.1. Every
// call gets a context with a deadline and every wait has one, so a broker
// that loses a message fails a subtest rather than hanging it; a broker
// that ignores its context may still hang it, until go test's -timeout.
package brokertest
