package events

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// Exactly-once handling: a client that names its session in the
// handshake (the query parameter protocol.SessionParam) and resends an event with
// the same ref after a reconnect gets the first attempt's answer, and the
// handler runs once. The outcome (the replies, ack or error event the
// handler's run sent with the ref) is kept for EventOptions.DedupWindow in
// the box's broker when it is a channels.OutcomeStore (the MemoryBroker,
// and the Redis broker, which makes it hold across nodes), else in a
// store of the endpoint's own, on this node only.

// DefaultDedupWindow is how long the outcome of an event is kept for a
// resend (EventOptions.DedupWindow).
const DefaultDedupWindow = 2 * time.Minute

// maxOutcomeBytes bounds an outcome kept for a resend: a bigger one is
// kept as an error event saying the answer is no longer available.
const maxOutcomeBytes = 64 << 10

// dedupWait bounds how long a resend waits for the first attempt, still
// running elsewhere, when the endpoint has no HandlerTimeout.
const dedupWait = 30 * time.Second

var errAnswerGone = NewError(protocol.CodeInternal, "the answer to this event is no longer available")

// dedupKey is the key of ev's outcome, or "" when ev is handled every
// time: no session, no ref, deduplication off, or a built-in event (a
// join or leave does the same when run again).
func (c *EventConn) dedupKey(ev *Event, name string) string {
	if c.session == "" || ev.Ref == "" || c.events.store == nil || isBuiltin(name) {
		return ""
	}
	return c.events.route + "|" + c.user + "|" + c.session + "|" + ev.Ref
}

// recorder collects the frames a handler's run sends with its event's
// ref, for the outcome.
type recorder struct {
	mu     sync.Mutex
	ref    string
	frames []protocol.Envelope
}

func (r *recorder) add(e protocol.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Ref == r.ref {
		r.frames = append(r.frames, e)
	}
}

// once handles ev at most once per key: the first attempt runs the
// handler and keeps what it answered; a resend gets that answer again.
func (c *EventConn) once(ctx context.Context, key string, h EventHandler, ev *Event) error {
	store, window := c.events.store, c.events.window
	out, claimed, err := store.ClaimOutcome(ctx, key, window)
	if err != nil {
		return c.sendError(ev, err)
	}
	if !claimed {
		if out == nil {
			if out, err = c.awaitOutcome(ctx, key); err != nil {
				return c.sendError(ev, err)
			}
		}
		return c.replay(ev, out)
	}
	rec := &recorder{ref: ev.Ref}
	c.rec.Store(rec)
	err = c.handle(ctx, h, ev)
	c.rec.Store(nil)
	rec.mu.Lock()
	frames := rec.frames
	rec.frames = nil
	rec.mu.Unlock()
	out = encodeOutcome(c.codec, c.events.opts.Fields, frames)
	if len(frames) == 0 || failedFor(frames, protocol.CodeUnavailable) {
		// No answer to keep (the connection ended first, or the handler
		// closed it), or an outage the client should retry through:
		// free the key, so that a resend runs again.
		out = nil
	}
	// The outcome is stored even when ctx has ended with the connection:
	// the client resends on its next one.
	if serr := store.SettleOutcome(context.WithoutCancel(ctx), key, out, window); serr != nil {
		c.events.opts.Logger.Warn("events: outcome not kept", "event", ev.Name, "err", serr)
	}
	return err
}

// failedFor reports whether the answer was an error event with code.
func failedFor(frames []protocol.Envelope, code protocol.ErrorCode) bool {
	for _, f := range frames {
		if p, ok := f.Payload.(protocol.ErrorPayload); ok && f.Event == protocol.EventError && p.Code == code {
			return true
		}
	}
	return false
}

// awaitOutcome waits for the outcome of an attempt still being handled
// (on a connection of the same session that ended, here or on another
// node), polling the store.
func (c *EventConn) awaitOutcome(ctx context.Context, key string) ([]byte, error) {
	wait := c.events.opts.HandlerTimeout
	if wait <= 0 {
		wait = dedupWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait+time.Second)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, errTimeout
		case <-t.C:
		}
		out, claimed, err := c.events.store.ClaimOutcome(ctx, key, c.events.window)
		switch {
		case err != nil:
			return nil, err
		case claimed:
			// The first attempt's claim went (it expired, or was freed
			// after an outage) and this one took it: there is no answer,
			// and it must not run here.
			c.events.store.SettleOutcome(context.WithoutCancel(ctx), key, nil, c.events.window) //nolint:errcheck // best effort
			return nil, errAnswerGone
		case out != nil:
			return out, nil
		}
	}
}

// replay sends a kept outcome again.
func (c *EventConn) replay(ev *Event, out []byte) error {
	frames, err := decodeOutcome(c.events.opts.Fields, out)
	if err != nil {
		return c.sendError(ev, errors.Join(errAnswerGone, err))
	}
	for _, f := range frames {
		f.Ref = ev.Ref
		if err := c.send(envelope{f}); err != nil {
			return err
		}
	}
	return nil
}

// encodeOutcome keeps frames as the codec's byte and each frame's length
// and bytes; an outcome over maxOutcomeBytes becomes errAnswerGone.
func encodeOutcome(codec protocol.Codec, f protocol.Fields, frames []protocol.Envelope) []byte {
	out := []byte{byte(codec)}
	for _, e := range frames {
		e.Fields = f
		b, err := protocol.Encode(codec, e)
		if err != nil {
			continue
		}
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	if len(out) > maxOutcomeBytes {
		code, msg, _ := errorEvent(errAnswerGone)
		return encodeOutcome(codec, f, []protocol.Envelope{{Event: protocol.EventError, Payload: protocol.ErrorPayload{Code: code, Error: msg}}})
	}
	return out
}

var errBadOutcome = errors.New("events: a kept outcome does not decode")

// decodeOutcome reads what encodeOutcome wrote. The store is the
// application's (Redis, say), so its bytes are checked as any input is.
func decodeOutcome(f protocol.Fields, out []byte) ([]protocol.Envelope, error) {
	if len(out) == 0 || out[0] > byte(protocol.Msgpack) {
		return nil, errBadOutcome
	}
	codec := protocol.Codec(out[0])
	var frames []protocol.Envelope
	for rest := out[1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errBadOutcome
		}
		env, err := protocol.Decode(codec, rest[k:k+int(n)], f)
		if err != nil {
			return nil, errors.Join(errBadOutcome, err)
		}
		frames = append(frames, env)
		rest = rest[k+int(n):]
	}
	return frames, nil
}

// outcomeStore picks where an endpoint keeps outcomes.
func outcomeStore(box *channels.ChannelBox) channels.OutcomeStore {
	if box != nil {
		if s, ok := box.Broker().(channels.OutcomeStore); ok {
			return s
		}
	}
	return channels.NewOutcomes(0, 0, nil)
}
