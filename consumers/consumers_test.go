package consumers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a consumer that logs its hooks and reacts to commands.
type recorder struct {
	consumers.Base
	log   *eventLog
	count int // state across messages of one connection
}

type eventLog struct {
	mu     sync.Mutex
	events []string
	done   chan struct{}
}

func newLog() *eventLog { return &eventLog{done: make(chan struct{}, 16)} }

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, " ")
}

func (r *recorder) OnConnect(ctx context.Context) error {
	r.log.add("connect(%s)", r.WebSocket().PathParam("room"))
	switch r.WebSocket().Query().Get("connect") {
	case "reject":
		return errors.New("not you")
	case "coded":
		return websocket.NewCloseError(websocket.StatusUnauthorized, "who?")
	case "panic":
		panic("connect bug")
	case "silent":
		return nil // never accepts
	case "outage":
		return fmt.Errorf("presence: %w", channels.ErrBrokerUnavailable)
	case "fail-after-accept":
		r.Accept(ctx)
		return errors.New("setup failed")
	}
	if err := r.Accept(ctx); err != nil {
		return err
	}
	_, err := r.JoinGroup(ctx, "room:"+r.WebSocket().PathParam("room"))
	return err
}

func (r *recorder) OnReceive(ctx context.Context, msg any) error {
	r.count++
	r.log.add("receive(%s,%d,%v)", r.WebSocket().PathParam("room"), r.count, msg)
	switch msg {
	case "panic":
		panic("boom")
	case "fail":
		return errors.New("handler failed")
	case "coded":
		return websocket.NewCloseError(websocket.StatusPolicyViolation, "no")
	case "outage":
		return fmt.Errorf("publish: %w", channels.ErrBrokerUnavailable)
	case "close":
		return r.Close(4100, "bye")
	}
	_, err := r.Broadcast(ctx, "room:"+r.WebSocket().PathParam("room"), fmt.Sprintf("%v#%d", msg, r.count))
	return err
}

func (r *recorder) OnDisconnect(code websocket.StatusCode) {
	r.log.add("disconnect(%s,%d)", r.WebSocket().PathParam("room"), int(code))
	r.log.done <- struct{}{}
}

type setup struct {
	box *channels.ChannelBox
	url string
	log *eventLog
}

func start(t *testing.T, enc channels.PayloadType) *setup {
	t.Helper()
	box := channels.NewBox(nil)
	s := &setup{box: box, log: newLog()}
	rt := router.New()
	rt.HandleFunc("/ws/{room}", consumers.Handler(func() consumers.Consumer {
		return &recorder{log: s.log}
	}, &consumers.Options{Box: box, Encoding: enc, Logger: slog.New(slog.DiscardHandler)}))
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		box.Close(context.Background())
		srv.Close()
	})
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

