package redistest

import (
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/clusternodes"
	"github.com/switchboard-go/switchboard/internal/tcpproxy"
)

// Cluster is a Redis Cluster of throwaway redis-servers started for one
// test, each on a free 127.0.0.1 port, keeping nothing on disk.
type Cluster struct {
	tb      testing.TB
	nodes   []*Server
	proxies []*tcpproxy.Proxy // in front of each node, for StartClusterBehindProxies
	masters []string          // addresses of the masters at start, by first slot
	slots   []SlotRange
}

// SlotRange is a range of slots, Start to End inclusive, and the address
// of the master that owns them.
type SlotRange = clusternodes.Range

// clusterNodeTimeout is the cluster-node-timeout of the test clusters:
// short, so that a replica takes over from a killed master within a few
// seconds.
const clusterNodeTimeout = 1000 * time.Millisecond

// StartCluster starts masters*(1+replicasPerMaster) redis-servers,
// makes them a cluster with redis-cli --cluster create, and waits until
// every node reports cluster_state:ok and every replica is in sync with
// its master; it stops them all when the test
// ends. Without redis-server or redis-cli the test is skipped, or fails
// when the CI environment variable is set.
func StartCluster(tb testing.TB, masters, replicasPerMaster int) *Cluster {
	tb.Helper()
	return startCluster(tb, masters, replicasPerMaster, false)
}

// StartClusterBehindProxies is StartCluster with a proxy in front of each
// node, whose address the node announces to clients (the cluster bus
// goes straight between the nodes): Cut makes the whole cluster
// unreachable to its clients while it keeps running.
func StartClusterBehindProxies(tb testing.TB, masters, replicasPerMaster int) *Cluster {
	tb.Helper()
	return startCluster(tb, masters, replicasPerMaster, true)
}

