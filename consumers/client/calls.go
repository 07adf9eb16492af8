package client

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// call is an event waiting for its answer.
type call struct {
	ref   string
	data  []byte                 // the encoded envelope
	build func() ([]byte, error) // or what encodes it when it is written; called with c.mu held
	seq   uint64                 // the order calls were made in
	// rejoin: a join the reconnection makes, written ahead of the other
	// calls.
	rejoin bool
	sent   *conn         // the connection it was last written to
	onAns  func(*Event)  // runs on the read loop before the answer is given
	done   chan struct{} // closed when settled
	ans    *Event        // the answer, once settled
	err    error         // or the failure
}

// CallOption adds to an event that Call or Emit sends.
type CallOption func(*protocol.Envelope)

// InRoom aims the event at a room (the envelope's room field).
func InRoom(room string) CallOption {
	return func(e *protocol.Envelope) { e.Room = room }
}

// Call sends an event and waits for its answer: the server's reply, an
// ack (an Event named "ack"), or an error event, returned as a
// *ServerError. While the client is not connected, the event waits and is
// sent once it is. An event sent on a connection that ended before its
// answer came is sent again, with the same ref, after the reconnect
// (a server that deduplicates refs runs its handler once; see
// docs/PROTOCOL.md). Call returns ctx's error when ctx ends first, and
// ErrClosed when the client stops.
func (c *Client) Call(ctx context.Context, event string, payload any, opts ...CallOption) (*Event, error) {
	cl, err := c.newCall(event, payload, opts)
	if err != nil {
		return nil, err
	}
	return c.await(ctx, cl)
}

