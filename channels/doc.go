// Package channels is Switchboard's registry of connections: a ChannelBox
// holds the program's channels (registered WebSockets), puts them in
// groups, sends to a group, a channel or a user's every device from
// anywhere (a handler, an HTTP endpoint, a background job), keeps a
// history per group so that clients recover what they missed, closes idle
// channels, and tells who is online.
//
//	box := channels.NewBox(nil)           // one per program; no globals
//	defer box.Close(ctx)
//
//	// in a WebSocket handler, after Accept:
//	ch, err := box.Register(ws, &channels.RegisterOptions{User: "ada"})
//	box.AddToGroup(ctx, "room:lobby", ch.ID())
//
//	// anywhere:
//	box.GroupSend(ctx, "room:lobby", msg, channels.SaveHistory())
//	box.SendToUser(ctx, "ada", notice)
//	reached, err := box.SendToChannels(ctx, ids, notice) // on any node
//
// # Sending
//
// Sends only enqueue (see the websocket package): a member that does not
// read is closed with StatusSlowConsumer and leaves its groups, and never
// holds up the others. A payload is encoded once per wire form present in
// the group — a string is a text frame, a []byte a binary frame, and any
// other value JSON (text frames, or binary for Bytes channels) or msgpack
// (Msgpack channels) — and the same bytes go to every member.
//
// # History and recovery
//
// A group's history is a ring capped by count (Options.HistorySize,
// default 100), age (Options.HistoryTTL, default 10 minutes) and bytes
// (Options.HistoryMaxBytes, default 1 MiB); the default broker also caps
// all groups' histories together (Options.HistoryMaxBytesTotal, default
// 64 MiB, the oldest entries of any group dropped first), drops expired
// entries in the background, and forgets a group left with neither
// members nor history (its next use starts a new epoch). Each
// entry has an offset that grows by one and is never reused within an
// epoch, and the history has an epoch that changes when it is flushed or
// lost. A new epoch may start the offsets again at 1 (the Redis broker's
// does after a FLUSHALL, or keys deleted or evicted, without any
// disconnect), so a saved Positioned value shows the epoch next to the
// offset (the event consumer's envelope does), and a member tells the new
// epoch's messages from those it saw. A client
// that keeps the Position of the last message it saw asks History for what
// came after it; recovered is false when the epoch changed or entries were
// already dropped, and the client must then resynchronise some other way.
//
// # Nodes
//
// The Broker carries what must cross processes. The default MemoryBroker
// serves one process (boxes that share one behave as a cluster in one
// process); the Redis broker (package channels/redisbroker) lets many
// processes behave as one box, with no change to the code that uses it.
// Package channels/brokertest is the conformance suite both pass: run it
// against a Broker of your own.
//
// Unsaved messages go to the local members at once and to the other nodes
// through the broker. Saved messages (SaveHistory) are delivered by the
// broker to every node, the sender's included, so that every member sees a
// group's saved messages in offset order, whoever sent them; with a
// network broker they arrive a round trip later, and GroupSend's count is
// then the local members they were sent to. A node that lost saved
// messages the history cannot give back (its broker's data was lost)
// closes the group's local members with websocket.StatusServiceRestart:
// their clients reconnect and, rejoining from their position, learn that
// they did not recover. A group of which the node had seen no saved
// message keeps its members: when its history comes back empty under a
// new epoch, nothing the node knew of was lost.
package channels
