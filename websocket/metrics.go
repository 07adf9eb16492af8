package websocket

// Metrics receives what happens to connections, for monitoring (package
// metrics/prom is a Prometheus implementation). Its methods are called on
// hot paths, from many goroutines: they must be safe for concurrent use
// and quick. What is better read at scrape time (open connections, bytes
// waiting in outbound queues) is on Tracker instead.
type Metrics interface {
	// Accepted counts a completed handshake.
	Accepted()
	// Rejected counts a handshake answered with an HTTP error, by reason:
	// "origin" (a foreign Origin), "handshake" (a malformed upgrade, or
	// one over HTTP/1.0), "header_size" (headers over
	// Options.MaxHeaderBytes),
	// "draining" (the Tracker is shutting down), "limit_ip",
	// "limit_user", "handshake_rate" (the Tracker's limits), or
	// "handler" (the handler rejected it).
	Rejected(reason string)
	// Closed counts an accepted connection's end, by the close code sent
	// or received (StatusSlowConsumer and StatusPongTimeout among them;
	// StatusAbnormalClosure when the network failed).
	Closed(code StatusCode)
	// MessageIn and MessageOut count a data message received (its payload
	// bytes) or written to the network (its frame bytes).
	MessageIn(bytes int)
	MessageOut(bytes int)
}

type noMetrics struct{}

func (noMetrics) Accepted()         {}
func (noMetrics) Rejected(string)   {}
func (noMetrics) Closed(StatusCode) {}
func (noMetrics) MessageIn(int)     {}
func (noMetrics) MessageOut(int)    {}
