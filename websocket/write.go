package websocket

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/switchboard-go/switchboard/internal/safemsgpack"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// outFrame is one entry of the outbound queue: a whole frame ready for the
// wire, or, on a connection with compression, a message for gorilla to
// compress and frame (deflate set).
type outFrame struct {
	b       []byte
	op      byte
	deflate bool
}

// SendText queues s as a text message. It never blocks. It returns
// ErrInvalidUTF8 when s is not valid UTF-8 (nothing is queued),
// ErrNotAccepted before Accept, ErrClosed once the connection is closing,
// and ErrSlowConsumer when the queue is full (the connection is then
// closed with StatusSlowConsumer).
func (ws *WebSocket) SendText(s string) error {
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	if ws.compress {
		return ws.enqueue(outFrame{b: []byte(s), op: wire.OpText, deflate: true})
	}
	f, p := wire.NewFrame(wire.OpText, len(s))
	copy(p, s)
	return ws.enqueue(outFrame{b: f, op: wire.OpText})
}

// SendBytes queues a copy of b as a binary message. See SendText.
func (ws *WebSocket) SendBytes(b []byte) error {
	return ws.Send(BinaryMessage, b)
}

// Send queues a copy of data as a message of type t. See SendText: a
// text message must be valid UTF-8.
func (ws *WebSocket) Send(t MessageType, data []byte) error {
	op, err := opcode(t, data)
	if err != nil {
		return err
	}
	if ws.compress {
		return ws.enqueue(outFrame{b: append([]byte(nil), data...), op: op, deflate: true})
	}
	return ws.enqueue(outFrame{b: wire.FrameBytes(op, data), op: op})
}

// SendJSON queues v encoded as JSON in a text message. See SendText; an
// encoding error is returned as is and nothing is sent. (encoding/json
// replaces invalid UTF-8 in strings, but not in what a json.Marshaler or
// a json.RawMessage gives: such output returns ErrInvalidUTF8.)
func (ws *WebSocket) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return ErrInvalidUTF8
	}
	return ws.sendOwned(wire.OpText, b)
}

// SendMsgpack queues v encoded as msgpack in a binary message. See
// SendJSON.
func (ws *WebSocket) SendMsgpack(v any) error {
	b, err := safemsgpack.Marshal(v)
	if err != nil {
		return err
	}
	return ws.sendOwned(wire.OpBinary, b)
}

func (ws *WebSocket) sendOwned(op byte, b []byte) error {
	if ws.compress {
		return ws.enqueue(outFrame{b: b, op: op, deflate: true})
	}
	return ws.enqueue(outFrame{b: wire.FrameBytes(op, b), op: op})
}

// PreparedMessage is a message framed once, to be sent to many connections
// without copying or encoding it again (a broadcast). Connections that
// negotiated compression get it uncompressed, which RFC 7692 allows.
type PreparedMessage struct {
	frame []byte
}

// NewPreparedMessage frames a copy of data as a message of type t. It
// returns ErrInvalidUTF8 for a text message that is not valid UTF-8, so
// that a broadcast is checked once, before it reaches any connection.
func NewPreparedMessage(t MessageType, data []byte) (*PreparedMessage, error) {
	op, err := opcode(t, data)
	if err != nil {
		return nil, err
	}
	return &PreparedMessage{frame: wire.FrameBytes(op, data)}, nil
}

// opcode returns the opcode of a message of type t, checking that a text
// message is valid UTF-8 (RFC 6455 section 5.6: the peer fails the
// connection on one that is not).
func opcode(t MessageType, data []byte) (byte, error) {
	if t != TextMessage {
		return wire.OpBinary, nil
	}
	if !utf8.Valid(data) {
		return 0, ErrInvalidUTF8
	}
	return wire.OpText, nil
}

// SendPrepared queues m. See SendText.
func (ws *WebSocket) SendPrepared(m *PreparedMessage) error {
	return ws.enqueue(outFrame{b: m.frame, op: m.frame[0] & 0x0F})
}

// enqueue adds f to the outbound queue and starts the writer if it is not
// running. It never blocks on the network.
func (ws *WebSocket) enqueue(f outFrame) error {
	ws.mu.Lock()
	switch {
	case ws.closing:
		ws.mu.Unlock()
		return ErrClosed
	case ws.State() != StateConnected:
		ws.mu.Unlock()
		if ws.State() == StateConnecting {
			return ErrNotAccepted
		}
		return ErrClosed
	case ws.fullLocked(len(f.b)):
		ws.startCloseLocked(StatusSlowConsumer, "slow consumer", "slow consumer", false)
		ws.mu.Unlock()
		go ws.awaitClose(false)
		return ErrSlowConsumer
	}
	ws.pushLocked(f)
	ws.mu.Unlock()
	ws.activity.Add(1)
	return nil
}