func (s *setup) dial(t *testing.T, path string) *gws.Conn {
	t.Helper()
	c, _, err := gws.DefaultDialer.Dial(s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

// waitMembers waits until group has n members: a dial returns at the
// handshake, before OnConnect has joined the group.
func (s *setup) waitMembers(t *testing.T, group string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.box.Members(group)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d members, want %d", group, len(s.box.Members(group)), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *setup) waitDisconnect(t *testing.T) {
	t.Helper()
	select {
	case <-s.log.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("no OnDisconnect; log: %s", s.log)
	}
}

func closeCode(t *testing.T, c *gws.Conn) int {
	t.Helper()
	for {
		_, _, err := c.ReadMessage()
		var ce *gws.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
}

func TestHooksOrderStateAndAutoLeave(t *testing.T) {
	t.Parallel()
	s := start(t, channels.Text)
	a := s.dial(t, "/ws/blue")
	b := s.dial(t, "/ws/blue")
	s.waitMembers(t, "room:blue", 2)
	a.WriteMessage(gws.TextMessage, []byte("hi"))
	a.WriteMessage(gws.TextMessage, []byte("again"))
	for _, c := range []*gws.Conn{a, b} {
		for _, want := range []string{"hi#1", "again#2"} {
			if _, data, err := c.ReadMessage(); err != nil || string(data) != want {
				t.Fatalf("got %q %v, want %q", data, err, want)
			}
		}
	}
	b.WriteMessage(gws.TextMessage, []byte("from b")) // b's own counter
	if _, data, _ := a.ReadMessage(); string(data) != "from b#1" {
		t.Errorf("a got %q: state is not per connection", data)
	}
	a.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(4200, "leaving"), time.Now().Add(time.Second))
	s.waitDisconnect(t)
	want := "connect(blue) connect(blue) receive(blue,1,hi) receive(blue,2,again) receive(blue,1,from b) disconnect(blue,4200)"
	if got := s.log.String(); got != want {
		t.Errorf("hooks\n got %s\nwant %s", got, want)
	}
	if m := s.box.Members("room:blue"); len(m) != 1 {
		t.Errorf("%d members after a disconnect, want 1 (auto-leave)", len(m))
	}
}

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	mp, _ := msgpack.Marshal(map[string]int{"a": 1})
	tests := []struct {
		name string
		enc  channels.PayloadType
		typ  int
		data []byte
		code int
	}{
		{"binary to a text consumer", channels.Text, gws.BinaryMessage, []byte{1}, 1003},
		{"text to a msgpack consumer", channels.Msgpack, gws.TextMessage, []byte("x"), 1003},
		{"bad JSON", channels.JSON, gws.TextMessage, []byte("{nope"), 1007},
		{"bad msgpack", channels.Msgpack, gws.BinaryMessage, []byte{0xc1}, 1007},
		{"panic", channels.Text, gws.TextMessage, []byte("panic"), 1011},
		{"error", channels.Text, gws.TextMessage, []byte("fail"), 1011},
		{"close error", channels.Text, gws.TextMessage, []byte("coded"), 1008},
		{"broker unavailable", channels.Text, gws.TextMessage, []byte("outage"), 1013},
		{"hook closes", channels.Text, gws.TextMessage, []byte("close"), 4100},
		{"good msgpack then close", channels.Msgpack, gws.BinaryMessage, mp, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, tt.enc)
			c := s.dial(t, "/ws/r")
			s.waitMembers(t, "room:r", 1)
			c.WriteMessage(tt.typ, tt.data)
			if tt.code == 0 {
				if _, data, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(data), "map[a:1]") {
					t.Fatalf("decoded message: %q %v", data, err)
				}
				c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
				tt.code = 1000
			} else if got := closeCode(t, c); got != tt.code {
				t.Errorf("client saw %d, want %d", got, tt.code)
			}
			s.waitDisconnect(t)
			if want := fmt.Sprintf("disconnect(r,%d)", tt.code); !strings.HasSuffix(s.log.String(), want) {
				t.Errorf("log %s, want it to end with %s", s.log, want)
			}
		})
	}
}

func TestConnectOutcomes(t *testing.T) {
	t.Parallel()
	s := start(t, channels.Text)
	// An OnConnect error refuses (a CloseError too: before Accept it has
	// no close to carry); a panic is a failure of the server (see
	// websocket.Ending).
	for _, q := range []string{"reject", "silent", "coded"} {
		_, resp, err := gws.DefaultDialer.Dial(s.url+"/ws/r?connect="+q, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("connect=%s: %v, want 403", q, err)
		}
	}
	if _, resp, err := gws.DefaultDialer.Dial(s.url+"/ws/r?connect=panic", nil); err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("connect=panic: %v, want 500", err)
	}
	// A broker outage before Accept asks the client to come back later.
	if _, resp, err := gws.DefaultDialer.Dial(s.url+"/ws/r?connect=outage", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("connect=outage: %v, want 503", err)
	}
	c := s.dial(t, "/ws/r?connect=fail-after-accept")
	if code := closeCode(t, c); code != 1011 {
		t.Errorf("OnConnect error after Accept: close %d, want 1011", code)
	}
	s.waitDisconnect(t)
	// Only the accepted connection had an OnDisconnect.
	if got := strings.Count(s.log.String(), "disconnect"); got != 1 {
		t.Errorf("log %s", s.log)
	}
}

