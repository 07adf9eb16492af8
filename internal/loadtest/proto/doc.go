// Package proto is the contract the load test's servers, client and
// orchestrator share: the payload a publisher sends (Encode, Decode), the
// figures a server reports at GET /stats (Stats, ReadStats, StatsHandler),
// and the way a server starts and stops (Serve).
//
// Every server under internal/loadtest/servers speaks it:
//
//	GET /ws?room=R            a member of room R; what it sends is discarded
//	GET /ws?room=R&publish=1  a publisher: each text message it sends goes
//	                          to R's members as a text frame; not a member
//	GET /stats[?gc=1]         Stats as JSON
//
// A server prints one line, addr=HOST:PORT, to stdout once it listens, and
// exits 0 on SIGINT or SIGTERM.
package proto
