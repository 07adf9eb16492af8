// Package proto is the contract the load test's servers, client and
// orchestrator share: the payload a publisher sends (Encode, Decode), the
// figures a server reports at GET /stats (Stats, ReadStats, StatsHandler),
// and the way a server starts and stops (Serve).
//
// Every server under internal/loadtest/servers speaks it:
//
//	GET /ws?room=R[&room=S…]  a member of room R (and S…); what it sends
//	                          is discarded
//	GET /ws?publish=1         a publisher, not a member: each text message
//	                          it sends is a room, a space and a payload
//	                          (AppendRoom, SplitPublish), and the payload
//	                          goes to that room's members as a text frame
//	GET /stats[?gc=1]         Stats as JSON
//
// A server prints one line, addr=HOST:PORT, to stdout once it listens, and
// exits 0 on SIGINT or SIGTERM.
package proto
