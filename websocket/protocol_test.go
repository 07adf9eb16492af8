package websocket_test

import (
	"bufio"
	"encoding/binary"
	"testing"

	"github.com/switchboard-go/switchboard/websocket"
)

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
