// Command chat is Switchboard's demo: a chat web page at
// http://127.0.0.1:8080 (flag -addr), with Prometheus metrics at
// /metrics. Pick a name and a room: you see who is online in the room and
// who is typing, get its recent history on joining, join, switch and
// leave other rooms, and a page that reconnects after a network drop or a
// reload recovers what it missed (and says so when it cannot). The page
// speaks the event protocol over /ws with the JavaScript client at
// /switchboard.js (types in /switchboard.d.ts, the msgpack codec in
// /msgpack.js, which ?codec=msgpack uses), which other pages can copy.
//
//	go run ./examples/chat
//
// With -redis, several processes share rooms, presence and history
// through Redis, behind a load balancer or on different ports:
//
//	go run ./examples/chat -addr 127.0.0.1:8081 -redis redis://127.0.0.1:6379
//	go run ./examples/chat -addr 127.0.0.1:8082 -redis redis://127.0.0.1:6379
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/graceful"
	"github.com/switchboard-go/switchboard/metrics/prom"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

//go:embed static
var static embed.FS

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	redisURL := flag.String("redis", "", "Redis URL (redis://host:port) shared by every process of the chat, or several, comma-separated, to shard over (the same list, in the same order, for every process); in memory when empty")
	history := flag.Int("history", channels.DefaultHistorySize, "messages each room keeps for those who join or come back")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var broker *redisbroker.Broker
	if *redisURL != "" {
		bo := &redisbroker.Options{Addr: *redisURL}
		if addrs := strings.Split(*redisURL, ","); len(addrs) > 1 {
			bo = &redisbroker.Options{Shards: addrs}
		}
		if broker, err = redisbroker.New(bo); err != nil {
			log.Fatal(err)
		}
	}
	tracker := websocket.NewTracker(nil)
	metrics := prom.New(&prom.Options{Tracker: tracker})
	box := newBox(brokerOrNil(broker), metrics, *history)
	metrics.Watch(box)
	slog.Info("chat server listening", "addr", ln.Addr().String(), "open", "http://"+ln.Addr().String())
	srv := &http.Server{Handler: newServer(box, tracker, metrics), ReadHeaderTimeout: 10 * time.Second}
	// On SIGINT or SIGTERM: no new connections, and every WebSocket closed
	// with 4000 after what was queued for it, in batches with jitter.
	stopper := graceful.Attach(srv, &graceful.Options{Boxes: []*channels.ChannelBox{box}, Tracker: tracker})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stopper.Shutdown(shutdown); err != nil {
			slog.Warn("shutdown", "err", err)
		}
		if broker != nil {
			broker.Close(shutdown) //nolint:errcheck // exiting
		}
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}

// brokerOrNil keeps a nil *Broker from becoming a non-nil interface.
func brokerOrNil(b *redisbroker.Broker) channels.Broker {
	if b == nil {
		return nil
	}
	return b
}

// newBox returns the chat's box over broker (nil for the default one),
// whose rooms keep history messages (0 for the default): it tells a room
// when a dead node's users leave it.
func newBox(broker channels.Broker, metrics channels.Metrics, history int) *channels.ChannelBox {
	var box *channels.ChannelBox
	made := make(chan struct{}) // box is set
	box = channels.NewBox(&channels.Options{Broker: broker, Metrics: metrics, HistorySize: history,
		OnPresenceGone: func(room string, gone []channels.PresenceInfo) { <-made; presenceGone(box, room, gone) }})
	close(made)
	return box
}

// user is the name the page gives in ?name=, trimmed. The middleware
// that sets it never refuses: checkName does, after the handshake.
func user(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSpace(r.URL.Query().Get("name"))
		next.ServeHTTP(w, r.WithContext(websocket.WithUser(r.Context(), name)))
	})
}

// checkName is the chat's rule for names, and the page's: 1 to 40
// characters once trimmed.
func checkName(name string) error {
	if n := utf8.RuneCountInString(name); n < 1 || n > 40 || !utf8.ValidString(name) {
		return errors.New("pick a name of 1 to 40 characters")
	}
	return nil
}

