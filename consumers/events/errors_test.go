package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/websocket"
)

// leaks are what an error event's text must never show: package names,
// Go types, decoder errors.
var leaks = []string{"consumers:", "events:", "protocol:", "channels:", "json:", "msgpack:", "Go value", "main.", "redis", "127.0.0.1", "%!"}

// Error events carry a code and a short message, never the error's text;
// the log has the whole error.
func TestErrorEventsAreCodedAndDoNotLeak(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	logs := &logRecords{}
	ev := events.NewEvents(&events.EventOptions{Box: box, Logger: slog.New(logs)})
	ev.On("typed", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p struct{ N int }
		return e.Decode(&p)
	})
	ev.On("outage", func(context.Context, *events.EventConn, *events.Event) error {
		return fmt.Errorf("redis 127.0.0.1:6379: %w", channels.ErrBrokerUnavailable)
	})
	ev.On("coded", func(context.Context, *events.EventConn, *events.Event) error {
		return &events.ClientError{Code: protocol.CodeTooLarge, Message: "keep it short", Err: errors.New("main.post: 9000 bytes")}
	})
	ev.On("wrapped", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		return fmt.Errorf("main.wrapped: %w", events.NewError(protocol.CodeForbidden, ""))
	})
	ev.On("nocode", func(context.Context, *events.EventConn, *events.Event) error {
		return &events.ClientError{Message: "main.x at 0xc000012345"}
	})
	ev.On("bug", func(context.Context, *events.EventConn, *events.Event) error {
		return errors.New("main.handler: dial tcp 10.0.0.7:5432: refused")
	})
	c := dialEvents(t, serveEvents(t, box, ev))
	for _, tt := range []struct{ send, code, msg string }{
		{`{"event":"typed","payload":{"N":"x"},"ref":"1"}`, "bad_request", "invalid payload for typed"},
		{`{"event":"join","payload":{"room":7},"ref":"2"}`, "bad_request", "invalid payload for join"},
		{`{"event":"join","payload":{"room":"` + strings.Repeat("r", 300) + `"},"ref":"3"}`, "bad_request", "invalid room name"},
		{`{"event":"join","payload":{},"ref":"4"}`, "bad_request", "no room given"},
		{`{"event":"nope","ref":"5"}`, "not_found", "unknown event"},
		{`{"event":"main.nope","ref":"6"}`, "not_found", "unknown event"},
		{`{"event":"outage","ref":"7"}`, "unavailable", "unavailable, try again later"},
		{`{"event":"coded","ref":"8"}`, "too_large", "keep it short"},
		{`{"event":"wrapped","ref":"9"}`, "forbidden", "forbidden"},
		{`{"event":"bug","ref":"10"}`, "internal", "internal error"},
		{`{"event":"nocode","ref":"10b"}`, "internal", "internal error"},
		{`{"event":"typed","ref":11`, "bad_request", "invalid envelope"},
		{`{"event":{"x":1},"ref":"12"}`, "bad_request", "envelope without an event name"},
		{`{"event":"typed","room":[1],"ref":"13"}`, "bad_request", "invalid envelope"},
	} {
		c.send(tt.send)
		got := c.recv()
		p, _ := got["payload"].(map[string]any)
		if got["event"] != "error" || p["code"] != tt.code || p["error"] != tt.msg || len(p) != 2 {
			t.Errorf("%.60s: got %v, want code %s, message %q", tt.send, got, tt.code, tt.msg)
		}
		for _, leak := range leaks {
			if strings.Contains(jsonOf(got), leak) {
				t.Errorf("%.60s: the error event shows %q: %v", tt.send, leak, got)
			}
		}
	}
	// The log has the whole error, the client's event and connection.
	r, attrs, ok := logs.find("events: event failed")
	if !ok || r.Level != slog.LevelDebug || !strings.Contains(attrs["err"], "json:") || attrs["code"] != "bad_request" || attrs["id"] == "" || attrs["event"] != "typed" {
		t.Errorf("first failure logged as %v %v", r, attrs)
	}
	logs.mu.Lock()
	var bug bool
	for _, r := range logs.records {
		r.Attrs(func(a slog.Attr) bool {
			bug = bug || (r.Level == slog.LevelError && a.Key == "err" && strings.Contains(a.Value.String(), "10.0.0.7"))
			return true
		})
	}
	logs.mu.Unlock()
	if !bug {
		t.Error("a handler's unknown error is not logged at Error with its text")
	}
}

// An event handler's error that chooses a close (websocket.Ending) closes
// the connection with it, 1013 included; an outage's 1013 is answered
// with an error event instead, and the connection stays open.
func TestHandlerCloseRequests(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	ev := events.NewEvents(&events.EventOptions{Box: box, Logger: slog.New(slog.DiscardHandler)})
	ev.On("bye", func(context.Context, *events.EventConn, *events.Event) error {
		return fmt.Errorf("main.bye: %w", websocket.NewCloseError(websocket.StatusPolicyViolation, "no spam"))
	})
	ev.On("busy", func(context.Context, *events.EventConn, *events.Event) error {
		return websocket.NewCloseError(websocket.StatusTryAgainLater, "busy")
	})
	ev.On("outage", func(context.Context, *events.EventConn, *events.Event) error {
		return fmt.Errorf("publish: %w", channels.ErrBrokerBusy)
	})
	url := serveEvents(t, box, ev)
	for _, tt := range []struct {
		event  string
		code   int
		reason string
	}{{"bye", 1008, "no spam"}, {"busy", 1013, "busy"}} {
		c := dialEvents(t, url)
		c.send(`{"event":"outage","ref":"1"}`)
		if got := c.recv(); got["event"] != "error" || got["payload"].(map[string]any)["code"] != "unavailable" {
			t.Errorf("outage: %v, want an unavailable error event", got)
		}
		c.send(`{"event":"` + tt.event + `","ref":"2"}`)
		c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := c.c.ReadMessage()
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != tt.code || ce.Text != tt.reason {
			t.Errorf("%s: read %q, %v; want close %d %q", tt.event, data, err, tt.code, tt.reason)
		}
	}
}
