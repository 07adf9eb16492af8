package consumers

import (
	"context"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// Base is the embeddable part of a Consumer: the default hooks (accept on
// connect, ignore messages, nothing on disconnect) and the helpers. Its
// methods are safe for concurrent use once the connection is accepted.
type Base struct {
	ws  *websocket.WebSocket
	cfg *config
	ch  *channels.Channel
	enc channels.PayloadType // from cfg, or from the subprotocol agreed on
}

func (b *Base) base() *Base { return b }

// OnConnect accepts the connection.
func (b *Base) OnConnect(ctx context.Context) error { return b.Accept(ctx) }

// OnReceive ignores the message.
func (b *Base) OnReceive(context.Context, any) error { return nil }

// OnDisconnect does nothing.
func (b *Base) OnDisconnect(websocket.StatusCode) {}

// WebSocket returns the connection: path parameters, query, headers, the
// per-connection store.
func (b *Base) WebSocket() *websocket.WebSocket { return b.ws }

// Box returns the Options.Box, or nil.
func (b *Base) Box() *channels.ChannelBox { return b.cfg.Box }

// Channel returns the connection's channel in the box, once accepted (nil
// without a box).
func (b *Base) Channel() *channels.Channel { return b.ch }

// Accept completes the handshake and registers the connection in the box.
func (b *Base) Accept(ctx context.Context) error { return b.AcceptWith(ctx, nil) }

// AcceptWith is Accept with a subprotocol choice and extra headers. The
// subprotocols of Options.Subprotocols are offered first; the one agreed
// on decides the connection's encoding.
func (b *Base) AcceptWith(ctx context.Context, opts *websocket.AcceptOptions) error {
	if len(b.cfg.Subprotocols) > 0 {
		o := websocket.AcceptOptions{}
		if opts != nil {
			o = *opts
		}
		offered := make([]string, 0, len(b.cfg.Subprotocols)+len(o.Subprotocols))
		for _, s := range b.cfg.Subprotocols {
			offered = append(offered, s.Name)
		}
		o.Subprotocols = append(offered, o.Subprotocols...)
		opts = &o
	}
	if err := b.ws.Accept(ctx, opts); err != nil {
		return err
	}
	b.enc = b.cfg.encodingFor(b.ws.Subprotocol())
	if b.cfg.Box == nil {
		return nil
	}
	ro := &channels.RegisterOptions{PayloadType: b.enc, Expires: b.cfg.Expires}
	if b.cfg.User != nil {
		ro.User = b.cfg.User(b.ws)
	}
	ch, err := b.cfg.Box.Register(b.ws, ro)
	if err != nil {
		return err
	}
	b.ch = ch
	return nil
}

// Send sends payload to this connection: a string as text, a []byte as
// binary, any other value encoded for the channel's payload type.
func (b *Base) Send(payload any) error {
	if b.ch != nil {
		return b.ch.Send(payload)
	}
	switch p := payload.(type) {
	case string:
		return b.ws.SendText(p)
	case []byte:
		return b.ws.SendBytes(p)
	}
	if b.enc == channels.Msgpack {
		return b.ws.SendMsgpack(payload)
	}
	return b.ws.SendJSON(payload)
}

// Close closes the connection with code and reason.
func (b *Base) Close(code websocket.StatusCode, reason string) error {
	return b.ws.Close(code, reason)
}

func (b *Base) channel() (*channels.Channel, error) {
	if b.cfg.Box == nil {
		return nil, ErrNoBox
	}
	if b.ch == nil {
		return nil, websocket.ErrNotAccepted
	}
	return b.ch, nil
}

// JoinGroup adds this connection to group.
func (b *Base) JoinGroup(ctx context.Context, group string) (channels.AddResult, error) {
	ch, err := b.channel()
	if err != nil {
		return 0, err
	}
	return b.cfg.Box.AddToGroup(ctx, group, ch.ID())
}

// LeaveGroup takes this connection out of group. Leaving every group on
// disconnect is automatic.
func (b *Base) LeaveGroup(ctx context.Context, group string) (channels.RemoveResult, error) {
	ch, err := b.channel()
	if err != nil {
		return 0, err
	}
	return b.cfg.Box.RemoveFromGroup(ctx, group, ch.ID())
}

// Broadcast sends payload to every member of group (see
// channels.ChannelBox.GroupSend); add channels.SaveHistory() to keep it,
// and b.ExceptSelf() to leave this connection out.
func (b *Base) Broadcast(ctx context.Context, group string, payload any, opts ...channels.SendOption) (int, error) {
	if b.cfg.Box == nil {
		return 0, ErrNoBox
	}
	return b.cfg.Box.GroupSend(ctx, group, payload, opts...)
}

// ExceptSelf is the Broadcast option that leaves this connection out.
func (b *Base) ExceptSelf() channels.SendOption {
	return channels.Except(b.ws.ID())
}

// Group returns the local members of group.
func (b *Base) Group(name string) []*channels.Channel {
	if b.cfg.Box == nil {
		return nil
	}
	return b.cfg.Box.Members(name)
}

// SendTo sends payload to another connection by id, wherever it lives.
func (b *Base) SendTo(ctx context.Context, channelID string, payload any) error {
	if b.cfg.Box == nil {
		return ErrNoBox
	}
	return b.cfg.Box.SendTo(ctx, channelID, payload)
}