// refuse completes the handshake, then closes with 1008 and the reason: a
// browser cannot read the status of a refused handshake, so a 401 reaches
// the page as a bare drop, which a client retries forever, while a close
// code and reason reach it (switchboard.js reports them as "refused").
func refuse(ws *websocket.WebSocket, reason string) error {
	opts := &websocket.AcceptOptions{Subprotocols: []string{protocol.SubprotocolJSON, protocol.SubprotocolMsgpack}}
	if err := ws.Accept(ws.Context(), opts); err != nil {
		return err
	}
	return ws.Close(websocket.StatusPolicyViolation, reason)
}

// newServer returns the chat's handler; tracker (which may be nil) keeps
// its WebSockets for the shutdown, and metrics (which may be nil) are
// served at /metrics.
func newServer(box *channels.ChannelBox, tracker *websocket.Tracker, metrics *prom.Metrics) http.Handler {
	chat := events.NewEvents(&events.EventOptions{
		Box:       box,
		RateLimit: 20, // messages a second, per connection
		// A room "dm:alice:bob" is open only to alice and bob.
		AuthorizeJoin: func(_ context.Context, _ *events.EventConn, j events.JoinRequest) error {
			return mayJoin(j.User, j.Room)
		},
		OnConnect: func(ctx context.Context, c *events.EventConn) error {
			c.WebSocket().Set("rooms", &roomSet{})
			return nil
		},
		OnDisconnect: func(c *events.EventConn, _ websocket.StatusCode) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, room := range rooms(c).list() {
				presenceLeft(ctx, box, c, room)
			}
		},
	})
	// join: the built-in join (history, recovery), then the room's new
	// presence for everyone in it.
	chat.On("join", func(ctx context.Context, c *events.EventConn, ev *events.Event) error {
		if err := events.Join(ctx, c, ev); err != nil {
			return err
		}
		room, _ := c.RoomOf(ev)
		rooms(c).add(room)
		presenceJoined(ctx, box, c, room)
		return nil
	})
	chat.On("leave", func(ctx context.Context, c *events.EventConn, ev *events.Event) error {
		if err := events.Leave(ctx, c, ev); err != nil {
			return err
		}
		room, _ := c.RoomOf(ev)
		rooms(c).remove(room)
		presenceLeft(ctx, box, c, room)
		return nil
	})
	chat.On("message", func(ctx context.Context, c *events.EventConn, ev *events.Event) error {
		var p struct {
			Text string `json:"text"`
		}
		if err := ev.Decode(&p); err != nil || p.Text == "" || len(p.Text) > maxMessage {
			return errMessageSize
		}
		if !slices.Contains(rooms(c).list(), ev.Room) {
			return errJoinFirst
		}
		_, err := c.EmitToRoom(ctx, ev.Room, "message", map[string]any{
			"user": c.WebSocket().User(), "text": p.Text, "time": time.Now().UnixMilli(),
		})
		return err
	})
	// typing: {"user": "ada"} to the room's other members, not saved (no
	// offset, nothing to recover): what is worth only now.
	chat.On("typing", func(ctx context.Context, c *events.EventConn, ev *events.Event) error {
		if !slices.Contains(rooms(c).list(), ev.Room) {
			return errJoinFirst
		}
		_, err := box.GroupSend(ctx, ev.Room, typing(ev.Room, c.WebSocket().User()), channels.Except(c.Channel().ID()))
		return err
	})

	wsOpts := &websocket.Options{Tracker: tracker}
	mux := http.NewServeMux()
	if metrics != nil {
		wsOpts.Metrics = metrics
		mux.Handle("GET /metrics", metrics.Handler())
	}
	ws := router.NewWithOptions(&router.Options{WebSocket: wsOpts})
	ws.Use(user)
	handle := chat.Handler()
	ws.HandleFunc("/ws", func(ws *websocket.WebSocket) error {
		if err := checkName(ws.User()); err != nil {
			return refuse(ws, err.Error())
		}
		return handle(ws)
	})

	files, _ := fs.Sub(static, "static")
	mux.Handle("/", http.FileServerFS(files))
	mux.Handle("/ws", ws)
	return mux
}

// maxMessage is the longest message's text in bytes (UTF-8), the page's
// limit too.
const maxMessage = 2000

