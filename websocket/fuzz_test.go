package websocket_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/websocket"
)

// clientFrame builds a masked client frame.
func clientFrame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); {
	case n < 126:
		b = []byte{b0, 0x80 | byte(n)}
	case n <= 0xFFFF:
		b = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		b = []byte{b0, 0x80 | 127}
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := []byte{1, 2, 3, 4}
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// FuzzClientFrames sends arbitrary bytes after a real handshake. Whatever
// they are, the handler's Receive loop must end with a *DisconnectError
// carrying a valid code: no panic, no hang.
func FuzzClientFrames(f *testing.F) {
	closeWith := func(code uint16, reason string) []byte {
		return clientFrame(0x8, true, append(binary.BigEndian.AppendUint16(nil, code), reason...))
	}
	f.Add(clientFrame(0x1, true, []byte("hello")))
	f.Add(append(clientFrame(0x1, false, []byte("frag")), clientFrame(0x0, true, []byte("ment"))...))
	f.Add(clientFrame(0x2, true, make([]byte, 300)))
	f.Add(clientFrame(0x9, true, []byte("ping")))
	f.Add(closeWith(1000, "bye"))
	f.Add(closeWith(1005, ""))
	f.Add(closeWith(999, ""))
	f.Add(clientFrame(0x8, true, []byte{3}))
	f.Add(clientFrame(0x1, true, []byte{0xff, 0xfe}))
	f.Add(clientFrame(0x1, true, make([]byte, 70000)))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}) // unmasked
	f.Add(clientFrame(0x3, true, nil))                 // reserved opcode
	f.Add(append(clientFrame(0x1, false, []byte("a\xe2")), clientFrame(0x0, true, []byte("\x82\xac"))...))
	f.Add(append(clientFrame(0x1, false, []byte("a\xe2")), clientFrame(0x0, true, []byte("b"))...))
	f.Add(binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, 1<<63|5)) // length with its top bit set
	f.Add(clientFrame(0x8, true, []byte("\x03\xe8\xff")))                   // close reason not UTF-8

	results := make(chan error, 1)
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(context.Background(), nil); err != nil {
			results <- err
			return err
		}
		for {
			if _, _, err := ws.Receive(context.Background()); err != nil {
				var de *websocket.DisconnectError
				if errors.As(err, &de) {
					results <- err
					return err
				}
				if _, ok := errors.AsType[*websocket.MessageTypeError](err); !ok {
					results <- err
					return err
				}
			}
		}
	}, &websocket.Options{ReadLimit: 65536, CloseTimeout: 200 * time.Millisecond}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	f.Fuzz(func(t *testing.T, data []byte) {
		c := rawDial(t, addr)
		defer c.Close()
		c.Write(data)
		// Leave: the server must notice whatever state the bytes left it in.
		c.(*net.TCPConn).CloseWrite()
		select {
		case err := <-results:
			var de *websocket.DisconnectError
			if !errors.As(err, &de) {
				t.Fatalf("handler ended with %v, want a DisconnectError", err)
			}
			if de.Code < 1000 || de.Code > 4999 {
				t.Fatalf("disconnect code %d", de.Code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("handler hangs")
		}
	})
}

// rawDial opens a TCP connection to addr and performs the handshake by
// hand, so that the test can then write arbitrary bytes.
func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rawHandshake(t, c, addr)
	return c
}

// rawHandshake performs the handshake on c by hand.
func rawHandshake(t testing.TB, c net.Conn, addr string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
}

func TestBrokenPeers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
		code websocket.StatusCode
	}{
		{"cut mid-frame", clientFrame(0x1, true, []byte("hello"))[:5], websocket.StatusAbnormalClosure},
		{"unmasked frame", []byte{0x81, 0x02, 'h', 'i'}, websocket.StatusProtocolError},
		{"reserved opcode", clientFrame(0x3, true, nil), websocket.StatusProtocolError},
		{"bad close code", clientFrame(0x8, true, []byte{0x03, 0xe7}), websocket.StatusProtocolError},
		{"close without code", clientFrame(0x8, true, nil), websocket.StatusNoStatusReceived},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, done := server(t, nil, func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					return err
				}
				for {
					if _, _, err := ws.Receive(context.Background()); err != nil {
						return err
					}
				}
			})
			c := rawDial(t, strings.TrimPrefix(url, "ws://"))
			defer c.Close()
			c.Write(tt.data)
			c.(*net.TCPConn).CloseWrite()
			if code := websocket.CloseStatus(wait(t, done)); code != tt.code {
				t.Errorf("handler saw %v, want %v", code, tt.code)
			}
		})
	}
}
