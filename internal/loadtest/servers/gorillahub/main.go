// Command gorillahub is the load test's plain gorilla/websocket server,
// written the way gorilla's chat example is (examples/chat: hub.go,
// client.go): one hub goroutine, and per connection a read pump and a
// write pump goroutine with a send channel of 256 messages; the hub drops
// a member whose channel is full. See package proto for the contract.
//
// It departs from the example where the contract needs it: the largest
// message is 64 KiB, not 512 bytes; each message is a frame of its own
// (the example joins queued messages with newlines into one frame); the
// hub keeps its members by room, chosen by the query; and a publisher is
// not a member.
//
//	gorillahub -addr 127.0.0.1:0
package main

import (
	"log"
	"net/http"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	CheckOrigin:     func(*http.Request) bool { return true },
}

// server holds the hub and counts connections.
type server struct {
	conns atomic.Int64
	hub   *Hub
}

// serveWs handles a WebSocket request from a member or a publisher.
func (s *server) serveWs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rooms, publisher := q["room"], q.Get("publish") == "1"
	if publisher {
		rooms = nil
	} else if len(rooms) == 0 {
		http.Error(w, "room is required", http.StatusBadRequest)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		log.Println(err)
		return
	}
	c := &Client{
		hub:       s.hub,
		conn:      conn,
		send:      make(chan []byte, 256),
		rooms:     rooms,
		publisher: publisher,
		conns:     &s.conns,
	}
	if !c.publisher {
		// The hub has the client once the send is taken, so what is
		// broadcast after this reaches it.
		c.hub.register <- c
	}
	s.conns.Add(1) // a member counts once it is in its rooms
	go c.writePump()
	go c.readPump()
}

func main() {
	proto.Serve("gorillahub", func() http.Handler {
		// As in the example, the hub runs for the life of the process.
		s := &server{hub: newHub()}
		go s.hub.run()
		mux := http.NewServeMux()
		mux.HandleFunc("GET /ws", s.serveWs)
		mux.Handle("GET /stats", proto.StatsHandler(func() int { return int(s.conns.Load()) }, 0))
		return mux
	})
}
