// Command melody is the load test's olahol/melody server: default
// settings but for the largest message, rooms kept in a map under a mutex
// and broadcast with BroadcastMultiple. See package proto for the contract.
//
//	melody -addr 127.0.0.1:0
package main

import (
	"log"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/olahol/melody"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

// Session keys.
const (
	keyRooms = "rooms" // a member's []string
	keyBuf   = "buf"   // a publisher's *[]*melody.Session, reused per message
)

// rooms are the members of each room.
type rooms struct {
	mu sync.Mutex
	m  map[string]map[*melody.Session]struct{}
}

func (r *rooms) join(room string, s *melody.Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	members := r.m[room]
	if members == nil {
		members = make(map[*melody.Session]struct{})
		r.m[room] = members
	}
	members[s] = struct{}{}
}

func (r *rooms) leave(room string, s *melody.Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m[room], s)
	if len(r.m[room]) == 0 {
		delete(r.m, room)
	}
}

// members appends room's members to buf.
func (r *rooms) members(buf []*melody.Session, room string) []*melody.Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.m[room] {
		buf = append(buf, s)
	}
	return buf
}

func main() {
	proto.Serve("melody", handler)
}

func handler() http.Handler {
	m := melody.New() // its Upgrader accepts any Origin
	// Melody's default MaxMessageSize is 512 bytes: a publisher's 1 KiB
	// message would end its connection. 64 KiB is Switchboard's default
	// read limit.
	m.Config.MaxMessageSize = 64 << 10
	rs := &rooms{m: make(map[string]map[*melody.Session]struct{})}
	var conns atomic.Int64

	m.HandleConnect(func(s *melody.Session) {
		if _, pub := s.Get(keyBuf); !pub {
			for _, room := range s.MustGet(keyRooms).([]string) {
				rs.join(room, s)
			}
		}
		conns.Add(1) // a member counts once it is in its rooms
	})
	m.HandleDisconnect(func(s *melody.Session) {
		conns.Add(-1)
		if _, pub := s.Get(keyBuf); !pub {
			for _, room := range s.MustGet(keyRooms).([]string) {
				rs.leave(room, s)
			}
		}
	})
	// HandleMessage runs on the sender's read goroutine, one message at a
	// time, so a publisher's buffer needs no lock. Members' messages are
	// dropped.
	m.HandleMessage(func(s *melody.Session, msg []byte) {
		v, pub := s.Get(keyBuf)
		if !pub {
			return
		}
		room, payload, err := proto.SplitPublish(msg)
		if err != nil {
			s.CloseWithMsg(melody.FormatCloseMessage(1008, err.Error())) //nolint:errcheck // the peer may be gone
			return
		}
		buf := v.(*[]*melody.Session)
		*buf = rs.members((*buf)[:0], string(room))
		// BroadcastMultiple only enqueues: a member whose buffer
		// (Config.MessageBufferSize, 256 messages) is full misses the
		// message and stays connected. It stops at the first member
		// already closed (one between its end and HandleDisconnect), and
		// the members after it miss the message too: melody's behaviour,
		// measured as it is.
		m.BroadcastMultiple(payload, *buf) //nolint:errcheck // see above
		clear(*buf)                        // hold no closed session until the next message
	})

	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		keys := map[string]any{keyRooms: q["room"]}
		switch {
		case q.Get("publish") == "1":
			keys[keyBuf] = new([]*melody.Session)
		case len(q["room"]) == 0:
			http.Error(w, "room is required", http.StatusBadRequest)
			return
		}
		if err := m.HandleRequestWithKeys(w, r, keys); err != nil {
			log.Printf("upgrade: %v", err)
		}
	})

	mux := http.NewServeMux()
	mux.Handle("GET /ws", ws)
	mux.Handle("GET /stats", proto.StatsHandler(func() int { return int(conns.Load()) }, 0))
	return mux
}
