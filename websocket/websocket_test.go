package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/websocket"
)

type point struct {
	X int    `json:"x" msgpack:"x"`
	Y string `json:"y" msgpack:"y"`
}

func TestReceiveVariants(t *testing.T) {
	t.Parallel()
	mp, _ := msgpack.Marshal(point{1, "a"})
	tests := []struct {
		name    string
		typ     int
		payload []byte
		recv    func(*websocket.WebSocket) (any, error)
		want    any
	}{
		{"text", gws.TextMessage, []byte("héllo"), func(ws *websocket.WebSocket) (any, error) {
			return ws.ReceiveText(context.Background())
		}, "héllo"},
		{"bytes", gws.BinaryMessage, []byte{0, 1, 2}, func(ws *websocket.WebSocket) (any, error) {
			b, err := ws.ReceiveBytes(context.Background())
			return string(b), err
		}, "\x00\x01\x02"},
		{"json", gws.TextMessage, []byte(`{"x":1,"y":"a"}`), func(ws *websocket.WebSocket) (any, error) {
			var p point
			err := ws.ReceiveJSON(context.Background(), &p)
			return p, err
		}, point{1, "a"}},
		{"msgpack", gws.BinaryMessage, mp, func(ws *websocket.WebSocket) (any, error) {
			var p point
			err := ws.ReceiveMsgpack(context.Background(), &p)
			return p, err
		}, point{1, "a"}},
		{"receive", gws.BinaryMessage, []byte("raw"), func(ws *websocket.WebSocket) (any, error) {
			typ, b, err := ws.Receive(context.Background())
			return fmt.Sprintf("%s:%s", typ, b), err
		}, "binary:raw"},
		{"empty text", gws.TextMessage, nil, func(ws *websocket.WebSocket) (any, error) {
			return ws.ReceiveText(context.Background())
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan any, 1)
			url, done := server(t, nil, func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					return err
				}
				v, err := tt.recv(ws)
				if err != nil {
					return err
				}
				got <- v
				_, _, err = ws.Receive(context.Background())
				return err
			})
			c := dial(t, url, nil)
			if err := c.WriteMessage(tt.typ, tt.payload); err != nil {
				t.Fatal(err)
			}
			select {
			case v := <-got:
				if v != tt.want {
					t.Errorf("got %#v, want %#v", v, tt.want)
				}
			case err := <-done:
				t.Fatalf("handler returned %v", err)
			}
			c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(1000, ""))
			if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusNormalClosure {
				t.Errorf("handler saw %v, want 1000", code)
			}
		})
	}
}

func TestSendVariants(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 70000) // 64-bit length header
	mid := strings.Repeat("y", 300)   // 16-bit length header
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		for _, err := range []error{
			ws.SendText("text"),
			ws.SendBytes([]byte{9, 8}),
			ws.SendJSON(point{2, "b"}),
			ws.SendMsgpack(point{3, "c"}),
			ws.Send(websocket.TextMessage, []byte(mid)),
			ws.SendPrepared(mustPrepare(websocket.TextMessage, []byte(big))),
			ws.SendText(""),
		} {
			if err != nil {
				return err
			}
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	mp, _ := msgpack.Marshal(point{3, "c"})
	want := []struct {
		typ  int
		data string
	}{
		{gws.TextMessage, "text"},
		{gws.BinaryMessage, "\x09\x08"},
		{gws.TextMessage, `{"x":2,"y":"b"}`},
		{gws.BinaryMessage, string(mp)},
		{gws.TextMessage, mid},
		{gws.TextMessage, big},
		{gws.TextMessage, ""},
	}
	for i, w := range want {
		typ, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != w.typ || string(data) != w.data {
			t.Errorf("message %d: got type %d %.40q, want type %d %.40q", i, typ, data, w.typ, w.data)
		}
	}
	c.Close()
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusAbnormalClosure {
		t.Errorf("handler saw %v after the client dropped, want 1006", code)
	}
}

