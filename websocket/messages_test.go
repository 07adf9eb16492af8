package websocket_test

// Sending and receiving messages: every variant, frame types, decoding,
// sizes, compression, order under concurrency and slow consumers.

import (
	"context"
	"errors"
	"fmt"
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
