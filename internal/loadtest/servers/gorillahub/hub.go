package main

// publication is a payload for one room's members.
type publication struct {
	room    string
	payload []byte
}

// Hub maintains the rooms' members and broadcasts messages to them. As in
// gorilla's chat example there is one hub, and it alone touches its maps
// and closes members' send channels; the example's one set of clients is
// a set per room here.
type Hub struct {
	// rooms are the registered members of each room.
	rooms map[string]map[*Client]bool
	// broadcast carries publishers' messages.
	broadcast chan publication
	// register carries members joining.
	register chan *Client
	// unregister carries members leaving.
	unregister chan *Client
}

func newHub() *Hub {
	return &Hub{
		broadcast:  make(chan publication),
		register:   make(chan *Client),
		unregister: make(chan *Client),
		rooms:      make(map[string]map[*Client]bool),
	}
}

// remove takes client out of its rooms and closes its send channel, once:
// only a client still registered (in its first room) is closed.
func (h *Hub) remove(client *Client) {
	if _, ok := h.rooms[client.rooms[0]][client]; !ok {
		return
	}
	for _, room := range client.rooms {
		delete(h.rooms[room], client)
		if len(h.rooms[room]) == 0 {
			delete(h.rooms, room)
		}
	}
	close(client.send)
}

// run is the hub's goroutine, the owner of rooms and of each member's send
// channel, which it closes when the member leaves or falls behind.
func (h *Hub) run() {
	for {
		select {
		case client := <-h.register:
			for _, room := range client.rooms {
				members := h.rooms[room]
				if members == nil {
					members = make(map[*Client]bool)
					h.rooms[room] = members
				}
				members[client] = true
			}
		case client := <-h.unregister:
			h.remove(client)
		case p := <-h.broadcast:
			for client := range h.rooms[p.room] {
				select {
				case client.send <- p.payload:
				default:
					// A member whose send channel is full is dropped:
					// its write pump sends a close frame and ends.
					// Deleting during range is safe in Go.
					h.remove(client)
				}
			}
		}
	}
}