func TestWrongFrameTypeKeepsConnection(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 4)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, err := ws.ReceiveText(context.Background())
		errs <- err
		_, err = ws.ReceiveBytes(context.Background())
		errs <- err
		var v any
		errs <- ws.ReceiveMsgpack(context.Background(), &v)
		s, err := ws.ReceiveText(context.Background())
		if err != nil {
			return err
		}
		return ws.SendText("still here: " + s)
	})
	c := dial(t, url, nil)
	c.WriteMessage(gws.BinaryMessage, []byte{1})
	c.WriteMessage(gws.TextMessage, []byte("t"))
	c.WriteMessage(gws.TextMessage, []byte("t"))
	c.WriteMessage(gws.TextMessage, []byte("ok"))
	wants := []struct{ want, got websocket.MessageType }{
		{websocket.TextMessage, websocket.BinaryMessage},
		{websocket.BinaryMessage, websocket.TextMessage},
		{websocket.BinaryMessage, websocket.TextMessage},
	}
	for i, w := range wants {
		err := <-errs
		var mte *websocket.MessageTypeError
		if !errors.As(err, &mte) || mte.Want != w.want || mte.Got != w.got {
			t.Fatalf("call %d: err %v, want MessageTypeError{%v, %v}", i, err, w.want, w.got)
		}
		msg := err.Error()
		if !strings.Contains(msg, w.want.String()) || !strings.Contains(msg, w.got.String()) {
			t.Errorf("error %q does not name both types", msg)
		}
	}
	_, data, err := c.ReadMessage()
	if err != nil || string(data) != "still here: ok" {
		t.Fatalf("got %q, %v", data, err)
	}
	if ce := readClose(t, c); ce.Code != 1000 {
		t.Errorf("close code %d, want 1000", ce.Code)
	}
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

func TestMalformedPayloadIsDecodeError(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 2)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		var v map[string]any
		errs <- ws.ReceiveJSON(context.Background(), &v)
		errs <- ws.ReceiveMsgpack(context.Background(), &v)
		if err := ws.ReceiveJSON(context.Background(), &v); err != nil {
			return err
		}
		return ws.SendJSON(v)
	})
	c := dial(t, url, nil)
	c.WriteMessage(gws.TextMessage, []byte(`{"broken":`))
	c.WriteMessage(gws.BinaryMessage, []byte{0xc1}) // never-used msgpack byte
	c.WriteMessage(gws.TextMessage, []byte(`{"fine":true}`))
	for _, codec := range []string{"json", "msgpack"} {
		var de *websocket.DecodeError
		if err := <-errs; !errors.As(err, &de) || de.Codec != codec {
			t.Errorf("got %v, want a %s DecodeError", err, codec)
		}
	}
	if _, data, err := c.ReadMessage(); err != nil || string(data) != `{"fine":true}` {
		t.Fatalf("got %q, %v", data, err)
	}
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

func TestOversizeMessageCloses1009(t *testing.T) {
	t.Parallel()
	url, done := server(t, &websocket.Options{ReadLimit: 1000}, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		if _, err := ws.ReceiveText(context.Background()); err != nil {
			return err // the exact-limit message must pass
		}
		_, err := ws.ReceiveText(context.Background())
		return err
	})
	c := dial(t, url, nil)
	c.WriteMessage(gws.TextMessage, []byte(strings.Repeat("a", 1000)))
	c.WriteMessage(gws.TextMessage, []byte(strings.Repeat("a", 1001)))
	if ce := readClose(t, c); ce.Code != 1009 {
		t.Errorf("client saw close %d, want 1009", ce.Code)
	}
	err := wait(t, done)
	var de *websocket.DisconnectError
	if !errors.As(err, &de) || de.Code != websocket.StatusMessageTooBig {
		t.Errorf("handler got %v, want DisconnectError 1009", err)
	}
}

func TestNoPongClosesWithPongTimeout(t *testing.T) {
	t.Parallel()
	opts := &websocket.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}
	url, done := server(t, opts, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	pings := 0
	c.SetPingHandler(func(string) error { pings++; return nil }) // never answers
	if ce := readClose(t, c); ce.Code != int(websocket.StatusPongTimeout) {
		t.Errorf("client saw close %d, want %d", ce.Code, websocket.StatusPongTimeout)
	}
	if pings == 0 {
		t.Error("the server never pinged")
	}
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusPongTimeout {
		t.Errorf("handler saw %v, want pong timeout", code)
	}
}

