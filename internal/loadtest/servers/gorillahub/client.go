package main

import (
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

const (
	// Time allowed to write a message to the peer.
	writeWait = 10 * time.Second
	// Time allowed to read the next pong message from the peer.
	pongWait = 60 * time.Second
	// Send pings to peer with this period. Must be less than pongWait.
	pingPeriod = (pongWait * 9) / 10
	// Maximum message size allowed from peer. The example's 512 bytes
	// would end a publisher's connection at its first 1 KiB message; 64
	// KiB is Switchboard's default read limit.
	maxMessageSize = 64 << 10
)

// Client is a middleman between the WebSocket connection and the hub.
type Client struct {
	hub  *Hub
	conn *websocket.Conn
	// send holds outbound messages. A member's is closed by the hub; a
	// publisher's, which the hub never sees, by its read pump.
	send chan []byte
	// rooms are a member's rooms; a publisher, which sends to rooms, is
	// in none.
	rooms     []string
	publisher bool
	conns     *atomic.Int64
}

// readPump pumps messages from the WebSocket connection: a publisher's to
// the hub, a member's nowhere.
//
// The application runs readPump in a per-connection goroutine. It ensures
// that there is at most one reader on a connection by executing all reads
// from this goroutine.
func (c *Client) readPump() {
	defer func() {
		c.conns.Add(-1)
		if c.publisher {
			close(c.send)
		} else {
			c.hub.unregister <- c
		}
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait)) //nolint:errcheck // as in the example
	c.conn.SetPongHandler(func(string) error {
		c.conn.SetReadDeadline(time.Now().Add(pongWait)) //nolint:errcheck
		return nil
	})
	for {
		typ, message, err := c.conn.ReadMessage()
		if err != nil {
			break
		}
		if c.publisher && typ == websocket.TextMessage {
			room, payload, err := proto.SplitPublish(message)
			if err != nil {
				c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, err.Error()), time.Now().Add(writeWait)) //nolint:errcheck
				break
			}
			c.hub.broadcast <- publication{string(room), payload}
		}
	}
}

// writePump pumps messages from the hub to the WebSocket connection, one
// frame each, and pings the peer.
//
// A goroutine running writePump is started for each connection. It
// ensures that there is at most one writer to a connection by executing
// all writes from this goroutine.
func (c *Client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case message, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck
			if !ok {
				// The hub closed the channel.
				c.conn.WriteMessage(websocket.CloseMessage, []byte{}) //nolint:errcheck
				return
			}
			if err := c.conn.WriteMessage(websocket.TextMessage, message); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}
