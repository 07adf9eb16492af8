// Package client is a Go client of Switchboard's event protocol,
// switchboard.v1 (docs/PROTOCOL.md): for services, bots, command-line tools
// and tests that talk to a server built with consumers.NewEvents.
//
// A Client stays connected. Register handlers, connect, then call:
//
//	c := client.New("wss://chat.example.com/ws", &client.Options{
//		Credentials: func(ctx context.Context) (http.Header, error) {
//			return http.Header{"Authorization": {"Bearer " + token(ctx)}}, nil
//		},
//		OnMissed: func(room string) { log.Printf("%s: messages may be missing", room) },
//	})
//	client.On(c, "message", func(ctx context.Context, m Message, ev *client.Event) {
//		fmt.Println(ev.Room, m.Text)
//	})
//	if err := c.Connect(ctx); err != nil { ... }
//	defer c.Close()
//	if _, err := c.Join(ctx, "lobby", nil); err != nil { ... }
//	reply, err := client.Call[Reply](ctx, c, "message", Message{Text: "hi"}, client.InRoom("lobby"))
//
// What it does for you:
//
//   - Reconnects with jittered exponential backoff, and follows the close
//     codes of docs/PROTOCOL.md: a server shutting down (4000) or
//     restarting (1012) is retried at once; a slow consumer (4001), rate
//     limiting (4003) and "try again later" (1013, HTTP 429 and 503) wait
//     longer; a refusal (HTTP 401 and 403, 1008, 4004) or a client bug
//     (1002, 1003, 1007) stops the client, which reports why to
//     Options.OnState and to Connect. Credentials are fetched again before
//     every handshake, so an expired token (4005) is refreshed.
//   - Rejoins every room after a reconnect from its position (the epoch
//     and offset of the last message it accepted), so that what was
//     missed follows, drops duplicates, and calls Options.OnMissed when
//     messages may be lost (a rejoin that did not recover, a new epoch).
//   - Correlates answers: Call returns the reply, the ack or the error
//     event (a *ServerError with its stable code) of its event. A call
//     made while away waits to be sent; a call sent on a connection that
//     ended unanswered is sent again, with the same ref, after the
//     reconnect. Unless the server deduplicates refs, its handler may then
//     run twice.
//   - Runs handlers one at a time, in order, on a goroutine of its own
//     with a bounded queue, never on the read loop: a handler may Call
//     and wait. Handlers that fall behind by more than
//     Options.HandlerQueue events make the client reconnect and recover,
//     as a server does with a slow consumer, and ErrHandlersBehind is
//     reported: messages of rooms come back by recovery, while events
//     that were never saved are lost and the report says so.
//   - Pings the server every Options.PingInterval and takes a connection
//     that stays silent for PingInterval and PongTimeout together for
//     dead.
//
// Its goroutines: one for the connection, one for the handlers, and, per
// open connection, a reader and a pinger. Close ends them all.
package client