// One timer serves the keepalive of every connection of a Handler: among
// many at once, each silent one is closed with StatusPongTimeout and each
// one that answers stays open.
func TestKeepaliveManyConnections(t *testing.T) {
	t.Parallel()
	const n = 40
	codes := make(chan websocket.StatusCode, n)
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		codes <- websocket.CloseStatus(err)
		return err
	}, &websocket.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 300 * time.Millisecond}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	type client struct {
		c     *gws.Conn
		mu    sync.Mutex
		pings int
		ended chan error
	}
	clients := make([]*client, n)
	for i := range clients {
		cl := &client{c: dial(t, url, nil), ended: make(chan error, 1)}
		clients[i] = cl
		answers := i%2 == 0
		cl.c.SetPingHandler(func(data string) error {
			cl.mu.Lock()
			cl.pings++
			cl.mu.Unlock()
			if !answers {
				return nil
			}
			return cl.c.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() {
			cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				if _, _, err := cl.c.ReadMessage(); err != nil {
					cl.ended <- err
					return
				}
			}
		}()
	}
	for i := 1; i < n; i += 2 {
		var ce *gws.CloseError
		if err := <-clients[i].ended; !errors.As(err, &ce) || ce.Code != int(websocket.StatusPongTimeout) {
			t.Errorf("silent client %d: %v, want close %d", i, err, websocket.StatusPongTimeout)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < n; i += 2 {
		cl := clients[i]
		for {
			cl.mu.Lock()
			p := cl.pings
			cl.mu.Unlock()
			if p >= 5 {
				break
			}
			select {
			case err := <-cl.ended:
				t.Fatalf("answering client %d ended after %d pings: %v", i, p, err)
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("answering client %d got %d pings in 5s", i, p)
			}
		}
		cl.c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	}
	got := map[websocket.StatusCode]int{}
	for range n {
		select {
		case c := <-codes:
			got[c]++
		case <-time.After(10 * time.Second):
			t.Fatalf("handlers still running; ended so far: %v", got)
		}
	}
	if got[websocket.StatusPongTimeout] != n/2 || got[websocket.StatusNormalClosure] != n/2 {
		t.Errorf("handlers ended with %v, want %d pong timeouts and %d normal closures", got, n/2, n/2)
	}
}

func TestPongsKeepConnectionAlive(t *testing.T) {
	t.Parallel()
	// The pings span several pong timeouts, with room for a loaded machine
	// to answer each within one.
	opts := &websocket.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 150 * time.Millisecond}
	url, done := server(t, opts, echoText)
	c := dial(t, url, nil)
	pings := make(chan struct{}, 100)
	c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// Read (answering pings) until several pings have come and gone.
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		select {
		case <-pings:
		case err := <-done:
			t.Fatalf("connection ended after %d pings: %v", i, err)
		case <-time.After(5 * time.Second):
			t.Fatal("no ping")
		}
	}
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	if code := websocket.CloseStatus(wait(t, done)); code != 1000 {
		t.Errorf("handler saw %v, want 1000", code)
	}
}

