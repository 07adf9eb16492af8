package websocket

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// Options configure the connections a Handler accepts. A nil *Options, and
// every zero field, means the default.
type Options struct {
	// ReadLimit is the largest message, in bytes, that a Receive call
	// accepts (after decompression). A bigger message closes the connection
	// with StatusMessageTooBig (1009). Negative means no limit.
	// Defaults to 64 KiB.
	ReadLimit int64

	// PingInterval is how long a connection may stay silent before the
	// server pings it. Negative turns keepalive off. Defaults to 25s.
	//
	// Pongs are read by Receive: a handler that never calls Receive never
	// sees them and its connection is closed with StatusPongTimeout.
	PingInterval time.Duration

	// PongTimeout is how long after a ping the peer has to answer (with a
	// pong or any other frame) before the connection is closed with
	// StatusPongTimeout. Defaults to 10s.
	PongTimeout time.Duration

	// WriteTimeout bounds each write to the network. A peer that takes
	// longer is dropped. Defaults to 10s.
	WriteTimeout time.Duration

	// MaxQueueBytes bounds the bytes waiting in one connection's outbound
	// queue, counting the batch being written. A send that would exceed it closes the connection with
	// StatusSlowConsumer and returns ErrSlowConsumer; senders never block.
	// A single message larger than the bound is still accepted into an
	// empty queue. Pongs count too: one that would exceed it closes the
	// connection the same way, and a peer's pings answered while the
	// previous pong is still last in the queue replace it rather than add
	// to it. Defaults to 1 MiB.
	MaxQueueBytes int

	// MaxHeaderBytes bounds the size of a handshake request's headers,
	// counted as on the wire (request line, then each "Key: value" line
	// with its CRLF). A bigger handshake is refused with 431 Request
	// Header Fields Too Large before anything of it is kept; an accepted
	// connection keeps its headers for its whole life (see Header), so
	// this also bounds what each costs. net/http's own limit
	// (http.Server.MaxHeaderBytes, 1 MiB by default) applies first and
	// is the server's to set. Negative means no limit but net/http's.
	// Defaults to 16 KiB: room for the headers of a browser carrying
	// several large cookies (Node.js's default limit is the same; nginx
	// allows 8 KiB a line).
	MaxHeaderBytes int

	// HandshakeTimeout bounds writing the handshake response.
	// Defaults to 10s.
	HandshakeTimeout time.Duration

	// CloseTimeout bounds Close: flushing the queue, sending the close frame
	// and waiting for the peer's. Defaults to 5s.
	CloseTimeout time.Duration

	// AllowedOrigins lists the Origin hosts accepted besides the request's
	// own host, as path.Match patterns ("example.com", "*.example.com", or
	// "*" for any); a pattern with "://" matches scheme and host
	// ("https://*.example.com"). Requests without an Origin header (non
	// browser clients) are always accepted. Defaults to same-origin only:
	// a foreign Origin is refused with 403.
	AllowedOrigins []string

	// Compression negotiates permessage-deflate with clients that offer it.
	// Defaults to off.
	Compression bool

	// Logger receives handler errors and panics. Defaults to slog.Default().
	Logger *slog.Logger

	// Tracker, when set, keeps the connections so that Tracker.Shutdown can
	// close them all; while it drains, handshakes are refused with 503.
	Tracker *Tracker

	// Metrics, when set, receives the connections' events.
	Metrics Metrics
}

// Defaults, as documented on Options.
const (
	DefaultReadLimit        = 64 << 10
	DefaultPingInterval     = 25 * time.Second
	DefaultPongTimeout      = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxQueueBytes    = 1 << 20
	DefaultMaxHeaderBytes   = 16 << 10
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
)

const (
	readBufferSize  = 512
	burstBufferSize = 32 << 10
)

// config is Options resolved, shared by every connection of a Handler.
// It owns what those connections share: the buffer pools, the pool
// writers and the keepalive scheduler. Each Handler call resolves its own, so two
// Handlers share none of it, even when made from the same Options.
type config struct {
	readLimit        int64
	pingInterval     time.Duration
	pongTimeout      time.Duration
	writeTimeout     time.Duration
	maxQueue         int
	maxHeader        int
	handshakeTimeout time.Duration
	closeTimeout     time.Duration
	origins          []string
	compression      bool
	logger           *slog.Logger
	tracker          *Tracker
	metrics          Metrics

	pools     wire.Pools // read buffers of readBufferSize, burst buffers of burstBufferSize
	writers   *writers   // the pool writers, one per CPU at most
	writePool gws.BufferPool

	keepalive scheduler // the connections' keepalive checks, when pingInterval > 0
}

func (o *Options) resolve() *config {
	if o == nil {
		o = &Options{}
	}
	c := &config{
		readLimit:        o.ReadLimit,
		pingInterval:     o.PingInterval,
		pongTimeout:      o.PongTimeout,
		writeTimeout:     o.WriteTimeout,
		maxQueue:         o.MaxQueueBytes,
		maxHeader:        o.MaxHeaderBytes,
		handshakeTimeout: o.HandshakeTimeout,
		closeTimeout:     o.CloseTimeout,
		compression:      o.Compression,
		logger:           o.Logger,
		tracker:          o.Tracker,
		metrics:          o.Metrics,
		writePool:        &sync.Pool{},
	}
	if c.readLimit == 0 {
		c.readLimit = DefaultReadLimit
	}
	if c.pingInterval == 0 {
		c.pingInterval = DefaultPingInterval
	}
	if c.pongTimeout <= 0 {
		c.pongTimeout = DefaultPongTimeout
	}
	if c.writeTimeout <= 0 {
		c.writeTimeout = DefaultWriteTimeout
	}
	if c.maxQueue <= 0 {
		c.maxQueue = DefaultMaxQueueBytes
	}
	if c.maxHeader == 0 {
		c.maxHeader = DefaultMaxHeaderBytes
	}
	if c.handshakeTimeout <= 0 {
		c.handshakeTimeout = DefaultHandshakeTimeout
	}
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.metrics == nil {
		c.metrics = noMetrics{}
	}
	for _, p := range o.AllowedOrigins {
		p = strings.ToLower(p)
		if _, err := path.Match(p, ""); err != nil {
			panic(fmt.Sprintf("websocket: bad AllowedOrigins pattern %q: %v", p, err))
		}
		c.origins = append(c.origins, p)
	}
	c.pools.Init(readBufferSize, burstBufferSize, c.writeTimeout)
	c.writers = newWriters(runtime.GOMAXPROCS(0))
	return c
}

// checkOrigin accepts requests without Origin, same-origin requests, and
// origins matching an allowed pattern.
func (c *config) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	if host == strings.ToLower(r.Host) {
		return true
	}
	full := strings.ToLower(u.Scheme) + "://" + host
	for _, p := range c.origins {
		target := host
		if strings.Contains(p, "://") {
			target = full
		}
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}
