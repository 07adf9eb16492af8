package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-go/switchboard/channels"
)

// tick is the JSON payload of a broadcast.
type tick struct {
	Seq   int    `json:"seq"`
	Group string `json:"group"`
	Sent  int64  `json:"sent"` // unix nanos
}

// notice is the payload of a message to a user.
type notice struct {
	Seq  int    `json:"seq"`
	User string `json:"user"`
}

// broadcaster sends to the box until its context ends.
type broadcaster struct {
	wg sync.WaitGroup
}

// startBroadcaster sends to a random group rate times a second: one
// message in four saved in the history, half the unsaved ones a string
// (text frame) and the rest JSON. One broadcast in twenty also goes to a
// random user of n. It stops when ctx ends; wait waits for it.
func startBroadcaster(ctx context.Context, box *channels.ChannelBox, groups []string, n int, rate float64, c *counters, errs *errorCounts) *broadcaster {
	bc := &broadcaster{}
	bc.wg.Add(1)
	go func() {
		defer bc.wg.Done()
		// A ticker drops ticks when the process is busy: each tick sends
		// what the schedule says is due, a burst of at most maxBurst.
		const maxBurst = 100
		t := time.NewTicker(max(time.Duration(float64(time.Second)/rate), 5*time.Millisecond))
		defer t.Stop()
		start := time.Now()
		for seq := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			due := int(time.Since(start).Seconds() * rate)
			for burst := 0; seq < due && burst < maxBurst; burst++ {
				send(ctx, box, groups, n, seq, c, errs)
				seq++
			}
			seq = max(seq, due-maxBurst) // never more than one burst behind
		}
	}()
	return bc
}

// send makes broadcast number seq: to a random group, and every
// twentieth also to a random user of n.
func send(ctx context.Context, box *channels.ChannelBox, groups []string, n, seq int, c *counters, errs *errorCounts) {
	g := groups[rand.IntN(len(groups))]
	var payload any = tick{Seq: seq, Group: g, Sent: time.Now().UnixNano()}
	var opts []channels.SendOption
	switch {
	case rand.IntN(4) == 0:
		opts = append(opts, channels.SaveHistory())
	case rand.IntN(2) == 0:
		payload = "tick " + strconv.Itoa(seq) + " " + g
	}
	c.broadcasts.Add(1)
	if _, err := box.GroupSend(ctx, g, payload, opts...); err != nil && ctx.Err() == nil {
		errs.add("group send: " + errKind(err))
	}
	if seq%20 == 0 {
		u := userName(rand.IntN(n))
		c.userSends.Add(1)
		if _, err := box.SendToUser(ctx, u, notice{Seq: seq, User: u}); err != nil && ctx.Err() == nil {
			errs.add("user send: " + errKind(err))
		}
	}
}

// wait waits for the broadcaster to stop.
func (bc *broadcaster) wait() { bc.wg.Wait() }
