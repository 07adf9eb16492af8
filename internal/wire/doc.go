// Package wire is everything of a server WebSocket connection that reaches
// beneath gorilla/websocket, which keeps the handshake and the reading of
// data frames: frame encoding, the write side (Conn: burst coalescing,
// non-blocking writes and gorilla's own writes) and the read side (Reader: the lent read buffer
// and the idle wait that answers pings and pongs before gorilla sees them).
//
// Invariants: check these before changing anything here.
//
//  1. One byte stream per direction. Every byte written goes through Conn,
//     under Conn's mutex, so gorilla's writes (its protocol-error close
//     frames, from the reading goroutine) never interleave with a frame of
//     the writer's. A non-blocking write (TryWriteLocked, for a pool
//     writer) that the socket took only part of leaves the rest in Conn,
//     and the next write sends it first. Once gorilla has written its
//     close frame, the writer's frames are dropped: nothing follows it.
//  2. Between messages the next byte on the socket starts a frame. Reader's
//     idle wait (Await) runs only then, with the read lock held, and reads
//     from the socket only whole ping or pong frames it has already seen
//     queued (MSG_PEEK); anything else is left for gorilla to read.
//  3. An idle connection holds no buffer: the read buffer is lent from
//     Pools only while a message is read and returned once nothing is
//     buffered in it; the burst buffer only during a burst, and Flush gives
//     it back before the writer exits.
//  4. The idle wait's stack stays shallow: peek's frame is a few words and
//     6 bytes; the larger buffer of a control payload is in peekPayload,
//     which is not inlined. Every idle connection's goroutine passes through
//     peek, so its frame is paid once per connection.
//  5. Nothing here depends on another library's error texts. A protocol
//     failure by gorilla is known by the close frame it writes (CloseFrameOf
//     on what passes through Conn.Write); a 1-byte close payload, which
//     gorilla reads as a close without a code, is known by Reader.BadClose.
//  6. What a connection allocates here is allocated once: the
//     HijackWriter (for the handshake only), the Conn, the bufio.Reader
//     gorilla holds (its buffer is lent) and Await's callback. Reader is
//     embedded by value in its connection, and its Control is a pointer
//     conversion, not a closure. Writing a data frame allocates nothing.
//
// The idle wait works on Linux (not 386); elsewhere Await returns at once
// and gorilla waits, holding the read buffer.
package wire
