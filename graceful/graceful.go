// Package graceful stops a Switchboard server cleanly. net/http's
// Server.Shutdown stops listening and waits for HTTP requests, but does not
// touch WebSocket connections, which were hijacked from it. Attach ties the
// program's ChannelBoxes and its connection Tracker to the http.Server, so
// that Shutdown also refuses new handshakes (503), closes every connection
// with websocket.StatusShutdown in batches with random pauses (each
// flushing what it has queued first), and returns when all are done or
// its context ends (the rest are then dropped).
//
//	tracker := websocket.NewTracker(nil)
//	rt := router.NewWithOptions(&router.Options{WebSocket: &websocket.Options{Tracker: tracker}})
//	srv := &http.Server{Handler: rt}
//	stop := graceful.Attach(srv, &graceful.Options{Boxes: []*channels.ChannelBox{box}, Tracker: tracker})
//	go srv.Serve(ln)
//	<-ctx.Done() // SIGINT, SIGTERM
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	err := stop.Shutdown(ctx)
package graceful

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// Options name what is stopped with the server.
type Options struct {
	// Boxes are closed (see ChannelBox.Close: their channels leave the
	// broker's presence cleanly, in the box's drain batches).
	Boxes []*channels.ChannelBox
	// Tracker's connections, those in no box included, are closed (see
	// Tracker.Shutdown); it refuses handshakes from the start.
	Tracker *websocket.Tracker
	// Close shapes the tracker's closing; nil means its defaults.
	Close *websocket.ShutdownOptions
}

// Stopper stops a server's WebSockets when the server shuts down.
type Stopper struct {
	srv    *http.Server
	opts   Options
	once   sync.Once
	ctx    context.Context // the drain's; cancelled when a Wait gives up
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Attach registers with srv.RegisterOnShutdown: from srv.Shutdown on, the
// WebSockets are stopped as Options say. Call the Stopper's Shutdown (or
// srv.Shutdown, then Wait) to stop.
func Attach(srv *http.Server, opts *Options) *Stopper {
	s := &Stopper{srv: srv, done: make(chan struct{})}
	if opts != nil {
		s.opts = *opts
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv.RegisterOnShutdown(s.begin)
	return s
}

// begin starts the drain once.
func (s *Stopper) begin() {
	s.once.Do(func() { go s.drain() })
}

func (s *Stopper) drain() {
	defer close(s.done)
	defer s.cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	record := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	if t := s.opts.Tracker; t != nil {
		wg.Go(func() { record(t.Shutdown(s.ctx, s.opts.Close)) })
	}
	for _, b := range s.opts.Boxes {
		wg.Go(func() { record(b.Close(s.ctx)) })
	}
	wg.Wait()
	s.err = errors.Join(errs...)
}

// Wait starts the drain if srv.Shutdown has not, and returns when every
// WebSocket is closed; when ctx ends first, the rest are dropped and
// ctx.Err() is returned.
func (s *Stopper) Wait(ctx context.Context) error {
	s.begin()
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		select {
		case <-s.done: // finished as ctx ended
			return s.err
		default:
		}
		s.cancel()
		<-s.done
		return ctx.Err()
	}
}

// Shutdown is the one call a program makes to stop: srv.Shutdown (no new
// connections, HTTP requests finished, the WebSockets' drain started) and
// Wait, both bounded by ctx.
func (s *Stopper) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.Wait(ctx))
}