// plain is a consumer that only embeds Base: it accepts and ignores.
type plain struct{ consumers.Base }

func TestDefaultsAndNoBox(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 4)
	rt := router.New()
	rt.HandleFunc("/ws", consumers.Handler(func() consumers.Consumer {
		return &probe{errs: errs}
	}, nil))
	rt.HandleFunc("/plain", consumers.Handler(func() consumers.Consumer { return &plain{} }, nil))
	srv := httptest.NewServer(rt)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	c, _, err := gws.DefaultDialer.Dial(base+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-errs; !errors.Is(err, consumers.ErrNoBox) {
		t.Errorf("JoinGroup without a box: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := c.ReadMessage(); err != nil || string(data) != `{"hello":"world"}` {
		t.Errorf("Send without a box: %q %v", data, err)
	}
	p, _, err := gws.DefaultDialer.Dial(base+"/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	p.WriteMessage(gws.TextMessage, []byte(`"ignored"`))
	p.Close()
}

type probe struct {
	consumers.Base
	errs chan error
}

func (p *probe) OnConnect(ctx context.Context) error {
	if err := p.Accept(ctx); err != nil {
		return err
	}
	_, err := p.JoinGroup(ctx, "g")
	p.errs <- err
	return p.Send(map[string]string{"hello": "world"})
}

// echoer sends back what it received, encoded for its connection.
type echoer struct{ consumers.Base }

func (e *echoer) OnReceive(ctx context.Context, msg any) error {
	return e.Send(map[string]any{"got": msg})
}

// Options.Subprotocols picks a connection's encoding, for what it
// receives and what is sent to it, from the subprotocol agreed on.
func TestSubprotocolsPickTheEncoding(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	rt := router.New()
	rt.HandleFunc("/ws", consumers.Handler(func() consumers.Consumer { return &echoer{} }, &consumers.Options{
		Box: box, Encoding: channels.JSON, Logger: slog.New(slog.DiscardHandler),
		Subprotocols: []consumers.Subprotocol{{Name: "x.msgpack", Encoding: channels.Msgpack}},
	}))
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		box.Close(context.Background())
		srv.Close()
	})
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	for _, tt := range []struct {
		offer    []string
		agreed   string
		typ      int
		frame    []byte
		wantType int
	}{
		{[]string{"x.msgpack"}, "x.msgpack", gws.BinaryMessage, must(msgpack.Marshal("hi")), gws.BinaryMessage},
		{nil, "", gws.TextMessage, []byte(`"hi"`), gws.TextMessage},
		{[]string{"other"}, "", gws.TextMessage, []byte(`"hi"`), gws.TextMessage},
	} {
		c, resp, err := (&gws.Dialer{Subprotocols: tt.offer}).Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.agreed {
			t.Errorf("offered %v, agreed on %q, want %q", tt.offer, got, tt.agreed)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.WriteMessage(tt.typ, tt.frame)
		typ, data, err := c.ReadMessage()
		if err != nil || typ != tt.wantType {
			t.Fatalf("offered %v: read %d %q %v, want type %d", tt.offer, typ, data, err, tt.wantType)
		}
		var got map[string]any
		if typ == gws.BinaryMessage {
			err = msgpack.Unmarshal(data, &got)
		} else {
			err = json.Unmarshal(data, &got)
		}
		if err != nil || got["got"] != "hi" {
			t.Errorf("offered %v: got %q (%v)", tt.offer, data, err)
		}
		c.Close()
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