func TestCloseStartedByServer(t *testing.T) {
	t.Parallel()
	closeErr := make(chan error, 1)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ws.SendText("before close")
		closeErr <- ws.Close(4100, "see you")
		if ws.State() != websocket.StateClosed {
			return fmt.Errorf("state %v after Close", ws.State())
		}
		if err := ws.Close(1000, "again"); err != nil {
			return fmt.Errorf("second Close: %v", err)
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "before close" {
		t.Fatalf("queued message not flushed before close: %q %v", data, err)
	}
	ce := readClose(t, c) // gorilla's client echoes the close frame
	if ce.Code != 4100 || ce.Text != "see you" {
		t.Errorf("client saw %d %q", ce.Code, ce.Text)
	}
	if err := <-closeErr; err != nil {
		t.Errorf("Close: %v", err)
	}
	var de *websocket.DisconnectError
	if err := wait(t, done); !errors.As(err, &de) || de.Code != 4100 || de.Reason != "see you" {
		t.Errorf("handler's Receive after Close: %v", err)
	}
}

func TestCloseStartedByClient(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		// Every later call reports the same disconnect, without blocking.
		for i := 0; i < 3; i++ {
			if _, _, again := ws.Receive(context.Background()); again.Error() != err.Error() {
				return fmt.Errorf("later Receive: %v, first %v", again, err)
			}
		}
		if sendErr := ws.SendText("x"); !errors.Is(sendErr, websocket.ErrClosed) {
			return fmt.Errorf("Send after disconnect: %v", sendErr)
		}
		if ws.IsConnected() || ws.Context().Err() == nil {
			return errors.New("still connected after disconnect")
		}
		return err
	})
	c := dial(t, url, nil)
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(4200, "client leaves"), time.Now().Add(time.Second))
	ce := readClose(t, c)
	if ce.Code != 4200 || ce.Text != "client leaves" {
		t.Errorf("server echoed %d %q, want 4200 \"client leaves\"", ce.Code, ce.Text)
	}
	var de *websocket.DisconnectError
	if err := wait(t, done); !errors.As(err, &de) || de.Code != 4200 || de.Reason != "client leaves" {
		t.Errorf("handler got %v", err)
	}
}

func TestConcurrentSendersKeepOrderAndLoseNothing(t *testing.T) {
	t.Parallel()
	const senders, each = 50, 200
	url, done := server(t, &websocket.Options{MaxQueueBytes: 16 << 20}, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for g := 0; g < senders; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if err := ws.SendText(fmt.Sprintf("%d:%d", g, i)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	next := make([]int, senders)
	for n := 0; n < senders*each; n++ {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		var g, i int
		if _, err := fmt.Sscanf(string(data), "%d:%d", &g, &i); err != nil {
			t.Fatalf("bad message %q", data)
		}
		if i != next[g] {
			t.Fatalf("sender %d: got %d, want %d", g, i, next[g])
		}
		next[g]++
	}
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	if code := websocket.CloseStatus(wait(t, done)); code != 1000 {
		t.Errorf("handler: %v", code)
	}
}

func TestSlowConsumerIsClosedAndSenderNeverBlocks(t *testing.T) {
	t.Parallel()
	const maxSends = 200000
	result := make(chan error, 1)
	sent := make(chan int, 1)
	url, done := server(t, &websocket.Options{MaxQueueBytes: 64 << 10}, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		msg := make([]byte, 1024)
		var err error
		n := 0
		for ; n < maxSends && err == nil; n++ {
			err = ws.SendBytes(msg)
		}
		sent <- n
		result <- err
		if err := ws.SendBytes(msg); !errors.Is(err, websocket.ErrClosed) {
			return fmt.Errorf("send after slow-consumer close: %v", err)
		}
		_, _, err = ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil) // and do not read
	var err error
	select {
	case err = <-result:
	case <-time.After(20 * time.Second):
		t.Fatal("sender blocked on a peer that does not read")
	}
	if !errors.Is(err, websocket.ErrSlowConsumer) {
		t.Fatalf("sender got %v after %d sends, want ErrSlowConsumer", err, <-sent)
	}
	// Now read: what was in flight, then the close frame.
	if ce := readClose(t, c); ce.Code != int(websocket.StatusSlowConsumer) {
		t.Errorf("client saw close %d, want %d", ce.Code, websocket.StatusSlowConsumer)
	}
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusSlowConsumer {
		t.Errorf("handler saw %v", code)
	}
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []string
		origin  string
		ok      bool
	}{
		{"no origin header", nil, "", true},
		{"same origin", nil, "http://SAME", true},
		{"foreign origin refused by default", nil, "http://evil.example", false},
		{"allowed by pattern", []string{"*.example.com"}, "https://app.example.com", true},
		{"pattern does not match", []string{"*.example.com"}, "https://example.org", false},
		{"scheme pattern", []string{"https://*.example.com"}, "http://app.example.com", false},
		{"wildcard", []string{"*"}, "https://anything.test", true},
		{"garbage origin", nil, "::::", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, _ := server(t, &websocket.Options{AllowedOrigins: tt.allowed}, func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					return err
				}
				return ws.SendText("in")
			})
			h := http.Header{}
			origin := tt.origin
			if origin == "http://SAME" {
				origin = "http://" + strings.TrimPrefix(url, "ws://")
			}
			if origin != "" {
				h.Set("Origin", origin)
			}
			c, resp, err := gws.DefaultDialer.Dial(url, h)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("accepted a foreign origin")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("got %v, want 403", resp)
			}
		})
	}
}

func TestHandshakeAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fn     websocket.HandlerFunc
		status int
		body   string
	}{
		{"reject", func(ws *websocket.WebSocket) error { return ws.Reject(401, "who are you") }, 401, "who are you"},
		{"close before accept", func(ws *websocket.WebSocket) error { return ws.Close(1000, "") }, 403, "Forbidden"},
		{"return without accept", func(*websocket.WebSocket) error { return nil }, 403, "Forbidden"},
		{"error before accept", func(*websocket.WebSocket) error { return errors.New("boom") }, 500, "Internal Server Error"},
		{"panic before accept", func(*websocket.WebSocket) error { panic("boom") }, 500, "Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, done := server(t, &websocket.Options{Logger: discardLogger()}, tt.fn)
			_, resp, err := gws.DefaultDialer.Dial(url, nil)
			if err == nil || resp == nil {
				t.Fatalf("dial: %v, want HTTP %d", err, tt.status)
			}
			body := make([]byte, 100)
			n, _ := resp.Body.Read(body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body[:n]), tt.body) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body[:n], tt.status, tt.body)
			}
			if tt.name != "panic before accept" {
				wait(t, done)
			}
		})
	}
}

func TestRejectAndAcceptAfterAnswer(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 4)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		errs <- ws.Accept(context.Background(), nil)
		errs <- ws.Reject(400, "late")
		return nil
	})
	c := dial(t, url, nil)
	for range 2 {
		if err := <-errs; !errors.Is(err, websocket.ErrAlreadyAccepted) {
			t.Errorf("got %v, want ErrAlreadyAccepted", err)
		}
	}
	readClose(t, c)
	wait(t, done)
}

func TestSendAndReceiveBeforeAccept(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := ws.SendText("early"); !errors.Is(err, websocket.ErrNotAccepted) {
			return fmt.Errorf("send: %v", err)
		}
		if _, err := ws.ReceiveText(context.Background()); !errors.Is(err, websocket.ErrNotAccepted) {
			return fmt.Errorf("receive: %v", err)
		}
		if ws.State() != websocket.StateConnecting {
			return fmt.Errorf("state %v", ws.State())
		}
		return ws.Reject(409, "no")
	})
	gws.DefaultDialer.Dial(url, nil)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

func TestSubprotocolAndResponseHeaders(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		err := ws.Accept(context.Background(), &websocket.AcceptOptions{
			Subprotocols: []string{"switchboard.v1.msgpack", "switchboard.v1.json"},
			Header:       http.Header{"X-Served-By": {"switchboard"}},
		})
		if err != nil {
			return err
		}
		return ws.SendText(ws.Subprotocol())
	})
	d := gws.Dialer{Subprotocols: []string{"switchboard.v1.json", "switchboard.v1.msgpack"}}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.Header.Get("X-Served-By") != "switchboard" {
		t.Error("extra header missing")
	}
	if c.Subprotocol() != "switchboard.v1.msgpack" {
		t.Errorf("client got subprotocol %q (server preference should win)", c.Subprotocol())
	}
	if _, data, _ := c.ReadMessage(); string(data) != "switchboard.v1.msgpack" {
		t.Errorf("server's Subprotocol() = %q", data)
	}
	wait(t, done)
}

