package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/redistest"
	"github.com/switchboard-go/switchboard/metrics/prom"
)

var _ redisbroker.Metrics = (*prom.Metrics)(nil) // the Prometheus collector takes the pipeline's series

// readN reads n text messages.
func readN(t *testing.T, c *gws.Conn, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		out = append(out, read(t, c))
	}
	return out
}

// inOrder fails unless got holds want's messages, each once, in want's
// order.
func inOrder(t *testing.T, who string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s got %d messages, want %d", who, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: message %d is %q, want %q", who, i, got[i], want[i])
		}
	}
}

// A loop of sends that do not wait, saved and unsaved mixed, reaches a
// member on another node in the order sent; on the sending node, the
// unsaved ones (delivered at once) and the saved ones (delivered when
// Redis has saved them) each keep their order.
func TestPipelineKeepsOrder(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n1 := newNode(t, rs.URL(), nil, nil)
	n2 := newNode(t, rs.URL(), nil, nil)
	local, _ := n1.connect(query("group", "g"))
	remote, _ := n2.connect(query("group", "g"))
	const total = 3000
	var sent, unsaved, saved []string
	for i := range total {
		var opts []channels.SendOption
		m := "u" + strconv.Itoa(i)
		if i%3 == 0 {
			m = "s" + strconv.Itoa(i)
			opts = append(opts, channels.SaveHistory())
			saved = append(saved, m)
		} else {
			unsaved = append(unsaved, m)
		}
		sent = append(sent, m)
		if _, err := n1.box.GroupSend(ctx, "g", m, opts...); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	inOrder(t, "the member on the other node", readN(t, remote, total), sent)
	var gotU, gotS []string
	for _, m := range readN(t, local, total) {
		if strings.HasPrefix(m, "u") {
			gotU = append(gotU, m)
		} else {
			gotS = append(gotS, m)
		}
	}
	inOrder(t, "the local member's unsaved messages", gotU, unsaved)
	inOrder(t, "the local member's saved messages", gotS, saved)
	if _, top, _, err := n2.box.History(ctx, "g", nil); err != nil || top.Offset != uint64(len(saved)) {
		t.Errorf("history top %v (%v), want offset %d", top, err, len(saved))
	}
	st := n1.broker.PipelineStats()
	if st.Commands != total || st.Failed != 0 || st.PendingBytes != 0 {
		t.Errorf("pipeline stats %+v", st)
	}
	t.Logf("%d publishes in %d batches", st.Commands, st.Batches)
}

// While Redis does not answer, the pipeline takes in at most
// MaxPendingBytes and refuses the rest with ErrBrokerBusy; once Redis
// answers, every message it took in is delivered, in order.
func TestPipelineBoundedWhileRedisStalls(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	const bound = 64 << 10
	n1 := newNode(t, rs.URL(), &redisbroker.Options{MaxPendingBytes: bound, Timeout: 5 * time.Second}, nil)
	n2 := newNode(t, rs.URL(), nil, nil)
	remote, _ := n2.connect(query("group", "g"))
	pad := strings.Repeat("x", 1000)
	rs.Pause()
	var accepted []string
	var busy error
	for i := range 10000 {
		m := fmt.Sprintf("%05d%s", i, pad)
		if _, err := n1.box.GroupSend(ctx, "g", m); err != nil {
			busy = err
			break
		}
		accepted = append(accepted, m)
	}
	st := n1.broker.PipelineStats()
	rs.Resume()
	if !errors.Is(busy, channels.ErrBrokerBusy) || !errors.Is(busy, channels.ErrBrokerUnavailable) {
		t.Fatalf("sends while Redis stalled ended with %v, want ErrBrokerBusy (which matches ErrBrokerUnavailable)", busy)
	}
	if st.PendingBytes > bound+2000 {
		t.Errorf("%d bytes pending, over the bound of %d", st.PendingBytes, bound)
	}
	if len(accepted) < bound/2000 {
		t.Errorf("only %d messages taken in before busy", len(accepted))
	}
	inOrder(t, "the member on the other node", readN(t, remote, len(accepted)), accepted)
	eventually(t, "the pipeline to empty", func() bool { return n1.broker.PipelineStats().PendingBytes == 0 })
	if _, err := n1.box.GroupSend(ctx, "g", "after"); err != nil {
		t.Fatalf("a send once Redis answers: %v", err)
	}
	if got := read(t, remote); got != "after" {
		t.Errorf("after the stall: %q", got)
	}
}

// Close writes what the pipeline took in before it lets go of Redis.
func TestPipelineCloseWritesWhatItTookIn(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n1 := newNode(t, rs.URL(), nil, nil)
	n2 := newNode(t, rs.URL(), nil, nil)
	remote, _ := n2.connect(query("group", "g"))
	const total = 2000
	var sent []string
	for i := range total {
		m := strconv.Itoa(i)
		opts := []channels.SendOption{}
		if i%2 == 0 {
			opts = append(opts, channels.SaveHistory())
		}
		if _, err := n1.box.GroupSend(ctx, "g", m, opts...); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n1.broker.Close(c); err != nil {
		t.Fatal(err)
	}
	inOrder(t, "the member on the other node", readN(t, remote, total), sent)
	if _, err := n1.box.GroupSend(ctx, "g", "late"); !errors.Is(err, channels.ErrBrokerClosed) {
		t.Errorf("a send after Close: %v, want ErrBrokerClosed", err)
	}
}
