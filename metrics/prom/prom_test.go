package prom_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/metrics/prom"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A server wired as the package doc says: a scrape shows what real
// clients did.
func TestScrapeShowsWhatHappened(t *testing.T) {
	ctx := context.Background()
	tracker := websocket.NewTracker(&websocket.TrackerOptions{MaxConnsPerIP: 2})
	m := prom.New(&prom.Options{Tracker: tracker})
	box := channels.NewBox(&channels.Options{Metrics: m})
	defer box.Close(ctx)
	m.Watch(box)
	rt := router.NewWithOptions(&router.Options{WebSocket: &websocket.Options{Tracker: tracker, Metrics: m}})
	rt.HandleFunc("/ws", func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		ch, err := box.Register(ws, &channels.RegisterOptions{User: ws.Query().Get("user")})
		if err != nil {
			return err
		}
		box.JoinWithHistory(ws.Context(), "room", ch.ID(), &channels.Position{Offset: 1, Epoch: "old"}, //nolint:errcheck // counted
			func([]channels.Entry, channels.Position, bool) error { return nil })
		for {
			msg, err := ws.ReceiveText(ws.Context())
			if err != nil {
				return err
			}
			box.GroupSend(ws.Context(), "room", msg)                          //nolint:errcheck // counted
			box.GroupSend(ws.Context(), "saved", msg, channels.SaveHistory()) //nolint:errcheck // counted
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", rt)
	mux.Handle("/metrics", m.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	var conns []*gws.Conn
	for _, u := range []string{"ada", "bo"} {
		c, _, err := gws.DefaultDialer.Dial(url+"?user="+u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	if _, resp, err := gws.DefaultDialer.Dial(url, nil); err == nil || resp.StatusCode != 429 {
		t.Fatalf("third connection from one IP: %v %v", resp, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for box.Stats().Memberships < 2 {
		if time.Now().After(deadline) {
			t.Fatal("members did not join")
		}
		time.Sleep(5 * time.Millisecond)
	}
	conns[0].WriteMessage(gws.TextMessage, []byte("hello"))
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, d, err := c.ReadMessage(); err != nil || string(d) != "hello" {
			t.Fatalf("read: %q %v", d, err)
		}
	}
	conns[1].WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(1000, ""))
	for tracker.Len() > 1 {
		if time.Now().After(deadline) {
			t.Fatal("close not seen")
		}
		time.Sleep(5 * time.Millisecond)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"switchboard_connections 1",
		"switchboard_connections_accepted_total 2",
		`switchboard_connections_rejected_total{reason="limit_ip"} 1`,
		`switchboard_connections_closed_total{code="1000"} 1`,
		"switchboard_messages_in_total 1",
		"switchboard_bytes_in_total 5",
		"switchboard_messages_out_total 2",
		"switchboard_bytes_out_total 14", // two 7-byte frames
		"switchboard_channels 1",
		"switchboard_users 1",
		"switchboard_groups 1",
		"switchboard_group_memberships 1",
		`switchboard_recoveries_total{result="missed"} 2`,
		`switchboard_broker_call_seconds_count{op="publish"} 1`,
		"switchboard_outbound_queue_bytes 0",
		"switchboard_history_entries 1",
		"switchboard_history_bytes 5",
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// queueBroker is a MemoryBroker that says it has publishes waiting.
type queueBroker struct{ *channels.MemoryBroker }

func (queueBroker) PendingPublishes() (int, int) { return 3, 300 }

func (queueBroker) Shards() []channels.ShardState {
	return []channels.ShardState{{Name: "0", Up: true, PendingBytes: 100}, {Name: "1", PendingBytes: 200}}
}

// A network broker's pipeline reports through the same collector: its
// publishes by kind, its failures by reason, its round trips and, read
// at scrape time, what waits.
func TestPipelineSeries(t *testing.T) {
	m := prom.New(nil)
	box := channels.NewBox(&channels.Options{Broker: queueBroker{channels.NewMemoryBroker(nil)}})
	defer box.Close(context.Background())
	m.Watch(box)
	m.PipelinePublish(true, time.Millisecond, nil)
	m.PipelinePublish(false, time.Millisecond, channels.ErrBrokerBusy)
	m.PipelinePublish(false, time.Millisecond, channels.ErrBrokerUnavailable)
	m.PipelineBatch(64, 200*time.Microsecond)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`switchboard_pipeline_publish_seconds_count{kind="saved"} 1`,
		`switchboard_pipeline_publish_seconds_count{kind="unsaved"} 2`,
		`switchboard_pipeline_errors_total{kind="unsaved",reason="busy"} 1`,
		`switchboard_pipeline_errors_total{kind="unsaved",reason="unavailable"} 1`,
		`switchboard_pipeline_batch_messages_sum 64`,
		`switchboard_pipeline_batch_seconds_count 1`,
		`switchboard_pipeline_pending_messages 3`,
		`switchboard_pipeline_pending_bytes 300`,
		`switchboard_broker_shard_up{shard="0"} 1`,
		`switchboard_broker_shard_up{shard="1"} 0`,
		`switchboard_broker_shard_pending_bytes{shard="1"} 200`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
}