// TestHeaderAfterAccept: an accepted connection keeps its headers packed;
// Header and Request().Header still give every value, the same map each
// time, from any goroutine.
func TestHeaderAfterAccept(t *testing.T) {
	t.Parallel()
	sent := http.Header{"X-Token": {"t0k"}, "X-Many": {"a", "", "c"}, "Cookie": {"k=v; other=w"}}
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		before := ws.Header().Clone()
		if err := accept(ws); err != nil {
			return err
		}
		var wg sync.WaitGroup
		hs := make([]http.Header, 8)
		for i := range hs {
			wg.Go(func() { hs[i] = ws.Header() })
		}
		wg.Wait()
		for _, h := range hs[1:] {
			if reflect.ValueOf(h).UnsafePointer() != reflect.ValueOf(hs[0]).UnsafePointer() {
				return errors.New("Header gave different maps")
			}
		}
		after := hs[0]
		if !reflect.DeepEqual(after, before) {
			return fmt.Errorf("Header after Accept = %q, before = %q", after, before)
		}
		for k, v := range sent {
			if !reflect.DeepEqual(after[k], v) {
				return fmt.Errorf("Header()[%q] = %q, want %q", k, after[k], v)
			}
		}
		if r := ws.Request(); !reflect.DeepEqual(r.Header, after) || r.Header.Get("X-Token") != "t0k" {
			return fmt.Errorf("Request().Header = %q", r.Header)
		}
		if ws.Query().Get("q") != "1" || ws.Client().Port() == 0 {
			return errors.New("query or client lost with the headers")
		}
		return nil
	})
	c := dial(t, url+"?q=1", sent)
	defer c.Close()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	type info struct {
		id, client, header, query, state string
		stored                           any
	}
	infos := make(chan info, 2)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		before := ws.State().String()
		if err := accept(ws); err != nil {
			return err
		}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ws.Set(fmt.Sprint(i), i)
				ws.Get(fmt.Sprint(i))
			}()
		}
		wg.Wait()
		ws.Set("user", "ada")
		ws.Delete("3")
		_, has3 := ws.Get("3")
		v, _ := ws.Get("user")
		if has3 {
			v = "delete failed"
		}
		if ws.Request().Context() != ws.Context() {
			return errors.New("Request().Context() is not Context()")
		}
		infos <- info{ws.ID(), ws.Client().Addr().String(), ws.Header().Get("X-Token"), ws.Query().Get("q"), before + ">" + ws.State().String(), v}
		_, _, err := ws.Receive(context.Background())
		if ws.Context().Err() == nil {
			return errors.New("context not cancelled at disconnect")
		}
		return err
	})
	for range 2 {
		c := dial(t, url+"?q=42", http.Header{"X-Token": {"t0k"}})
		c.Close()
	}
	a, b := <-infos, <-infos
	if a.id == b.id || len(a.id) != 26 {
		t.Errorf("ids %q and %q", a.id, b.id)
	}
	if a.client != "127.0.0.1" || a.header != "t0k" || a.query != "42" || a.state != "connecting>connected" || a.stored != "ada" {
		t.Errorf("got %+v", a)
	}
	wait(t, done)
	wait(t, done)
}

func TestReceiveContextEndsConnection(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := ws.ReceiveText(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("got %v, want DeadlineExceeded", err)
		}
		_, err = ws.ReceiveText(context.Background())
		return err
	})
	c := dial(t, url, nil)
	if ce := readClose(t, c); ce.Code != int(websocket.StatusGoingAway) {
		t.Errorf("client saw %d, want 1001", ce.Code)
	}
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusGoingAway {
		t.Errorf("handler saw %v", code)
	}
}

func TestHandlerOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(ws *websocket.WebSocket) error
		code int
	}{
		{"nil", func(*websocket.WebSocket) error { return nil }, 1000},
		{"error", func(*websocket.WebSocket) error { return errors.New("db down") }, 1011},
		{"panic", func(*websocket.WebSocket) error { panic("bug") }, 1011},
		{"close error", func(*websocket.WebSocket) error {
			return fmt.Errorf("auth: %w", websocket.NewCloseError(websocket.StatusUnauthorized, "token expired"))
		}, int(websocket.StatusUnauthorized)},
		{"error carrying a close", func(*websocket.WebSocket) error {
			return fmt.Errorf("join: %w", tryLater{})
		}, int(websocket.StatusTryAgainLater)},
		{"bad code", func(ws *websocket.WebSocket) error {
			if err := ws.Close(1006, ""); !errors.Is(err, websocket.ErrInvalidStatusCode) {
				return err
			}
			return nil
		}, 1011},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srvURL, _ := server(t, &websocket.Options{Logger: discardLogger()}, func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					return err
				}
				return tt.fn(ws)
			})
			c := dial(t, srvURL, nil)
			if ce := readClose(t, c); ce.Code != tt.code {
				t.Errorf("close %d, want %d", ce.Code, tt.code)
			}
		})
	}
}