// newCall registers a call; it is not written yet.
func (c *Client) newCall(event string, payload any, opts []CallOption) (*call, error) {
	e := protocol.Envelope{Event: event, Payload: payload}
	for _, o := range opts {
		o(&e)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateClosed {
		return nil, ErrClosed
	}
	c.nextRef++
	e.Ref = fmtRef(c.nextRef)
	data, err := protocol.Encode(c.opts.Codec, e)
	if err != nil {
		return nil, err
	}
	cl := &call{ref: e.Ref, data: data, seq: c.nextRef, done: make(chan struct{})}
	c.calls[cl.ref] = cl
	return cl, nil
}

func fmtRef(n uint64) string { return strconv.FormatUint(n, 10) }

// await writes cl when connected and waits for its outcome.
func (c *Client) await(ctx context.Context, cl *call) (*Event, error) {
	c.send(cl)
	select {
	case <-cl.done:
	case <-ctx.Done():
		c.settle(cl, nil, ctx.Err())
		<-cl.done
	}
	if cl.err != nil {
		return nil, cl.err
	}
	if cl.ans.Name == protocol.EventError {
		return cl.ans, serverError(cl.ans)
	}
	return cl.ans, nil
}

// serverError reads an error event's payload.
func serverError(ev *Event) error {
	var p protocol.ErrorPayload
	if err := ev.Decode(&p); err != nil || p.Code == "" {
		return &ServerError{Code: protocol.CodeInternal, Message: "an error event the client could not read"}
	}
	return &ServerError{Code: p.Code, Message: p.Error}
}

// Emit sends an event that asks for no answer (it has no ref). It fails
// with ErrNotConnected when the client has no open connection: an event
// that must arrive should go by Call.
func (c *Client) Emit(event string, payload any, opts ...CallOption) error {
	e := protocol.Envelope{Event: event, Payload: payload}
	for _, o := range opts {
		o(&e)
	}
	data, err := protocol.Encode(c.opts.Codec, e)
	if err != nil {
		return err
	}
	c.mu.Lock()
	cn, state := c.conn, c.state
	c.mu.Unlock()
	switch {
	case state == StateClosed:
		return ErrClosed
	case cn == nil || state != StateConnected:
		return ErrNotConnected
	}
	return cn.write(data)
}

// send writes a call on the open connection, if there is one and the
// client is connected; otherwise the reconnection writes it (resend).
func (c *Client) send(cl *call) {
	c.mu.Lock()
	if c.state != StateConnected || c.conn == nil {
		c.mu.Unlock()
		return
	}
	c.writeCallLocked(c.conn, cl)
	c.mu.Unlock()
}

// writeCallLocked writes cl on cn, building its envelope first if it is
// built late; a call that cannot be encoded fails. c.mu must be held; the
// write itself does not block for long (the connection's write timeout).
func (c *Client) writeCallLocked(cn *conn, cl *call) bool {
	data := cl.data
	if cl.build != nil {
		var err error
		if data, err = cl.build(); err != nil {
			delete(c.calls, cl.ref)
			cl.err = err
			close(cl.done)
			return true
		}
	}
	if cn.write(data) != nil {
		return false
	}
	cl.sent = cn
	return true
}

// settle gives a call its answer or its failure, once.
func (c *Client) settle(cl *call, ev *Event, err error) {
	c.mu.Lock()
	if c.calls[cl.ref] != cl {
		c.mu.Unlock()
		return
	}
	delete(c.calls, cl.ref)
	cl.ans, cl.err = ev, err
	c.mu.Unlock()
	close(cl.done)
}

// failCalls fails every waiting call with err.
func (c *Client) failCalls(err error) {
	c.failWhere(func(*call) bool { return true }, err)
}

// failCallsOn fails the calls last written on cn with err.
func (c *Client) failCallsOn(cn *conn, err error) {
	c.failWhere(func(cl *call) bool { return cl.sent == cn }, err)
}

func (c *Client) failWhere(which func(*call) bool, err error) {
	c.mu.Lock()
	var all []*call
	for _, cl := range c.calls {
		if which(cl) {
			all = append(all, cl)
		}
	}
	c.mu.Unlock()
	for _, cl := range all {
		c.settle(cl, nil, err)
	}
}

// resend writes, in the order they were made, the calls not yet written
// on cn, until none is left; then, in the same step, it makes the client
// connected, so that a call made meanwhile is written once: by resend, or
// by Call itself once the client is connected. It reports whether the
// state changed.
func (c *Client) resend(cn *conn) bool {
	for {
		c.mu.Lock()
		var todo []*call
		for _, cl := range c.calls {
			if cl.sent != cn {
				todo = append(todo, cl)
			}
		}
		if len(todo) == 0 {
			changed := c.state != StateConnected && c.state != StateClosed
			if changed {
				c.state = StateConnected
			}
			c.mu.Unlock()
			return changed
		}
		slices.SortFunc(todo, func(a, b *call) int {
			if a.rejoin != b.rejoin {
				if a.rejoin {
					return -1
				}
				return 1
			}
			return cmp.Compare(a.seq, b.seq)
		})
		for _, cl := range todo {
			if c.calls[cl.ref] == cl && !c.writeCallLocked(cn, cl) {
				c.mu.Unlock()
				return false
			}
		}
		c.mu.Unlock()
	}
}

// On sets a typed handler of the events named name: each payload is
// decoded into a T first. A payload that does not decode is reported to
// Options.OnError and not handed over. See Client.On.
func On[T any](c *Client, name string, fn func(ctx context.Context, v T, ev *Event)) {
	c.On(name, func(ctx context.Context, ev *Event) {
		var v T
		if err := ev.Decode(&v); err != nil {
			c.opts.OnError(err)
			return
		}
		fn(ctx, v, ev)
	})
}

// Call sends an event as Client.Call does and decodes the answer's payload
// into an R: the reply's, or the zero R for an ack.
func Call[R any](ctx context.Context, c *Client, event string, payload any, opts ...CallOption) (R, error) {
	var r R
	ev, err := c.Call(ctx, event, payload, opts...)
	if err != nil {
		return r, err
	}
	if ev.Name == protocol.EventAck && isNull(ev.Payload.Data) {
		return r, nil
	}
	err = ev.Decode(&r)
	return r, err
}

func isNull(p []byte) bool {
	return len(p) == 0 || string(p) == "null" || (len(p) == 1 && p[0] == 0xc0)
}
