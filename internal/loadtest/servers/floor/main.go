// Command floor is a reference server for the latency scenario, not a peer:
// the publisher's goroutine writes each message, framed once, straight to
// every member's socket in turn, with nothing in between (no queue, no
// goroutine per member, no library on the way out). No server built on
// Go's net package delivers a message to a room with less work, so its
// latency is the floor that the load client and the kernel set on this
// machine for every server.
//
// It is for scenario 4 only, where every member reads: a member that
// stopped reading would block the publisher, and with it the room.
package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

type room struct {
	mu      sync.Mutex
	members []net.Conn
}

type server struct {
	mu    sync.Mutex
	rooms map[string]*room
	conns atomic.Int64
}

func (s *server) room(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		r = &room{}
		s.rooms[name] = r
	}
	return r
}

func main() {
	proto.Serve("floor", func() http.Handler {
		s := &server{rooms: make(map[string]*room)}
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			rooms, publisher := q["room"], q.Get("publish") == "1"
			if len(rooms) == 0 && !publisher {
				http.Error(w, "room is required", http.StatusBadRequest)
				return
			}
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetReadLimit(64 << 10)
			if publisher {
				s.conns.Add(1)
				defer s.conns.Add(-1)
				s.publish(c)
				return
			}
			var mine []*room
			for _, name := range rooms {
				rm := s.room(name)
				rm.mu.Lock()
				rm.members = append(rm.members, c.NetConn())
				rm.mu.Unlock()
				mine = append(mine, rm)
			}
			s.conns.Add(1)
			defer s.conns.Add(-1)
			for {
				if _, _, err := c.NextReader(); err != nil {
					break
				}
			}
			for _, rm := range mine {
				rm.mu.Lock()
				for i, m := range rm.members {
					if m == c.NetConn() {
						rm.members = append(rm.members[:i], rm.members[i+1:]...)
						break
					}
				}
				rm.mu.Unlock()
			}
		})
		mux.Handle("GET /stats", proto.StatsHandler(func() int { return int(s.conns.Load()) }, 0))
		return mux
	})
}

// publish reads "ROOM PAYLOAD" text messages and writes each payload as
// one unmasked text frame to every member of the room, in turn.
func (s *server) publish(c *websocket.Conn) {
	var frame []byte
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		name, payload, err := proto.SplitPublish(msg)
		if err != nil {
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, err.Error()), time.Now().Add(5*time.Second)) //nolint:errcheck // the publisher may be gone
			return
		}
		frame = appendFrame(frame[:0], payload)
		rm := s.room(string(name))
		rm.mu.Lock()
		for _, m := range rm.members {
			m.Write(frame) //nolint:errcheck // a member that fails is gone; its reader removes it
		}
		rm.mu.Unlock()
	}
}

// appendFrame appends a final, unmasked text frame holding p.
func appendFrame(dst, p []byte) []byte {
	dst = append(dst, 0x81)
	switch n := len(p); {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, p...)
}