// tryLater is an error that is no CloseError but carries one, as a broker
// outage's does (channels.ErrBrokerUnavailable).
type tryLater struct{}

func (tryLater) Error() string { return "service down" }
func (tryLater) As(target any) bool {
	p, ok := target.(**websocket.CloseError)
	if ok {
		*p = &websocket.CloseError{Code: websocket.StatusTryAgainLater, Reason: "try again later"}
	}
	return ok
}

// A handler that fails before Accept gets the handshake refused: 503 for
// an error that carries StatusTryAgainLater, 500 for any other.
func TestHandlerFailsBeforeAccept(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("presence: %w", tryLater{}), http.StatusServiceUnavailable},
		{errors.New("db down"), http.StatusInternalServerError},
	} {
		url, done := server(t, &websocket.Options{Logger: discardLogger()}, func(*websocket.WebSocket) error { return tt.err })
		c, resp, err := gws.DefaultDialer.Dial(url, nil)
		if err == nil {
			c.Close()
			t.Fatalf("%v: the handshake succeeded", tt.err)
		}
		if resp == nil || resp.StatusCode != tt.want {
			t.Errorf("%v: %v, %v; want status %d", tt.err, resp, err, tt.want)
		}
		if resp != nil {
			resp.Body.Close()
		}
		wait(t, done)
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	url, done := server(t, &websocket.Options{Compression: true}, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		for {
			typ, data, err := ws.Receive(context.Background())
			if err != nil {
				return err
			}
			ws.Send(typ, data)
			ws.SendText("second")
			ws.SendPrepared(mustPrepare(websocket.TextMessage, []byte("prepared")))
		}
	})
	d := gws.Dialer{EnableCompression: true}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.Contains(resp.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate") {
		t.Fatal("compression not negotiated")
	}
	big := strings.Repeat("compress me ", 5000)
	c.WriteMessage(gws.TextMessage, []byte(big))
	for _, want := range []string{big, "second", "prepared"} {
		if _, data, err := c.ReadMessage(); err != nil || string(data) != want {
			t.Fatalf("got %.30q %v, want %.30q", data, err, want)
		}
	}
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	wait(t, done)
}

func TestNotAnUpgradeGets426(t *testing.T) {
	t.Parallel()
	url, _ := server(t, nil, func(ws *websocket.WebSocket) error { return nil })
	resp, err := http.Get("http" + strings.TrimPrefix(url, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
		t.Errorf("got %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code websocket.StatusCode
		want string
	}{
		{websocket.StatusNormalClosure, "1000 (normal closure)"},
		{websocket.StatusSlowConsumer, "4001 (slow consumer)"},
		{websocket.StatusPongTimeout, "4002 (pong timeout)"},
		{websocket.StatusExpired, "4005 (expired)"},
		{4999, "4999"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("%d: %q, want %q", int(tt.code), got, tt.want)
		}
	}
	if websocket.CloseStatus(errors.New("x")) != -1 || websocket.CloseStatus(nil) != -1 {
		t.Error("CloseStatus of a plain error should be -1")
	}
	wrapped := fmt.Errorf("ctx: %w", &websocket.DisconnectError{Code: 1001})
	if websocket.CloseStatus(wrapped) != 1001 {
		t.Error("CloseStatus does not unwrap")
	}
}

func TestOnCloseAndActivity(t *testing.T) {
	t.Parallel()
	ran := make(chan string, 3)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ws.OnClose(func() {
			if ws.State() != websocket.StateClosed || ws.Context().Err() == nil {
				ran <- "too early"
				return
			}
			ran <- "first"
		})
		ws.OnClose(func() { ran <- "second" })
		a0 := ws.Activity()
		ws.SendText("x")
		if _, err := ws.ReceiveText(context.Background()); err != nil {
			return err
		}
		if got := ws.Activity() - a0; got != 2 {
			return fmt.Errorf("activity grew by %d, want 2", got)
		}
		_, _, err := ws.Receive(context.Background())
		ws.OnClose(func() { ran <- "late" }) // after the end: runs at once
		return err
	})
	c := dial(t, url, nil)
	c.ReadMessage()
	c.WriteMessage(gws.TextMessage, []byte("y"))
	c.Close()
	if err := wait(t, done); websocket.CloseStatus(err) != websocket.StatusAbnormalClosure {
		t.Fatalf("handler: %v", err)
	}
	for _, want := range []string{"first", "second", "late"} {
		if got := <-ran; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestAbort(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ws.SendText("queued")
		ws.Abort()
		ws.Abort() // idempotent
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // the queued message may or may not have left
		}
		var ce *gws.CloseError
		if errors.As(err, &ce) && ce.Code != 1006 {
			t.Fatalf("aborted connection sent close %d", ce.Code)
		}
		break
	}
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusAbnormalClosure {
		t.Errorf("handler saw %v", code)
	}
}

