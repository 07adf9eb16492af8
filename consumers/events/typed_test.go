package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
)

type sum struct {
	A, B int
}

type total struct {
	Sum int `json:"sum"`
}

// startTyped serves the typed handlers of the tests below.
func startTyped(t *testing.T) string {
	t.Helper()
	ev, url := startEvents(t, nil)
	events.On(ev, "say", func(ctx context.Context, c *events.EventConn, p struct{ Text string }) error {
		if p.Text == "" {
			return events.NewError(protocol.CodeBadRequest, "say something")
		}
		e := events.EventOf(ctx)
		return c.Emit("said", map[string]string{"text": p.Text, "room": e.Room, "ref": e.Ref})
	})
	events.OnRequest(ev, "add", func(ctx context.Context, c *events.EventConn, p sum) (total, error) {
		if p.A < 0 {
			return total{}, errors.New("main.add: negative")
		}
		return total{p.A + p.B}, nil
	})
	return url
}

// The typed forms decode the payload for the handler; a payload that
// does not decode is a bad_request naming the event and no Go type; a
// request's result is the ack's payload.
func TestTypedHandlers(t *testing.T) {
	t.Parallel()
	c := dialEvents(t, startTyped(t))
	for _, tt := range []struct{ send, want string }{
		{`{"event":"say","payload":{"Text":"hi"},"room":"r1","ref":"1"}`, `{"event":"said","payload":{"ref":"1","room":"r1","text":"hi"}}`},
		// the ack of a typed handler that returned nil
		{``, `{"event":"ack","payload":null,"ref":"1"}`},
		{`{"event":"say","payload":{"Text":""},"ref":"2"}`, `{"event":"error","payload":{"code":"bad_request","error":"say something"},"ref":"2"}`},
		{`{"event":"say","payload":{"Text":7},"ref":"3"}`, `{"event":"error","payload":{"code":"bad_request","error":"invalid payload for say"},"ref":"3"}`},
		{`{"event":"say","payload":"hi","ref":"4"}`, `{"event":"error","payload":{"code":"bad_request","error":"invalid payload for say"},"ref":"4"}`},
		{`{"event":"add","payload":{"A":2,"B":40},"ref":"5"}`, `{"event":"ack","payload":{"sum":42},"ref":"5"}`},
		{`{"event":"add","payload":{"A":-1},"ref":"6"}`, `{"event":"error","payload":{"code":"internal","error":"internal error"},"ref":"6"}`},
		{`{"event":"add","payload":[1,2],"ref":"7"}`, `{"event":"error","payload":{"code":"bad_request","error":"invalid payload for add"},"ref":"7"}`},
		// a request without a ref gets no answer: the next frame is the
		// echo's
		{`{"event":"add","payload":{"A":1,"B":1}}`, ``},
		{`{"event":"echo","payload":"after","ref":"8"}`, `{"event":"echo","payload":"after","ref":"8"}`},
	} {
		if tt.send != "" {
			c.send(tt.send)
		}
		if tt.want == "" {
			continue
		}
		got := c.recv()
		var want map[string]any
		if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %s, want %s", tt.send, jsonOf(got), tt.want)
		}
		if strings.Contains(jsonOf(got), "struct") || strings.Contains(jsonOf(got), "events_test") {
			t.Errorf("%s: the answer shows a Go type: %s", tt.send, jsonOf(got))
		}
	}
}

// A request's result reaches a msgpack client as the ack's payload too.
func TestTypedRequestOverMsgpack(t *testing.T) {
	t.Parallel()
	c := dialEvents(t, startTyped(t), protocol.SubprotocolMsgpack)
	frame, _ := msgpack.Marshal(map[string]any{"event": "add", "payload": map[string]any{"A": 3, "B": 4}, "ref": 9})
	if err := c.c.WriteMessage(2, frame); err != nil {
		t.Fatal(err)
	}
	got := c.recvMsgpack()
	p, _ := got["payload"].(map[string]any)
	if got["event"] != "ack" || got["ref"] != "9" || p == nil || toInt(p["sum"]) != 7 {
		t.Errorf("got %v, want an ack with sum 7", got)
	}
}

// EventOf is nil outside a handler.
func TestEventOfOutsideAHandler(t *testing.T) {
	t.Parallel()
	if ev := events.EventOf(context.Background()); ev != nil {
		t.Errorf("EventOf(Background) = %v", ev)
	}
}

// On and OnRequest refuse what Events.On refuses, at registration.
func TestTypedRegistrationPanics(t *testing.T) {
	t.Parallel()
	ev := events.NewEvents(nil)
	events.On(ev, "x", func(context.Context, *events.EventConn, int) error { return nil })
	for name, register := range map[string]func(){
		"nil handler": func() { events.On[int](ev, "y", nil) },
		"nil request": func() { events.OnRequest[int, int](ev, "z", nil) },
		"duplicate": func() {
			events.OnRequest(ev, "x", func(context.Context, *events.EventConn, int) (int, error) { return 0, nil })
		},
		"empty name": func() { events.On(ev, "", func(context.Context, *events.EventConn, int) error { return nil }) },
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(p.(string), "events: ") {
					t.Errorf("%s: panic %v, want one beginning with events:", name, p)
				}
			}()
			register()
		}()
	}
}

func toInt(v any) int {
	switch n := v.(type) {
	case int8:
		return int(n)
	case uint8:
		return int(n)
	case int64:
		return int(n)
	case uint64:
		return int(n)
	}
	return -1
}
