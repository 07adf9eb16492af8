package websocket_test

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// readServerFrame reads one unmasked server frame with a short payload.
func readServerFrame(t *testing.T, br *bufio.Reader) (op byte, payload string) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	n := int(h[1] & 0x7f)
	if n > 125 {
		t.Fatalf("frame length %d: the test sends only short messages", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return h[0] & 0x0f, string(p)
}

// rawEcho serves echoText and connects a raw client to it; the client's
// reads and writes have 10 s in all.
func rawEcho(t *testing.T) (net.Conn, <-chan error) {
	t.Helper()
	url, done := server(t, nil, echoText)
	c := rawDial(t, strings.TrimPrefix(url, "ws://"))
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, done
}

// expectCloseFrame reads one server frame and fails unless it is a close
// frame with code; it returns the reason.
func expectCloseFrame(t *testing.T, br *bufio.Reader, code uint16) string {
	t.Helper()
	op, payload := readServerFrame(t, br)
	if op != 0x8 || len(payload) < 2 || binary.BigEndian.Uint16([]byte(payload)) != code {
		t.Fatalf("got frame %#x %q, want a close frame with %d", op, payload, code)
	}
	return payload[2:]
}

// Pings and pongs are answered wherever they fall: between messages in one
// write (read while waiting for a message), alone on an idle connection,
// split across writes (left to gorilla), and inside a fragmented message.
func TestControlFramesBetweenMessages(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, echoText)
	c := rawDial(t, strings.TrimPrefix(url, "ws://"))
	defer c.Close()
	br := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))

	const ping, pong, text = 0x9, 0xA, 0x1
	type frame struct {
		op      byte
		payload string
	}
	expect := func(want ...frame) {
		t.Helper()
		for _, w := range want {
			if op, p := readServerFrame(t, br); op != w.op || p != w.payload {
				t.Fatalf("got frame %#x %q, want %#x %q", op, p, w.op, w.payload)
			}
		}
	}
	var burst []byte
	for _, f := range [][]byte{
		clientFrame(ping, true, []byte("p1")),
		clientFrame(text, true, []byte("a")),
		clientFrame(pong, true, nil),
		clientFrame(ping, true, nil),
		clientFrame(pong, true, []byte("unsolicited")),
		clientFrame(text, true, []byte("b")),
	} {
		burst = append(burst, f...)
	}
	c.Write(burst)
	expect(frame{pong, "p1"}, frame{text, "a"}, frame{pong, ""}, frame{text, "b"})

	// Alone, while the handler waits for a message.
	time.Sleep(20 * time.Millisecond)
	c.Write(clientFrame(ping, true, []byte("idle")))
	expect(frame{pong, "idle"})
	c.Write(clientFrame(ping, true, nil))
	expect(frame{pong, ""})

	// Split: the waiting side sees a partial header and leaves the frame
	// to gorilla, which then waits for the message.
	split := clientFrame(ping, true, []byte("split"))
	c.Write(split[:1])
	time.Sleep(20 * time.Millisecond)
	c.Write(split[1:4])
	time.Sleep(20 * time.Millisecond)
	c.Write(split[4:])
	expect(frame{pong, "split"})
	c.Write(clientFrame(text, true, []byte("c")))
	expect(frame{text, "c"})

	// Inside a fragmented message.
	c.Write(clientFrame(text, false, []byte("fr")))
	c.Write(clientFrame(ping, true, []byte("mid")))
	time.Sleep(20 * time.Millisecond)
	c.Write(clientFrame(0x0, true, []byte("ag")))
	expect(frame{pong, "mid"}, frame{text, "frag"})

	c.Write(clientFrame(0x8, true, []byte{0x03, 0xe8}))
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusNormalClosure {
		t.Errorf("handler saw %v, want %v", code, websocket.StatusNormalClosure)
	}
}

// Messages bigger than the read buffer, and many small ones arriving in
// one write, come through whole and in order, message after message.
func TestMessagesAcrossReadBuffer(t *testing.T) {
	t.Parallel()
	url, _ := server(t, nil, echoText)
	c := dial(t, url, nil)
	var want []string
	for i, n := range []int{1, 511, 512, 513, 4000, 60000, 3, 0, 70} {
		want = append(want, strings.Repeat(string(rune('a'+i)), n))
	}
	for _, m := range want {
		if err := c.WriteMessage(gws.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, w := range want {
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got) != w {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(w))
		}
	}
}

// Over TLS the connection is not a plain socket: Receive waits inside
// gorilla's read, and messages and keepalive still work.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(websocket.Handler(echoText, &websocket.Options{
		PingInterval: 20 * time.Millisecond,
		PongTimeout:  time.Second,
	}))
	defer srv.Close()
	d := gws.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, NetDialContext: (&net.Dialer{}).DialContext}
	c, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pings := make(chan struct{}, 100)
	c.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, m := range []string{"one", strings.Repeat("x", 3000), "three"} {
		if err := c.WriteMessage(gws.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != m {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(m), len(got), err)
		}
	}
	// Idle for several ping intervals: the pongs keep it open.
	read := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage() // answers pings until the close
		read <- err
	}()
	deadline := time.After(5 * time.Second)
	for n := 0; n < 3; n++ {
		select {
		case <-pings:
		case err := <-read:
			t.Fatalf("connection ended after %d pings: %v", n, err)
		case <-deadline:
			t.Fatalf("%d pings in 5s", n)
		}
	}
	c.Close()
	<-read
}