// fullLocked reports whether n more bytes would take the outbound queue
// past MaxQueueBytes. A frame bigger than the bound still goes into an
// empty queue. ws.mu must be held.
func (ws *WebSocket) fullLocked(n int) bool {
	q := ws.queued + ws.inflight
	return q > 0 && q+n > ws.cfg.maxQueue
}

// pushLocked appends f to the queue and starts the writer goroutine when
// none runs. ws.mu must be held.
func (ws *WebSocket) pushLocked(f outFrame) {
	ws.queue = append(ws.queue, f)
	ws.queued += len(f.b)
	if ws.writing {
		return
	}
	ws.writing = true
	if ws.bc.CanTryWrite() && !ws.compress && !ws.closing {
		ws.cfg.writers.push(ws)
		return
	}
	if ws.writeFn == nil {
		ws.writeFn = ws.writeLoop
	}
	go ws.writeFn()
}

// stopWritingLocked records that no writer runs for the empty queue.
// ws.mu must be held.
func (ws *WebSocket) stopWritingLocked() {
	ws.writing = false
	// Keep the two queue slices while they are small, so that a
	// connection that gets a message at a time (a broadcast member)
	// allocates none per message; drop big ones.
	if cap(ws.queue) > 64 {
		ws.queue = nil
	}
	if cap(ws.spare) > 64 {
		ws.spare = nil
	}
}

// writeLoop is the connection's writer when a pool writer cannot be
// (see writers): the connection is not a socket, compresses, is closing,
// or its socket was full. It runs while the queue is non-empty: it takes
// the whole queue under the lock, writes it, and coalesces the frames of
// a burst into one write when more are waiting; it flushes and exits once
// the queue is empty.
func (ws *WebSocket) writeLoop() {
	bc := ws.bc
	for {
		ws.mu.Lock()
		ws.inflight = 0
		batch := ws.queue
		if len(batch) == 0 {
			ws.mu.Unlock()
			if bc.Holding() {
				if err := bc.Flush(); err != nil {
					ws.writeFailed(err)
					return
				}
				continue
			}
			ws.mu.Lock()
			if len(ws.queue) > 0 {
				ws.mu.Unlock()
				continue
			}
			ws.stopWritingLocked()
			ws.mu.Unlock()
			return
		}
		ws.queue, ws.spare = ws.spare[:0], nil
		ws.inflight, ws.queued = ws.queued, 0
		ws.pongAt = 0 // the queued pong, if any, is being written
		ws.mu.Unlock()

		for i := range batch {
			f := &batch[i]
			if f.op != wire.OpClose && ws.abort.Load() {
				batch[i] = outFrame{}
				continue // closing without flushing: drop the rest
			}
			var err error
			if f.deflate {
				if i < len(batch)-1 {
					bc.Begin()
				}
				err = ws.writeDeflate(f)
			} else {
				// The last frame of a batch goes straight out when nothing is
				// buffered; anything else joins the burst buffer.
				err = bc.WriteFrame(f.b, i == len(batch)-1 && !bc.Holding())
			}
			if err == nil && f.op == wire.OpClose {
				err = bc.Flush()
				ws.mu.Lock()
				if ws.closeWritten != nil {
					close(ws.closeWritten)
					ws.closeWritten = nil
				}
				ws.mu.Unlock()
			}
			if err != nil {
				ws.writeFailed(err)
				return
			}
			if f.op == wire.OpText || f.op == wire.OpBinary {
				ws.cfg.metrics.MessageOut(len(f.b))
			}
			batch[i] = outFrame{}
		}
		ws.mu.Lock()
		ws.spare = batch[:0]
		ws.mu.Unlock()
	}
}

func (ws *WebSocket) writeDeflate(f *outFrame) error {
	if err := ws.conn.SetWriteDeadline(time.Now().Add(ws.cfg.writeTimeout)); err != nil {
		return err
	}
	return ws.conn.WriteMessage(int(f.op), f.b)
}

// writeFailed ends a connection whose peer cannot be written to.
func (ws *WebSocket) writeFailed(error) {
	ws.teardown()
}
