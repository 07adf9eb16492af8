// Package result holds what the load client measures, as it travels (JSON)
// from cmd/loadclient to cmd/loadtest.
package result

// Idle is scenario 1 (and 2's upgrade rate): what n idle connections cost
// the server.
type Idle struct {
	Conns            int     `json:"conns"`
	HeapStackPerConn float64 `json:"heap_stack_per_conn"` // bytes
	RSSPerConn       float64 `json:"rss_per_conn"`        // bytes
	GoroutinesPer    float64 `json:"goroutines_per_conn"`
	ConnectSeconds   float64 `json:"connect_seconds"`
	UpgradesPerSec   float64 `json:"upgrades_per_sec"`
}

// FanoutStep is one offered rate of scenario 3.
type FanoutStep struct {
	OfferedPerSec   int     `json:"offered_per_sec"` // messages a second offered
	Published       int     `json:"published"`
	PublishedPerSec float64 `json:"published_per_sec"`
	// PublisherBehind: the client published less than 95% of the offered
	// rate (its core was busy), so the step did not offer what it says.
	PublisherBehind bool `json:"publisher_behind"`
	// Deliveries counts the step's own messages received by members, up to
	// 500ms without progress (at most 5s) after the step.
	Deliveries       int64   `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Expected         int64   `json:"expected"` // published × members
	Gaps             int64   `json:"gaps"`     // sequence jumps members saw
	// ServerCPUPerM is the server's CPU seconds per million deliveries.
	ServerCPUPerM  float64 `json:"server_cpu_s_per_million"`
	ClientCPUShare float64 `json:"client_cpu_share"` // the client's CPU time over wall time
	ClientBound    bool    `json:"client_bound"`
	// Latency from publish to the last member, per message, in µs, over
	// Samples messages.
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
	Max     float64 `json:"max_us"`
	// FirstP50 and FirstP99: publish to the first member, in µs; what the
	// client's sweep over the members adds is not in them.
	FirstP50 float64 `json:"first_p50_us"`
	FirstP99 float64 `json:"first_p99_us"`
	// MembersClosed counts members the server dropped (the slow ones of
	// scenario 6 aside).
	MembersClosed int64 `json:"members_closed"`
	// SlowStopped: scenario 6's slow members had stopped reading during
	// this step; figures are the others'.
	SlowStopped bool `json:"slow_stopped,omitempty"`
}

// MemSample is the server's memory at one moment of a run.
type MemSample struct {
	Seconds    float64 `json:"t"` // since the first step began
	HeapStack  uint64  `json:"heap_stack"`
	RSS        uint64  `json:"rss"`
	Goroutines int     `json:"goroutines"`
	Conns      int     `json:"conns"`
}

// Fanout is scenario 3 for one room size and payload, and the same for
// scenarios 4 to 6.
type Fanout struct {
	Members int          `json:"members"`
	Size    int          `json:"size"`
	Steps   []FanoutStep `json:"steps"`
	// PlateauPerSec is the most deliveries a second of any step.
	PlateauPerSec float64 `json:"plateau_per_sec"`
	// AtLadderTop: even the last step delivered, so PlateauPerSec is only
	// a lower bound.
	AtLadderTop bool `json:"at_ladder_top"`
	// Scenario 6: the server's memory every 250ms, and at the end how many
	// slow members the server had closed and how many it still held.
	Memory []MemSample `json:"memory,omitempty"`
	// SlowStoppedAt is when the slow members stopped reading, in seconds
	// since the first step began, as MemSample.Seconds.
	SlowStoppedAt float64 `json:"slow_stopped_at,omitempty"`
	SlowClosed    int64   `json:"slow_closed,omitempty"`
	SlowOpen      int64   `json:"slow_open,omitempty"`
}
