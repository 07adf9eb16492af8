// Command switchboard is the load test's Switchboard server: a
// websocket.Handler and a ChannelBox, both with default options, where a
// room is a group. See package proto for the contract. With -redis, the
// box's broker is the Redis broker (channels/redisbroker, default options
// but for the address), so a run measures what Redis adds to one node.
//
//	switchboard -addr 127.0.0.1:0
//	switchboard -addr 127.0.0.1:0 -redis redis://127.0.0.1:6379 -redis-pid PID
package main

import (
	"errors"
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
	"github.com/switchboard-go/switchboard/websocket"
)

func main() {
	redisAddr := flag.String("redis", "", "use the Redis broker at this address (host:port or redis:// URL); several, comma-separated, are its shards")
	redisPID := flag.String("redis-pid", "", "the redis-servers' process ids, comma-separated, whose CPU time /stats reports as broker_cpu_seconds")
	proto.Serve("switchboard", func() http.Handler { return handler(*redisAddr, *redisPID) })
}

func handler(redisAddr, redisPIDs string) http.Handler {
	var opts *channels.Options
	var pids []int
	for _, f := range strings.Split(redisPIDs, ",") {
		if pid, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			pids = append(pids, pid)
		}
	}
	if redisAddr != "" {
		bo := &redisbroker.Options{Addr: redisAddr}
		if addrs := strings.Split(redisAddr, ","); len(addrs) > 1 {
			bo = &redisbroker.Options{Shards: addrs}
		}
		// Not closed: the process ends with the server (see proto.Serve).
		rb, err := redisbroker.New(bo)
		if err != nil {
			log.Fatalf("switchboard: %v", err)
		}
		opts = &channels.Options{Broker: rb}
	}
	box := channels.NewBox(opts)
	var conns atomic.Int64
	// AllowedOrigins is the one option set: the contract accepts any
	// Origin (the load client sends none, which Switchboard accepts
	// anyway).
	ws := websocket.Handler(func(ws *websocket.WebSocket) error {
		q := ws.Query()
		rooms, publisher := q["room"], q.Get("publish") == "1"
		if len(rooms) == 0 && !publisher {
			return ws.Reject(http.StatusBadRequest, "room is required")
		}
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		if publisher {
			return publish(box, ws, &conns)
		}
		return member(box, ws, rooms, &conns)
	}, &websocket.Options{AllowedOrigins: []string{"*"}})

	mux := http.NewServeMux()
	mux.Handle("GET /ws", ws)
	mux.Handle("GET /stats", proto.StatsHandler(func() int { return int(conns.Load()) }, pids...))
	return mux
}

// publish serves a publisher: each text message is "ROOM PAYLOAD", sent to
// the room's members with GroupSend. conns counts it while it is
// connected.
func publish(box *channels.ChannelBox, ws *websocket.WebSocket, conns *atomic.Int64) error {
	conns.Add(1)
	defer conns.Add(-1)
	ctx := ws.Context()
	for {
		msg, err := ws.ReceiveText(ctx)
		var mte *websocket.MessageTypeError
		switch {
		case errors.As(err, &mte):
			continue // only text is published
		case err != nil:
			return err
		}
		room, payload, err := proto.SplitPublish(msg)
		if err != nil {
			return ws.Close(websocket.StatusPolicyViolation, err.Error())
		}
		// A string goes out as a text frame.
		if _, err := box.GroupSend(ctx, room, payload); err != nil {
			return err
		}
	}
}

// member registers ws in the box, joins its rooms and reads until the
// client leaves. conns counts it once it is in its rooms.
//
// publish and member are functions of their own, not branches of the
// handler's closure, as the websocket package's doc on memory advises: a
// closure holding both would have a frame big enough to double the stack
// every idle member keeps (2 KiB to 4 KiB).
func member(box *channels.ChannelBox, ws *websocket.WebSocket, rooms []string, conns *atomic.Int64) error {
	ctx := ws.Context()
	ch, err := box.Register(ws, nil)
	if err != nil {
		return err
	}
	for _, room := range rooms {
		if _, err := box.AddToGroup(ctx, room, ch.ID()); err != nil {
			return err
		}
	}
	conns.Add(1)
	defer conns.Add(-1)
	for {
		if _, _, err := ws.Receive(ctx); err != nil {
			return err
		}
	}
}
