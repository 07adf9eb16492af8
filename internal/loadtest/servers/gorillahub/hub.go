package main

// Hub maintains one room's members and broadcasts messages to them.
type Hub struct {
	// clients are the registered members.
	clients map[*Client]bool
	// broadcast carries publishers' messages.
	broadcast chan []byte
	// register carries members joining.
	register chan *Client
	// unregister carries members leaving.
	unregister chan *Client
}

func newHub() *Hub {
	return &Hub{
		broadcast:  make(chan []byte),
		register:   make(chan *Client),
		unregister: make(chan *Client),
		clients:    make(map[*Client]bool),
	}
}

// run is the hub's goroutine, the owner of clients and of each member's
// send channel, which it closes when the member leaves or falls behind.
func (h *Hub) run() {
	for {
		select {
		case client := <-h.register:
			h.clients[client] = true
		case client := <-h.unregister:
			if _, ok := h.clients[client]; ok {
				delete(h.clients, client)
				close(client.send)
			}
		case message := <-h.broadcast:
			for client := range h.clients {
				select {
				case client.send <- message:
				default:
					// A member whose send channel is full is dropped:
					// its write pump sends a close frame and ends.
					close(client.send)
					delete(h.clients, client)
				}
			}
		}
	}
}
