package client

import (
	"context"
	"fmt"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// room is a room the client is in, and its position: the epoch and
// offset of the last message of it the client accepted.
type room struct {
	name    string
	fields  map[string]any // the application's fields of the join payload
	history bool           // the first join asked for the history
	epoch   string
	offset  uint64
	has     bool  // a position is known
	join    *call // the join in flight, if any
}

// Joined is the answer to a join: the room's position when the client
// joined it.
type Joined struct {
	Room string `json:"room" msgpack:"room"`
	// Recovered is true when the client rejoined from its position and
	// every message after it followed (docs/PROTOCOL.md, section 6).
	Recovered bool   `json:"recovered" msgpack:"recovered"`
	Epoch     string `json:"epoch" msgpack:"epoch"`
	Offset    uint64 `json:"offset" msgpack:"offset"`
}

// JoinOptions adjust a join.
type JoinOptions struct {
	// History asks for the messages the room's history retains; they
	// reach the handlers right after the join, oldest first.
	History bool
	// Fields are added to the join's payload, for the application (a
	// token or an invitation, say). They are sent again on every rejoin.
	Fields map[string]any
}

// Join joins a room and waits for the answer. The client rejoins it after
// every reconnect, from its position, so that the messages missed
// meanwhile follow (or Options.OnMissed is told they cannot). A join the
// server refuses returns a *ServerError, and the client is not in the
// room. While the client is not connected, the join waits to be sent.
func (c *Client) Join(ctx context.Context, name string, opts *JoinOptions) (*Joined, error) {
	if name == "" {
		return nil, fmt.Errorf("client: join: no room given")
	}
	var o JoinOptions
	if opts != nil {
		o = *opts
	}
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	r := c.rooms[name]
	if r == nil {
		r = &room{name: name}
		c.rooms[name] = r
	}
	r.fields, r.history = o.Fields, r.history || o.History
	cl := c.joinCallLocked(r, false)
	c.mu.Unlock()

	ev, err := c.await(ctx, cl)
	if err != nil {
		c.mu.Lock()
		if c.rooms[name] == r && r.join == cl {
			delete(c.rooms, name)
		}
		c.mu.Unlock()
		return nil, err
	}
	var j Joined
	if err := ev.Decode(&j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Leave leaves a room: the client stops rejoining it, and tells the
// server when it is connected (a connection's rooms end with it).
func (c *Client) Leave(ctx context.Context, name string) error {
	c.mu.Lock()
	delete(c.rooms, name)
	connected := c.state == StateConnected
	c.mu.Unlock()
	if !connected {
		return nil
	}
	_, err := c.Call(ctx, protocol.EventLeave, map[string]any{"room": name})
	return err
}

// Position returns the room's position: the epoch and offset of the last
// message of it the client accepted, or of the join when none came since.
// ok is false when the client is not in the room or has no position yet.
func (c *Client) Position(name string) (epoch string, offset uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[name]
	if r == nil || !r.has {
		return "", 0, false
	}
	return r.epoch, r.offset, true
}

// joinCallLocked registers a join of r. Its envelope is built when it is
// written, from the position at that time; rejoins go before every other
// call. c.mu must be held.
func (c *Client) joinCallLocked(r *room, rejoin bool) *call {
	c.nextRef++
	cl := &call{ref: fmtRef(c.nextRef), seq: c.nextRef, rejoin: rejoin, done: make(chan struct{})}
	var since bool
	cl.build = func() ([]byte, error) {
		// Called with c.mu held, by the writer of the call.
		p := map[string]any{}
		for k, v := range r.fields {
			p[k] = v
		}
		p["room"] = r.name
		since = r.has
		if since {
			p["since"] = map[string]any{"epoch": r.epoch, "offset": r.offset}
		} else if r.history {
			p["history"] = true
		}
		return protocol.Encode(c.opts.Codec, protocol.Envelope{Event: protocol.EventJoin, Payload: p, Ref: cl.ref})
	}
	cl.onAns = func(ev *Event) {
		// On the read loop, before any message that follows the answer.
		c.mu.Lock()
		if r.join == cl {
			r.join = nil
		}
		if ev.Name != protocol.EventJoined {
			if c.rooms[r.name] == r {
				delete(c.rooms, r.name)
			}
			c.mu.Unlock()
			if rejoin {
				c.opts.OnError(fmt.Errorf("client: rejoin of %q refused: %w", r.name, serverError(ev)))
			}
			return
		}
		var j Joined
		if err := ev.Decode(&j); err != nil {
			c.mu.Unlock()
			c.opts.OnError(err)
			return
		}
		missed := since && !j.Recovered
		if !j.Recovered || !r.has {
			follow := since || r.history
			r.epoch, r.offset, r.has = j.Epoch, j.Offset, true
			if follow {
				r.offset = 0
			}
		}
		c.mu.Unlock()
		if missed && c.opts.OnMissed != nil {
			c.opts.OnMissed(r.name)
		}
	}
	r.join = cl
	c.calls[cl.ref] = cl
	return cl
}

// rejoin registers a join of every room that has none in flight, to be
// written ahead of the other calls.
func (c *Client) rejoin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.rooms {
		if r.join != nil && c.calls[r.join.ref] == r.join {
			r.join.rejoin = true
			continue
		}
		c.joinCallLocked(r, true)
	}
}

// track applies a room message to its room's position (docs/PROTOCOL.md,
// section 6): it reports whether the message is new, and calls OnMissed
// first when it came in a new epoch.
func (c *Client) track(ev *Event) bool {
	c.mu.Lock()
	r := c.rooms[ev.Room]
	if r == nil {
		c.mu.Unlock()
		return true
	}
	if r.has && ev.Epoch == r.epoch && ev.Offset <= r.offset {
		c.mu.Unlock()
		return false
	}
	missed := r.has && ev.Epoch != r.epoch
	r.epoch, r.offset, r.has = ev.Epoch, ev.Offset, true
	c.mu.Unlock()
	if missed && c.opts.OnMissed != nil {
		c.opts.OnMissed(ev.Room)
	}
	return true
}
