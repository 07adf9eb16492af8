// Package servers holds the load test's servers, one command each, that
// speak the same contract (see package proto) so that one client measures
// them all:
//
//   - switchboard: Switchboard with default options, a ChannelBox group
//     per room.
//   - melody: olahol/melody, rooms in a map under a mutex,
//     BroadcastMultiple.
//   - gorillahub: gorilla/websocket written as gorilla's chat example,
//     a hub goroutine per room, read and write pumps per client.
//
// and one yardstick, not a peer:
//
//   - floor: the publisher's goroutine writes each message, framed once,
//     straight to every member's socket. It is run in the latency
//     scenario only, to show what the client and the kernel cost there
//     whatever the server.
//
// Its test builds each command, starts it and checks the contract with
// real clients.
package servers