func startCluster(tb testing.TB, masters, replicasPerMaster int, proxied bool) *Cluster {
	tb.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("redistest: %s is not installed (CI must install it)", bin)
			}
			tb.Skipf("redistest: %s is not installed; skipping (apt-get install redis-server)", bin)
		}
	}
	c := &Cluster{tb: tb}
	tb.Cleanup(c.kill)
	var addrs []string
	for range masters * (1 + replicasPerMaster) {
		s := &Server{tb: tb, port: clusterPort(tb), dir: tb.TempDir()}
		s.args = []string{"--cluster-enabled", "yes",
			"--cluster-config-file", s.dir + "/nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout / time.Millisecond)),
			// Replicas sync at once rather than after the default 5s,
			// so that they can take over soon after start.
			"--repl-diskless-sync-delay", "0"}
		addr := s.Addr()
		if proxied {
			p := tcpproxy.Start(tb, s.Addr())
			_, pport, _ := net.SplitHostPort(p.Addr())
			s.args = append(s.args, "--cluster-announce-ip", "127.0.0.1", "--cluster-announce-port", pport,
				"--cluster-announce-bus-port", strconv.Itoa(s.port+10000))
			c.proxies = append(c.proxies, p)
			addr = p.Addr()
		}
		s.start()
		c.nodes = append(c.nodes, s)
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.nodes {
		for !strings.Contains(c.cli(s.Addr(), "CLUSTER", "INFO"), "cluster_state:ok") {
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster not ok within 20s at %s", s.Addr())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A replica that has not synced with its master cannot replace it.
	for _, s := range c.nodes {
		for {
			info := c.cli(s.Addr(), "INFO", "replication")
			if strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: replica %s not in sync within 20s", s.Addr())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	slots, err := clusternodes.Parse(c.cli(addrs[0], "CLUSTER", "NODES"))
	if err != nil {
		tb.Fatal(err)
	}
	c.slots = slots
	for _, r := range slots {
		if !slices.Contains(c.masters, r.Master) {
			c.masters = append(c.masters, r.Master)
		}
	}
	return c
}

// clusterPort finds a free port whose cluster bus port (port+10000) is
// free too.
func clusterPort(tb testing.TB) int {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		b.Close()
		return port
	}
	tb.Fatal("redistest: no free port pair for a cluster node")
	return 0
}

// cli runs redis-cli against one node and returns its output, or "" when
// the node does not answer.
func (c *Cluster) cli(addr string, args ...string) string {
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// Addrs are the addresses of all the nodes, masters and replicas, as
// clients reach them (their proxies' behind proxies).
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.nodes))
	for i := range c.nodes {
		a[i] = c.clientAddr(i)
	}
	return a
}

func (c *Cluster) clientAddr(i int) string {
	if c.proxies != nil {
		return c.proxies[i].Addr()
	}
	return c.nodes[i].Addr()
}

// Cut makes every node unreachable to the clients (behind proxies only;
// StartCluster's nodes cannot be cut): their connections are closed and
// new ones refused until Restore.
func (c *Cluster) Cut() {
	for _, p := range c.proxies {
		p.Cut()
	}
}

// Restore makes the nodes reachable again.
func (c *Cluster) Restore() {
	for _, p := range c.proxies {
		p.Restore()
	}
}

// Masters are the addresses of the masters at start, ordered by the
// first slot each owns.
func (c *Cluster) Masters() []string { return slices.Clone(c.masters) }

// Slots is the slot map at start, from CLUSTER NODES.
func (c *Cluster) Slots() []SlotRange { return slices.Clone(c.slots) }

// SlotsNow reads the slot map again from the node at addr.
func (c *Cluster) SlotsNow(addr string) ([]SlotRange, error) {
	return clusternodes.Parse(c.cli(addr, "CLUSTER", "NODES"))
}

// Info is the output of CLUSTER INFO at addr, "" if it does not answer.
func (c *Cluster) Info(addr string) string { return c.cli(addr, "CLUSTER", "INFO") }

// KillMaster stops Masters()[i] with SIGKILL.
func (c *Cluster) KillMaster(i int) {
	for j, s := range c.nodes {
		if c.clientAddr(j) == c.masters[i] {
			s.Kill()
		}
	}
}

// MoveSlot moves a slot, with its keys, to the master at addr, as
// resharding does: the target imports it, the source migrates its keys
// there, and every master is told the new owner.
func (c *Cluster) MoveSlot(slot int, to string) {
	c.tb.Helper()
	from := ""
	for _, r := range c.mustSlots(to) {
		if r.Start <= slot && slot <= r.End {
			from = r.Master
		}
	}
	if from == "" || from == to {
		c.tb.Fatalf("redistest: slot %d is on %q; cannot move it to %s", slot, from, to)
	}
	fromID, toID := c.id(from), c.id(to)
	s := strconv.Itoa(slot)
	c.mustCli(to, "CLUSTER", "SETSLOT", s, "IMPORTING", fromID)
	c.mustCli(from, "CLUSTER", "SETSLOT", s, "MIGRATING", toID)
	host, port, _ := net.SplitHostPort(to)
	for {
		keys := strings.Fields(c.cli(from, "CLUSTER", "GETKEYSINSLOT", s, "100"))
		if len(keys) == 0 {
			break
		}
		c.mustCli(from, append([]string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}, keys...)...)
	}
	for _, m := range []string{to, from} {
		c.mustCli(m, "CLUSTER", "SETSLOT", s, "NODE", toID)
	}
	for _, m := range c.masters {
		if m != to && m != from {
			c.cli(m, "CLUSTER", "SETSLOT", s, "NODE", toID) // gossip tells it anyway
		}
	}
}

func (c *Cluster) mustSlots(addr string) []SlotRange {
	c.tb.Helper()
	r, err := c.SlotsNow(addr)
	if err != nil {
		c.tb.Fatal(err)
	}
	return r
}

func (c *Cluster) id(addr string) string {
	c.tb.Helper()
	id := strings.TrimSpace(c.cli(addr, "CLUSTER", "MYID"))
	if id == "" {
		c.tb.Fatalf("redistest: no node id from %s", addr)
	}
	return id
}

// mustCli runs redis-cli and fails the test on an error reply or none.
func (c *Cluster) mustCli(addr string, args ...string) {
	c.tb.Helper()
	out := c.cli(addr, args...)
	if out == "" || strings.HasPrefix(out, "ERR") || strings.Contains(out, "(error)") {
		c.tb.Fatalf("redistest: %s %v: %q", addr, args, out)
	}
}

func (c *Cluster) kill() {
	for _, s := range c.nodes {
		s.Kill()
	}
}
