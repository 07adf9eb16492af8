package eventstest_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/eventstest"
)

type Msg struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// chat is the endpoint under test: "say" sends a message to a room the
// sender is in, signed with the name it connected with.
func chat(box *channels.ChannelBox) *events.Events {
	ev := events.NewEvents(&events.EventOptions{Box: box})
	ev.On("say", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var m Msg
		if err := e.Decode(&m); err != nil {
			return err
		}
		m.From = c.WebSocket().Query().Get("name")
		_, err := c.EmitToRoom(ctx, e.Room, "said", m)
		return err
	})
	return ev
}

func Example() {
	t := &exampleT{} // in a test, the *testing.T
	defer t.cleanup()
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	srv := eventstest.NewServer(t, chat(box), nil)

	ada := srv.Connect(url.Values{"name": {"ada"}}, nil)
	bob := srv.Connect(url.Values{"name": {"bob"}}, nil)
	ada.Join("lobby")
	bob.Join("lobby")

	ada.Call("say", Msg{Text: "hi"}, client.InRoom("lobby"))
	fmt.Println(eventstest.Expect[Msg](bob, "said"))

	bob.Drop() // bob's network goes; ada talks meanwhile
	ada.Call("say", Msg{Text: "still there?"}, client.InRoom("lobby"))
	bob.Restore() // bob reconnects and recovers what he missed
	fmt.Println(eventstest.Expect[Msg](bob, "said"))

	fmt.Println(ada.CallError("say", "not an object", client.InRoom("lobby")))
	// Output:
	// {ada hi}
	// {ada still there?}
	// client: bad_request: invalid payload for say
}

// exampleT stands in for a *testing.T in the example.
type exampleT struct{ cleanups []func() }

func (*exampleT) Helper()                        {}
func (*exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (*exampleT) Logf(string, ...any)            {}
func (t *exampleT) Cleanup(fn func())            { t.cleanups = append(t.cleanups, fn) }
func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
