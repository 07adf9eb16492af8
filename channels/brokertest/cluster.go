package brokertest

import (
	"testing"

	"github.com/switchboard-go/switchboard/channels"
)

// Cluster makes the nodes of one cluster for a subtest.
type Cluster interface {
	// NewNode returns a broker joined to the cluster, ready for Start:
	// for the MemoryBroker, the cluster's one shared broker (every call
	// may return the same value); for a network broker, a new broker on
	// the cluster's server. The cluster closes what it made when t ends
	// (t.Cleanup), after the boxes the suite made over it; the suite
	// closes a node itself only where Close is what it checks.
	NewNode(t *testing.T) channels.Broker
}

// Killer is a Cluster that can kill a node.
type Killer interface {
	Cluster
	// Kill stops node b as a crash would: b reaches nobody any more and
	// cleans nothing up, so that what it recorded (its channels, users
	// and presence) is left to expire. The broker's expiry must then take
	// the node's users offline (Handler.DeliverOffline) and its members
	// out of presence (Handler.DeliverPresenceGone) within a few seconds:
	// the suite waits 30s at most.
	Kill(t *testing.T, b channels.Broker)
}

// Cutter is a Cluster whose server can be made unreachable.
type Cutter interface {
	Cluster
	// Cut makes the cluster's server unreachable to every node of the
	// cluster: their connections break and new ones fail, until Restore.
	Cut(t *testing.T)
	// Restore makes the server reachable again.
	Restore(t *testing.T)
}

// Run runs the suite against the brokers of the clusters newCluster
// makes: one new cluster per subtest, the subtests in parallel (so
// newCluster is called from many goroutines at once).
func Run(t *testing.T, newCluster func(t *testing.T) Cluster) {
	t.Helper()
	for _, group := range suite() {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			for _, st := range group.tests {
				t.Run(st.name, func(t *testing.T) {
					t.Parallel()
					st.run(t, newCluster(t))
				})
			}
		})
	}
}

type subtest struct {
	name string
	run  func(t *testing.T, c Cluster)
}

// suite lists the subtests: Broker calls each method directly, Cluster
// drives the brokers through boxes.
func suite() []struct {
	name  string
	tests []subtest
} {
	return []struct {
		name  string
		tests []subtest
	}{
		{"Broker", []subtest{
			{"PublishUnsaved", func(t *testing.T, c Cluster) { testPublishUnsaved(t, c, false) }},
			{"PublishUnsavedNoWait", func(t *testing.T, c Cluster) { testPublishUnsaved(t, c, true) }},
			{"PublishSaved", func(t *testing.T, c Cluster) { testPublishSaved(t, c, false) }},
			{"PublishSavedNoWait", func(t *testing.T, c Cluster) { testPublishSaved(t, c, true) }},
			{"MessageCrossesWhole", testMessageCrossesWhole},
			{"PublishToChannel", testPublishToChannel},
			{"PublishToUser", testPublishToUser},
			{"SubscribeUnsubscribe", testSubscribeUnsubscribe},
			{"StartStop", testStartStop},
			{"BoxesSharingABroker", testBoxesSharingABroker},
			{"History", testHistory},
			{"HistoryTrimmed", testHistoryTrimmed},
			{"FlushHistory", testFlushHistory},
			{"Presence", testPresence},
			{"ConnectedDisconnected", testConnectedDisconnected},
			{"IsOnline", testIsOnline},
			{"OnlineUsers", testOnlineUsers},
			{"Outcomes", testOutcomes},
			{"Close", testClose},
		}},
		{"Cluster", []subtest{
			{"SavedFromTwoNodesInOffsetOrder", testSavedFromTwoNodes},
			{"NodeOrderKept", testNodeOrderKept},
			{"RecoveryFromAPosition", testRecovery},
			{"SendToChannelAndUser", testSendToChannelAndUser},
			{"SendToChannels", testSendToChannels},
			{"PresenceAndOnline", testPresenceAndOnline},
			{"NodeKilled", testNodeKilled},
			{"Outage", testOutage},
			{"BoxClose", testBoxClose},
			{"BrokerClose", testBrokerClose},
		}},
	}
}
