package events

import (
	"context"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// On registers h for the event name with its payload decoded into a T,
// the typed form of Events.On (which stays for handlers that read the
// payload themselves, or not at all). A payload that does not decode
// into a T never reaches h: the client gets an error event with
// protocol.CodeBadRequest and the message "invalid payload for NAME",
// which names the event and never the Go type. h's error is answered as
// an EventHandler's, and a nil one with an ack when the event has a ref.
// EventOf(ctx) is the event being handled (its Room and Ref). On panics
// as Events.On does.
func On[T any](e *Events, name string, h func(ctx context.Context, c *EventConn, payload T) error) {
	if h == nil {
		e.On(name, nil) // panics with Events.On's message
	}
	onDecoded(e, name, func(ctx context.Context, c *EventConn, _ *Event, p T) error { return h(ctx, c, p) })
}

// OnRequest registers h for the event name as a request: its payload is
// decoded into a T as with On, and the R that h returns is the payload of
// the ack, {"event": "ack", "payload": R, "ref": ...}. An event without a
// ref gets no ack, so its R is dropped; an error from h is answered with
// an error event instead, as with On. A handler past
// EventOptions.HandlerTimeout has been answered with an error already,
// and its R is dropped too (see EventConn.Reply).
func OnRequest[T, R any](e *Events, name string, h func(ctx context.Context, c *EventConn, payload T) (R, error)) {
	if h == nil {
		e.On(name, nil) // panics with Events.On's message
	}
	onDecoded(e, name, func(ctx context.Context, c *EventConn, ev *Event, p T) error {
		r, err := h(ctx, c, p)
		if err != nil || ev.Ref == "" {
			return err
		}
		return c.Reply(ctx, ev, protocol.EventAck, r)
	})
}

// onDecoded registers h for name with the payload decoded into a T first.
func onDecoded[T any](e *Events, name string, h func(ctx context.Context, c *EventConn, ev *Event, payload T) error) {
	e.On(name, func(ctx context.Context, c *EventConn, ev *Event) error {
		var p T
		if err := ev.Decode(&p); err != nil {
			return err
		}
		return h(ctx, c, ev, p)
	})
}

type eventKey struct{}

// EventOf returns the event that a handler's ctx was made for, or nil
// for a ctx that no handler got. A typed handler (On, OnRequest) reads
// the event's Room and Ref with it.
func EventOf(ctx context.Context) *Event {
	ev, _ := ctx.Value(eventKey{}).(*Event)
	return ev
}
