package brokertest

import (
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/wstest"
)

// Deadlines of the suite: of every broker call, and of every wait for a
// delivery or a state the cluster reaches in its own time.
const (
	callTimeout = 30 * time.Second
	waitTimeout = 20 * time.Second
)

// callCtx returns a context for the broker calls of a test.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test after
// waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, what, waitTimeout, cond)
}

// eventuallyWithin is eventually with another limit.
func eventuallyWithin(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	wstest.Eventually(t, what, limit, 5*time.Millisecond, cond)
}

// delivery is one message a broker handed to a handler: to is the group,
// channel or user it was for.
type delivery struct {
	to  string
	msg *channels.Message
}

// handler is a node for the direct calls of the Broker tests: a
// channels.Handler that records what it is given, and holds the channels
// a test puts on it.
type handler struct {
	id string

	mu       sync.Mutex
	groups   []delivery
	chans    []delivery
	users    []delivery
	resyncs  []string
	channels map[string]string // channel id -> user, of the channels held here
}

func newHandler() *handler {
	return &handler{id: "node-" + rand.Text()[:10], channels: make(map[string]string)}
}

// start starts a new handler on b; it is stopped when the test ends. No
// subtest loses data, so a broker that asks the node to resync a group
// fails it.
func start(t *testing.T, b channels.Broker) *handler {
	t.Helper()
	h := newHandler()
	if err := b.Start(h); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		b.Stop(h)
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.resyncs) > 0 {
			t.Errorf("%s was asked to resync %q, with no data lost", h.id, h.resyncs)
		}
	})
	return h
}

// subscribe subscribes h to the groups on b.
func subscribe(t *testing.T, ctx context.Context, b channels.Broker, h *handler, groups ...string) {
	t.Helper()
	for _, g := range groups {
		if err := b.Subscribe(ctx, h, g); err != nil {
			t.Fatalf("Subscribe(%q): %v", g, err)
		}
	}
}

// hold puts a channel of user on h and records it with b, as a box
// does when the channel registers.
func (h *handler) hold(t *testing.T, ctx context.Context, b channels.Broker, channelID, user string) {
	t.Helper()
	h.mu.Lock()
	h.channels[channelID] = user
	h.mu.Unlock()
	if _, err := b.Connected(ctx, h, channelID, user); err != nil {
		t.Fatalf("Connected(%q, %q): %v", channelID, user, err)
	}
}

// drop takes a channel off h and records that with b.
func (h *handler) drop(t *testing.T, ctx context.Context, b channels.Broker, channelID string) {
	t.Helper()
	h.mu.Lock()
	user := h.channels[channelID]
	delete(h.channels, channelID)
	h.mu.Unlock()
	if _, err := b.Disconnected(ctx, h, channelID, user); err != nil {
		t.Fatalf("Disconnected(%q, %q): %v", channelID, user, err)
	}
}

// msg returns a text message published by h.
func (h *handler) msg(text string) *channels.Message {
	m := channels.NewMessage(text)
	m.Origin = h.id
	return m
}

func (h *handler) NodeID() string { return h.id }

func (h *handler) DeliverGroup(group string, msg *channels.Message) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.groups = append(h.groups, delivery{group, msg})
	return 1
}

func (h *handler) DeliverChannel(channelID string, msg *channels.Message) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.channels[channelID]; !ok {
		return false
	}
	h.chans = append(h.chans, delivery{channelID, msg})
	return true
}

func (h *handler) DeliverUser(user string, msg *channels.Message) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, u := range h.channels {
		if u == user {
			n++
		}
	}
	if n > 0 {
		h.users = append(h.users, delivery{user, msg})
	}
	return n
}

// DeliverOffline and DeliverPresenceGone report dead nodes, which the
// subtests that kill one check through boxes.
func (h *handler) DeliverOffline(string)                               {}
func (h *handler) DeliverPresenceGone(string, []channels.PresenceInfo) {}

func (h *handler) ResyncGroup(group string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resyncs = append(h.resyncs, group)
}

// got returns what was delivered to h for to, of the kind list selects.
func (h *handler) got(list func(*handler) []delivery, to string) []*channels.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*channels.Message
	for _, d := range list(h) {
		if d.to == to {
			out = append(out, d.msg)
		}
	}
	return out
}

func groupsOf(h *handler) []delivery   { return h.groups }
func channelsOf(h *handler) []delivery { return h.chans }
func usersOf(h *handler) []delivery    { return h.users }

// await waits until h got n messages for to (of the kind list selects)
// and returns them; more than n fails the test.
func (h *handler) await(t *testing.T, list func(*handler) []delivery, to string, n int) []*channels.Message {
	t.Helper()
	eventually(t, "deliveries for "+to, func() bool { return len(h.got(list, to)) >= n })
	got := h.got(list, to)
	if len(got) > n {
		t.Fatalf("%s got %d messages for %s, want %d: %q", h.id, len(got), to, n, texts(got))
	}
	return got
}

// texts returns the messages' data as strings.
func texts(ms []*channels.Message) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, string(m.Data))
	}
	return out
}

// expectTexts fails the test unless ms hold want, in order.
func expectTexts(t *testing.T, who string, ms []*channels.Message, want ...string) {
	t.Helper()
	if got := texts(ms); !slices.Equal(got, want) {
		t.Fatalf("%s got %q, want %q", who, got, want)
	}
}
