package client

import (
	"errors"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// conn is one WebSocket connection of a client.
type conn struct {
	c    *Client
	ws   *gws.Conn
	typ  int // the frame type of the codec
	wmu  sync.Mutex
	once sync.Once
	done chan struct{} // closed by shut
	read chan struct{} // closed when the read loop ends
}

func newConn(c *Client, ws *gws.Conn) *conn {
	cn := &conn{c: c, ws: ws, typ: gws.TextMessage, done: make(chan struct{}), read: make(chan struct{})}
	if c.opts.Codec.Binary() {
		cn.typ = gws.BinaryMessage
	}
	// Every frame shows the server alive: pongs and pings too.
	ws.SetPongHandler(func(string) error { cn.alive(); return nil })
	ws.SetPingHandler(func(data string) error {
		cn.alive()
		err := ws.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(c.opts.WriteTimeout))
		if errors.Is(err, gws.ErrCloseSent) {
			return nil
		}
		return err
	})
	return cn
}

// alive pushes the read deadline back: with no frame for PingInterval the
// pinger pings, and with none for PongTimeout more the read fails.
func (cn *conn) alive() {
	cn.ws.SetReadDeadline(time.Now().Add(cn.c.opts.PingInterval + cn.c.opts.PongTimeout)) //nolint:errcheck // fails only once closed
}

// write sends one envelope. A failed write closes the connection, which
// ends its read loop and so starts a reconnect.
func (cn *conn) write(data []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	cn.ws.SetWriteDeadline(time.Now().Add(cn.c.opts.WriteTimeout)) //nolint:errcheck // fails only once closed
	err := cn.ws.WriteMessage(cn.typ, data)
	if err != nil {
		cn.ws.Close()
	}
	return err
}

// pinger pings the server every PingInterval, until the connection ends.
// (The server answers pings at once, so an answered ping keeps the read
// deadline ahead even on a quiet connection.)
func (cn *conn) pinger() {
	t := time.NewTicker(cn.c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-t.C:
			if err := cn.ws.WriteControl(gws.PingMessage, nil, time.Now().Add(cn.c.opts.WriteTimeout)); err != nil {
				cn.ws.Close()
				return
			}
		}
	}
}

// readLoop reads the connection's frames until it ends, and returns why:
// a *CloseError when the server closed it, else the network's error.
func (cn *conn) readLoop() error {
	defer close(cn.read)
	c := cn.c
	cn.alive()
	for {
		typ, data, err := cn.ws.ReadMessage()
		if err != nil {
			var ce *gws.CloseError
			if errors.As(err, &ce) {
				return &CloseError{Code: ce.Code, Reason: ce.Text}
			}
			return err
		}
		cn.alive()
		if typ != cn.typ {
			continue // not an envelope of this codec
		}
		ev, err := decodeEvent(c.opts.Codec, data)
		if err != nil {
			c.opts.OnError(err)
			continue
		}
		if !c.receive(ev) {
			c.opts.OnError(ErrHandlersBehind)
			cn.closeWith(gws.CloseGoingAway, "client fell behind")
			return ErrHandlersBehind
		}
	}
}

// receive routes one event from the read loop: the answer to a call
// settles it; a room message moves its room's position; the rest goes to
// the handlers. It reports false when the handlers' queue is full.
func (c *Client) receive(ev *Event) bool {
	if ev.Ref != "" {
		c.mu.Lock()
		cl := c.calls[ev.Ref]
		c.mu.Unlock()
		if cl != nil {
			if cl.onAns != nil {
				cl.onAns(ev)
			}
			c.settle(cl, ev, nil)
			return true
		}
	}
	if len(c.queue) == cap(c.queue) {
		return false // only this goroutine sends on c.queue
	}
	if ev.Room != "" && ev.Offset > 0 && !c.track(ev) {
		return true // a duplicate
	}
	if ev.Name == protocol.EventError && ev.Ref == "" {
		c.opts.OnError(serverError(ev))
		return true
	}
	c.queue <- ev
	return true
}

// closeWith sends a close frame and closes the connection.
func (cn *conn) closeWith(code int, reason string) {
	cn.ws.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(code, reason), time.Now().Add(cn.c.opts.WriteTimeout)) //nolint:errcheck // closing anyway
	cn.ws.Close()
}

// closeNormally closes with 1000 and waits, up to a second, for the
// server's answer to end the read loop.
func (cn *conn) closeNormally() {
	cn.ws.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), time.Now().Add(cn.c.opts.WriteTimeout)) //nolint:errcheck // closing anyway
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-cn.read:
	case <-t.C:
	}
	cn.shut()
}

// shut ends the connection and its pinger.
func (cn *conn) shut() {
	cn.once.Do(func() {
		close(cn.done)
		cn.ws.Close()
	})
}