// The chat's errors, in the words the page shows.
var (
	errMessageSize = events.NewError(protocol.CodeBadRequest, "a message is 1 to 2000 bytes")
	errJoinFirst   = events.NewError(protocol.CodeForbidden, "join the room first")
)

// mayJoin is the chat's join rule: a direct-message room "dm:alice:bob"
// is open only to the two users it names; every other room to everyone.
func mayJoin(user, room string) error {
	pair, ok := strings.CutPrefix(room, "dm:")
	if !ok {
		return nil
	}
	if a, b, ok := strings.Cut(pair, ":"); ok && (user == a || user == b) {
		return nil
	}
	return events.NewError(protocol.CodeForbidden, "a dm:alice:bob room is only for alice and bob")
}

// roomSet is the rooms a connection joined, kept in its store.
type roomSet struct {
	mu    sync.Mutex
	rooms []string
}

func rooms(c *events.EventConn) *roomSet {
	v, _ := c.WebSocket().Get("rooms")
	return v.(*roomSet)
}

func (s *roomSet) add(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.rooms, room) {
		s.rooms = append(s.rooms, room)
	}
}

func (s *roomSet) remove(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms = slices.DeleteFunc(s.rooms, func(r string) bool { return r == room })
}

func (s *roomSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms)
}

// Presence in a room: who joins gets the room's users, {"users": [...]},
// and the others only the change, {"joined": "bob"} or {"left": "bob"},
// so that N joins cost each member N small events, not N lists of up to
// N names.

// presenceJoined tells the joiner who is in the room, and the others
// that its user joined.
func presenceJoined(ctx context.Context, box *channels.ChannelBox, c *events.EventConn, room string) {
	users, err := roomUsers(ctx, box, room, "")
	if err != nil {
		return
	}
	c.Send(presence(room, map[string]any{"users": users}))                                                                      //nolint:errcheck // best effort
	box.GroupSend(ctx, room, presence(room, map[string]any{"joined": c.WebSocket().User()}), channels.Except(c.Channel().ID())) //nolint:errcheck // best effort
}

// presenceLeft tells a room that c's user left, once the user has no
// other connection in it. (On a disconnect, c may still be in the
// room's presence: the box removes it when the connection has closed,
// which may come after OnDisconnect.)
func presenceLeft(ctx context.Context, box *channels.ChannelBox, c *events.EventConn, room string) {
	user := c.WebSocket().User()
	users, err := roomUsers(ctx, box, room, c.Channel().ID())
	if err != nil || slices.Contains(users, user) {
		return
	}
	box.GroupSend(ctx, room, presence(room, map[string]any{"left": user})) //nolint:errcheck // best effort
}

// presenceGone tells a room that the users of a dead node's connections
// left it (with -redis: their presence expired), each once it has no
// connection left in the room.
func presenceGone(box *channels.ChannelBox, room string, gone []channels.PresenceInfo) {
	if box.IsReserved(room) {
		return // the endpoint's group of every connection, not a room
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	users, err := roomUsers(ctx, box, room, "")
	if err != nil {
		return
	}
	told := map[string]bool{}
	for _, m := range gone {
		if !told[m.User] && !slices.Contains(users, m.User) {
			told[m.User] = true
			box.GroupSend(ctx, room, presence(room, map[string]any{"left": m.User})) //nolint:errcheck // best effort
		}
	}
}

// roomUsers returns the users in a room, each once, leaving out the
// connection except.
func roomUsers(ctx context.Context, box *channels.ChannelBox, room, except string) ([]string, error) {
	members, err := box.Presence(ctx, room)
	if err != nil {
		return nil, err
	}
	users := make([]string, 0, len(members))
	for _, m := range members {
		if m.ChannelID != except {
			users = append(users, m.User)
		}
	}
	slices.Sort(users)
	return slices.Compact(users), nil
}

func presence(room string, payload map[string]any) map[string]any {
	return map[string]any{"event": "presence", "payload": payload, "room": room}
}

// typing is the event that tells a room that user is typing.
func typing(room, user string) map[string]any {
	return map[string]any{"event": "typing", "payload": map[string]any{"user": user}, "room": room}
}
