package websocket_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// A text message that is not valid UTF-8 fails the connection with 1007
// (RFC 6455 section 8.1), wherever the bad bytes fall; a character split
// across fragments is one character. The client is raw, for a real client
// would not send such frames; it reads the server's answer.
func TestInboundTextMustBeUTF8(t *testing.T) {
	t.Parallel()
	const text, cont = 0x1, 0x0
	tests := []struct {
		name   string
		frames [][]byte
		echo   string // the message echoed back; "" when the server must close with 1007
	}{
		{"invalid bytes", [][]byte{clientFrame(text, true, []byte("ok \xff\xfe"))}, ""},
		{"surrogate", [][]byte{clientFrame(text, true, []byte("\xed\xa0\x80"))}, ""},
		{"cut at the end", [][]byte{clientFrame(text, true, []byte("euro \xe2\x82"))}, ""},
		{"bad sequence across fragments", [][]byte{
			clientFrame(text, false, []byte("a\xe2\x82")),
			clientFrame(cont, true, []byte("b")),
		}, ""},
		{"bad byte in the last fragment", [][]byte{
			clientFrame(text, false, []byte("fine")),
			clientFrame(cont, true, []byte("\xc0\xaf")),
		}, ""},
		{"character split across fragments", [][]byte{
			clientFrame(text, false, []byte("a\xe2")),
			clientFrame(cont, false, []byte("\x82")),
			clientFrame(cont, true, []byte("\xac!")),
		}, "a€!"},
		{"valid", [][]byte{clientFrame(text, true, []byte("héllo 😀"))}, "héllo 😀"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, done := rawEcho(t)
			for _, f := range tt.frames {
				c.Write(f)
			}
			op, payload := readServerFrame(t, bufio.NewReader(c))
			if tt.echo != "" {
				if op != 0x1 || payload != tt.echo {
					t.Fatalf("got frame %#x %q, want the echo %q", op, payload, tt.echo)
				}
				c.Write(clientFrame(0x8, true, []byte{0x03, 0xe8}))
				if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusNormalClosure {
					t.Errorf("handler saw %v", code)
				}
				return
			}
			if op != 0x8 || len(payload) < 2 || binary.BigEndian.Uint16([]byte(payload)) != 1007 {
				t.Fatalf("got frame %#x %q, want a close frame with 1007", op, payload)
			}
			c.Write(clientFrame(0x8, true, []byte{0x03, 0xef})) // the client's answer: 1007
			if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusInvalidPayload {
				t.Errorf("handler saw %v, want 1007", code)
			}
		})
	}
}

// A text message fails at its first invalid byte, not at its end: the
// peer here never finishes the message, and still gets 1007 — for bytes
// that arrive in a fragment of their own, and for bytes that arrive in
// the middle of a frame whose rest never comes.
func TestInvalidUTF8FailsFast(t *testing.T) {
	t.Parallel()
	const text, cont = 0x1, 0x0
	whole := clientFrame(text, true, []byte("κόσμε\xf4\x90\x80\x80edited"))
	tests := []struct {
		name  string
		write []byte
	}{
		{"fragment", append(clientFrame(text, false, []byte("κόσμε")), clientFrame(cont, false, []byte("\xf4\x90"))...)},
		{"mid-frame", whole[:6+len("κόσμε")+2]}, // header, mask, text, then 0xf4 0x90 of a 4-byte character above U+10FFFF
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, done := rawEcho(t)
			c.Write(tt.write)
			expectCloseFrame(t, bufio.NewReader(c), 1007)
			c.Write(clientFrame(0x8, true, []byte{0x03, 0xef}))
			if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusInvalidPayload {
				t.Errorf("handler saw %v, want 1007", code)
			}
		})
	}
}

// A close frame whose reason is not UTF-8 fails the connection too.
// gorilla checks it and answers 1002 itself, which RFC 6455 allows (it
// asks for the connection to be failed and names no code; Autobahn's case
// 7.5.1 takes 1002 or 1007); the handler sees 1002.
func TestInboundCloseReasonMustBeUTF8(t *testing.T) {
	t.Parallel()
	c, done := rawEcho(t)
	c.Write(clientFrame(0x8, true, []byte("\x03\xe8bye \xff")))
	expectCloseFrame(t, bufio.NewReader(c), 1002)
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusProtocolError {
		t.Errorf("handler saw %v, want 1002", code)
	}
}

// No send produces a text frame that is not UTF-8: each returns
// ErrInvalidUTF8 and queues nothing, and the connection stays usable. A
// conforming client (a browser, Python's websockets) would otherwise fail
// the connection with 1007.
func TestOutboundTextMustBeUTF8(t *testing.T) {
	t.Parallel()
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[compress], func(t *testing.T) {
			t.Parallel()
			bad := "\xff\xfe"
			url, done := server(t, &websocket.Options{Compression: compress}, func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					return err
				}
				_, perr := websocket.NewPreparedMessage(websocket.TextMessage, []byte(bad))
				for i, err := range []error{
					ws.SendText(bad),
					ws.SendText("ok" + bad[:1]),
					ws.Send(websocket.TextMessage, []byte(bad)),
					ws.SendJSON(json.RawMessage(`"` + bad + `"`)),
					perr,
				} {
					if !errors.Is(err, websocket.ErrInvalidUTF8) {
						return fmt.Errorf("send %d returned %s", i, errString(err))
					}
				}
				// Binary frames carry any bytes, and the connection goes on.
				if err := ws.Send(websocket.BinaryMessage, []byte(bad)); err != nil {
					return err
				}
				if err := ws.SendJSON("\xff"); err != nil { // encoding/json replaces it
					return err
				}
				if err := ws.SendText("after"); err != nil {
					return err
				}
				_, _, err := ws.Receive(context.Background())
				return err
			})
			d := gws.Dialer{EnableCompression: compress}
			c, _, err := d.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for _, want := range []struct {
				typ  int
				data string
			}{{gws.BinaryMessage, bad}, {gws.TextMessage, `"\ufffd"`}, {gws.TextMessage, "after"}} {
				typ, data, err := c.ReadMessage()
				if err != nil {
					select {
					case herr := <-done:
						t.Fatalf("read: %v; handler: %v", err, herr)
					default:
						t.Fatalf("read: %v", err)
					}
				}
				if typ != want.typ || string(data) != want.data {
					t.Fatalf("got %d %q, want %d %q", typ, data, want.typ, want.data)
				}
			}
			c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(1000, ""))
			if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusNormalClosure {
				t.Errorf("handler saw %v", code)
			}
		})
	}
}

func TestErrInvalidUTF8(t *testing.T) {
	t.Parallel()
	if !strings.HasPrefix(websocket.ErrInvalidUTF8.Error(), "websocket: ") {
		t.Errorf("message %q", websocket.ErrInvalidUTF8)
	}
	if _, err := websocket.NewPreparedMessage(websocket.BinaryMessage, []byte{0xff}); err != nil {
		t.Errorf("binary prepared message: %v", err)
	}
}