// TestRequestAfterAccept: what the handler reads of the handshake request
// (path values of every kind, the rebuilt Request's fields) is the same
// after Accept, when the connection keeps only part of the request, as
// before.
func TestRequestAfterAccept(t *testing.T) {
	t.Parallel()
	type view struct {
		Room, Rest, Extra, Missing string
		Query, Client, Method      string
		URL, Proto, Host, URI      string
		Pattern, PathValues        string
		Major, Minor               int
		TLS                        bool
	}
	look := func(ws *websocket.WebSocket) view {
		r := ws.Request()
		return view{
			Room: ws.PathParam("room"), Rest: ws.PathParam("rest"), Extra: ws.PathParam("extra"), Missing: ws.PathParam("missing"),
			Query: ws.Query().Get("q"), Client: ws.Client().String(), Method: r.Method,
			URL: r.URL.String(), Proto: r.Proto, Host: r.Host, URI: r.RequestURI,
			Pattern:    r.Pattern,
			PathValues: r.PathValue("room") + "|" + r.PathValue("rest") + "|" + r.PathValue("extra"),
			Major:      r.ProtoMajor, Minor: r.ProtoMinor, TLS: r.TLS != nil,
		}
	}
	done := make(chan error, 1)
	ws := websocket.Handler(func(ws *websocket.WebSocket) error {
		err := func() error {
			// Not read before Accept: Request would keep that copy.
			before := ws.PathParam("room") + ws.PathParam("rest") + ws.PathParam("extra") + ws.Query().Get("q") + ws.Client().String()
			if err := accept(ws); err != nil {
				return err
			}
			got := look(ws)
			want := view{
				Room: "lobby", Rest: "a/b", Extra: "set by middleware", Query: "1",
				Client: got.Client, Method: http.MethodGet,
				URL: "/rooms/lobby/a/b?q=1", Proto: "HTTP/1.1", Host: got.Host, URI: "/rooms/lobby/a/b?q=1",
				Pattern:    "GET /rooms/{room}/{rest...}",
				PathValues: "lobby|a/b|set by middleware",
				Major:      1, Minor: 1,
			}
			if got.Client == "" || got.Client == "invalid AddrPort" || !strings.HasPrefix(got.Host, "127.0.0.1:") {
				return fmt.Errorf("client %q, host %q", got.Client, got.Host)
			}
			if got != want {
				return fmt.Errorf("after Accept:\n got %+v\nwant %+v", got, want)
			}
			if after := got.Room + got.Rest + got.Extra + got.Query + got.Client; after != before {
				return fmt.Errorf("after Accept %q, before %q", after, before)
			}
			if ws.Request() != ws.Request() {
				return errors.New("Request gave two requests")
			}
			return nil
		}()
		done <- err
		return err
	}, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /rooms/{room}/{rest...}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As a router hands over its own route's parameters.
		ws.ServeHTTP(w, websocket.WithPathParams(r, websocket.Param{Name: "extra", Value: "set by middleware"}))
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/rooms/lobby/a/b?q=1", nil)
	defer c.Close()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
}
