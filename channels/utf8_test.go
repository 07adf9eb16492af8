package channels_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// A send of a string that is not valid UTF-8, or of a value whose JSON is
// not (a json.RawMessage, a json.Marshaler), returns
// websocket.ErrInvalidUTF8 and reaches no member and no history: the first
// message every member then reads is the next, valid one. The msgpack
// member joins first, so that a value would reach it before the JSON
// members' frame is made.
func TestSendsRefuseInvalidUTF8(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	var conns []*gws.Conn
	var chs []*channels.Channel
	for _, typ := range []string{"msgpack", "json", "text", "bytes"} {
		c, ch := e.connect(query("type", typ, "group", "g", "user", "u"))
		conns, chs = append(conns, c), append(chs, ch)
	}
	ctx := context.Background()
	bad := "ok \xff\xfe"
	raw := json.RawMessage(`"` + bad + `"`)
	for _, tt := range []struct {
		name string
		send func() error
	}{
		{"GroupSend", func() error { _, err := e.box.GroupSend(ctx, "g", bad); return err }},
		{"GroupSend saved", func() error { _, err := e.box.GroupSend(ctx, "g", bad, channels.SaveHistory()); return err }},
		{"GroupSend value", func() error { _, err := e.box.GroupSend(ctx, "g", raw); return err }},
		{"GroupSend saved value", func() error { _, err := e.box.GroupSend(ctx, "g", raw, channels.SaveHistory()); return err }},
		{"SendToUser", func() error { _, err := e.box.SendToUser(ctx, "u", bad); return err }},
		{"SendToUser value", func() error { _, err := e.box.SendToUser(ctx, "u", raw); return err }},
		{"SendTo", func() error { return e.box.SendTo(ctx, chs[1].ID(), bad) }},
		{"Channel.Send", func() error { return chs[2].Send(bad) }},
	} {
		if err := tt.send(); !errors.Is(err, websocket.ErrInvalidUTF8) {
			t.Errorf("%s: %v, want websocket.ErrInvalidUTF8", tt.name, err)
		}
	}
	if entries, _, _, err := e.box.History(ctx, "g", nil); err != nil || len(entries) != 0 {
		t.Errorf("history: %d entries, %v; want none", len(entries), err)
	}
	if n, err := e.box.GroupSend(ctx, "g", "next"); err != nil || n != len(conns) {
		t.Fatalf("GroupSend: %d, %v", n, err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		typ, data, err := c.ReadMessage()
		if err != nil || typ != gws.TextMessage || string(data) != "next" {
			t.Errorf("member %d: first message %d %q, %v; want the text \"next\"", i, typ, data, err)
		}
	}
}
