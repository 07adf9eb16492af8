package channels_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// slowBroker is a MemoryBroker with a network-like round trip on
// Disconnected.
type slowBroker struct{ *channels.MemoryBroker }

func (s slowBroker) Disconnected(c context.Context, h channels.Handler, id, user string) (bool, error) {
	time.Sleep(20 * time.Millisecond)
	return s.MemoryBroker.Disconnected(c, h, id, user)
}

// When Close returns, every channel has left the box and every OnOffline
// has run, even with a broker that takes its time.
func TestCloseWaitsForRemovalsAndOffline(t *testing.T) {
	t.Parallel()
	var on, off atomic.Int32
	e := newEnv(t, &channels.Options{
		Broker:    slowBroker{channels.NewMemoryBroker(nil)},
		OnOnline:  func(string) { on.Add(1) },
		OnOffline: func(string) { off.Add(1) },
	}, nil)
	const n = 20
	var ids []string
	for i := range n {
		c, ch := e.connect(query("user", "u"+itoa(i)))
		ids = append(ids, ch.ID())
		go func() { // a live client, answering the close handshake
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	eventually(t, "online", func() bool { return on.Load() == n })
	if err := e.box.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok := e.box.Channel(id); ok {
			t.Fatal("a channel is still registered after Close")
		}
	}
	if off.Load() != n {
		t.Errorf("OnOffline ran %d of %d times before Close returned", off.Load(), n)
	}
}

// A Close whose context has ended aborts the connections rather than
// leaving them open; a second Close waits for the first and returns its
// result.
func TestCloseWithEndedContextAborts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &channels.Options{DrainBatch: 2}, nil)
	var chs []*channels.Channel
	for range 10 {
		_, ch := e.connect(nil)
		chs = append(chs, ch)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.box.Close(ended); !errors.Is(err, context.Canceled) {
		t.Errorf("Close: %v, want context.Canceled", err)
	}
	if err := e.box.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("second Close: %v, want the first one's result", err)
	}
	for _, ch := range chs {
		if ch.WebSocket().IsConnected() {
			t.Fatal("a connection is still open after Close")
		}
		if _, ok := e.box.Channel(ch.ID()); ok {
			t.Fatal("a channel is still registered after Close")
		}
	}
	if _, err := e.box.SendToUser(ctx, "x", "y"); !errors.Is(err, channels.ErrBoxClosed) {
		t.Errorf("SendToUser after Close: %v", err)
	}
	if err := e.box.SendTo(ctx, "x", "y"); !errors.Is(err, channels.ErrBoxClosed) {
		t.Errorf("SendTo after Close: %v", err)
	}
}

func TestSavedBytesAreCopied(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	defer box.Close(ctx)
	buf := []byte("first")
	box.GroupSend(ctx, "g", buf, channels.SaveHistory())
	copy(buf, "XXXXX") // the caller reuses its buffer
	es, _, _, _ := box.History(ctx, "g", nil)
	if got := string(es[0].Message.Data); got != "first" {
		t.Errorf("history entry changed with the caller's buffer: %q", got)
	}
}

// gateBroker holds AddPresence until released.
type gateBroker struct {
	*channels.MemoryBroker
	entered, release chan struct{}
}

func (g *gateBroker) AddPresence(c context.Context, group string, p channels.PresenceInfo) error {
	g.entered <- struct{}{}
	<-g.release
	return g.MemoryBroker.AddPresence(c, group, p)
}

// A channel's broker calls follow its local changes: a leave or a close
// that comes while its join is still talking to the broker reaches the
// broker after the join, and no stale presence is left.
func TestPresenceFollowsLocalOrder(t *testing.T) {
	t.Parallel()
	for _, leave := range []string{"remove", "close"} {
		t.Run(leave, func(t *testing.T) {
			gb := &gateBroker{MemoryBroker: channels.NewMemoryBroker(nil), entered: make(chan struct{}), release: make(chan struct{})}
			e := newEnv(t, &channels.Options{Broker: gb}, nil)
			c, ch := e.connect(nil)
			joined := make(chan error, 1)
			go func() { _, err := e.box.AddToGroup(ctx, "room", ch.ID()); joined <- err }()
			<-gb.entered // joined locally; the broker has not heard yet
			left := make(chan struct{})
			go func() {
				defer close(left)
				if leave == "remove" {
					e.box.RemoveFromGroup(ctx, "room", ch.ID())
				} else {
					c.Close()
					eventually(t, "removal", func() bool { _, ok := e.box.Channel(ch.ID()); return !ok })
				}
			}()
			time.Sleep(20 * time.Millisecond) // let the leave reach its lock
			close(gb.release)
			<-joined
			<-left
			if p, _ := e.box.Presence(ctx, "room"); len(p) != 0 {
				t.Errorf("stale presence: %v", p)
			}
		})
	}
}

// A channel removed (by a failing send) while it registers still ends with
// its user offline: the broker hears of the connect before the disconnect.
func TestRegisterRacingEviction(t *testing.T) {
	t.Parallel()
	const iters = 300
	var online, offline atomic.Int32
	box := channels.NewBox(&channels.Options{
		OnOnline:  func(string) { online.Add(1) },
		OnOffline: func(string) { offline.Add(1) },
	})
	defer box.Close(ctx)
	var seq atomic.Int64
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		user := "u" + strconv.FormatInt(seq.Add(1), 10)
		go ws.Close(4000, "bye") // closing, but still Connected for a moment
		for ws.SendText("probe") != websocket.ErrClosed {
			time.Sleep(time.Microsecond)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						box.SendToUser(ctx, user, "x") // evicts the closing channel
					}
				}
			}()
		}
		box.Register(ws, &channels.RegisterOptions{User: user})
		time.Sleep(200 * time.Microsecond)
		close(stop)
		wg.Wait()
		<-ws.Context().Done()
		return nil
	}, &websocket.Options{CloseTimeout: 20 * time.Millisecond}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for range iters {
		c, _, err := gws.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for { // answer the close
			if _, _, err := c.ReadMessage(); err != nil {
				break
			}
		}
		c.Close()
	}
	eventually(t, "every user offline", func() bool {
		users, _ := box.OnlineUsers(ctx)
		return len(users) == 0 && online.Load() == offline.Load()
	})
}
