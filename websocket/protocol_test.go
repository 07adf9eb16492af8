package websocket_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/websocket"
)

// RFC 6455 section 4.1: the opening handshake is an HTTP/1.1 (or later)
// request. An HTTP/1.0 one is refused with 400 and the handler never runs.
func TestHTTP10HandshakeRefused(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, echoText)
	addr := strings.TrimPrefix(url, "ws://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("HTTP/1.0 upgrade answered %d, want 400", resp.StatusCode)
	}
	select {
	case err := <-done:
		t.Fatalf("the handler ran: %v", err)
	default:
	}
}

// A frame length is a 63-bit number: one whose top bit is set is a
// protocol error (RFC 6455 section 5.2). The server says so in a close
// frame, 1002 with a reason, before it drops the connection, rather than
// dropping it without a word.
func TestFrameLengthTopBitClosesWith1002(t *testing.T) {
	t.Parallel()
	c, done := rawEcho(t)
	frame := []byte{0x82, 0x80 | 127}
	frame = binary.BigEndian.AppendUint64(frame, 1<<63|5)
	frame = append(frame, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o')
	c.Write(frame)
	if reason := expectCloseFrame(t, bufio.NewReader(c), 1002); reason == "" {
		t.Error("the close frame gives no reason")
	}
	if err := wait(t, done); websocket.CloseStatus(err) != websocket.StatusProtocolError {
		t.Errorf("handler saw %v, want 1002", err)
	}
}

// A close frame's payload is empty or at least two bytes, a code (RFC
// 6455 section 5.5.1): one of a single byte fails the connection with
// 1002, where gorilla alone read it as a close without a code and the
// server answered with an empty close frame.
func TestOneByteClosePayloadGets1002(t *testing.T) {
	t.Parallel()
	for _, b := range []byte{0x03, '*'} {
		c, done := rawEcho(t)
		c.Write(clientFrame(0x8, true, []byte{b}))
		expectCloseFrame(t, bufio.NewReader(c), 1002)
		if err := wait(t, done); websocket.CloseStatus(err) != websocket.StatusProtocolError {
			t.Errorf("payload %q: handler saw %v, want 1002", b, err)
		}
	}
}
