// Command switchboard is the load test's Switchboard server: a
// websocket.Handler and a ChannelBox, both with default options, where a
// room is a group. See package proto for the contract.
//
//	switchboard -addr 127.0.0.1:0
package main

import (
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
	"github.com/switchboard-go/switchboard/websocket"
)

func main() {
	box := channels.NewBox(nil)
	var conns atomic.Int64
	// AllowedOrigins is the one option set: the contract accepts any
	// Origin (the load client sends none, which Switchboard accepts
	// anyway).
	ws := websocket.Handler(func(ws *websocket.WebSocket) error {
		room := ws.Query().Get("room")
		if room == "" {
			return ws.Reject(http.StatusBadRequest, "room is required")
		}
		ctx := ws.Context()
		if err := ws.Accept(ctx, nil); err != nil {
			return err
		}
		if ws.Query().Get("publish") == "1" {
			conns.Add(1)
			defer conns.Add(-1)
			for {
				msg, err := ws.ReceiveText(ctx)
				var mte *websocket.MessageTypeError
				switch {
				case errors.As(err, &mte):
					continue // only text is published
				case err != nil:
					return err
				}
				// A string goes out as a text frame.
				if _, err := box.GroupSend(ctx, room, msg); err != nil {
					return err
				}
			}
		}
		ch, err := box.Register(ws, nil)
		if err != nil {
			return err
		}
		if _, err := box.AddToGroup(ctx, room, ch.ID()); err != nil {
			return err
		}
		conns.Add(1) // a member counts once it is in its room
		defer conns.Add(-1)
		for {
			if _, _, err := ws.Receive(ctx); err != nil {
				return err
			}
		}
	}, &websocket.Options{AllowedOrigins: []string{"*"}})

	mux := http.NewServeMux()
	mux.Handle("GET /ws", ws)
	mux.Handle("GET /stats", proto.StatsHandler(func() int { return int(conns.Load()) }))
	proto.Serve("switchboard", mux)
}
