package redisbroker

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
)

// The publish pipeline: every group publish, saved or not, waited for or
// not, goes through one queue per shard (its group's), in the order
// Publish took it in. One goroutine per shard writes the queue to Redis
// in batches (one DoMulti, so one round trip, for everything queued
// while the previous batch was out) and waits for the answers before it
// writes the next batch. Redis runs a connection's commands in the order
// they came, so a group's messages from this node keep their order, and
// the saved ones get their offsets in that order.
//
// Invariants:
//   - bytes counts the encoded bodies of the requests in the queue and in
//     the batch being written; Publish refuses a request that would take
//     it past Options.MaxPendingBytes (ErrBrokerBusy), so a slow or dead
//     Redis costs at most that much memory per shard.
//   - down is set when a batch failed for want of Redis; while it is,
//     Publish refuses new requests (ErrBrokerUnavailable) and the writer
//     pings Redis until it answers. What was queued before stays queued
//     and is written once Redis answers.
//   - On Redis Cluster a batch goes to every master at once, and one
//     master's failure does not stop the others: parts records the
//     partitions whose master a batch found unreachable, Publish refuses
//     new requests for their groups, and a prober reads a key of each
//     until the partition's master (a replica that took over, say)
//     answers. Later batches thus carry no command for a dead master and
//     do not wait for it.
//   - A request is finished exactly once: answered to its waiter, or for
//     one nobody waits for, counted and logged when it failed.

// pubReq is one group publish in the pipeline.
type pubReq struct {
	group string
	body  []byte // the encoded message
	saved bool
	opts  channels.PublishOptions
	msg   *channels.Message
	at    time.Time
	// reply gets the outcome when someone waits for it (nil otherwise);
	// abandoned is set by a waiter that gave up, so that a request not
	// yet written is dropped.
	reply     chan pubResult
	abandoned atomic.Bool
	retried   bool // resent once after NOSCRIPT
}

type pubResult struct {
	pos channels.Position
	err error
}

type pipeline struct {
	b   *Broker
	sh  *shard
	sha string // of the publishSaved script

	mu      sync.Mutex
	queue   []*pubReq
	bytes   int           // of the requests taken in and not finished
	pending int           // those requests
	down    error         // set while Redis is known to be unreachable
	parts   map[int]error // on a cluster: partition -> why its master is unreachable
	probing bool          // a prober runs for parts
	closing bool

	wake chan struct{} // cap 1: the queue has something, or closing
	done chan struct{} // closed when the writer has finished

	stats pipelineStats
}

// pipelineStats are the pipeline's counters, read by Broker.PipelineStats.
type pipelineStats struct {
	batches, commands, dropped, failed atomic.Uint64
}

func newPipeline(b *Broker, sh *shard) *pipeline {
	sum := sha1.Sum([]byte(publishSavedSrc))
	p := &pipeline{
		b:    b,
		sh:   sh,
		sha:  hex.EncodeToString(sum[:]),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	if b.keys.tags != nil {
		p.parts = make(map[int]error)
	}
	return p
}

// partOf is the partition of a group on a cluster.
func (p *pipeline) partOf(group string) int { return partitionOf(group, len(p.b.keys.tags)) }

// publish queues a group publish and, unless opts.NoWait, waits for its
// outcome.
func (p *pipeline) publish(ctx context.Context, group string, msg *channels.Message, opts channels.PublishOptions) (channels.Position, error) {
	r := &pubReq{group: group, body: encodeBody(msg), saved: opts.History, opts: opts, msg: msg, at: time.Now()}
	if !opts.NoWait {
		r.reply = make(chan pubResult, 1)
	}
	if err := p.add(r); err != nil {
		return channels.Position{}, fmt.Errorf("redisbroker: publish to %q: %w", group, err)
	}
	if r.reply == nil {
		return channels.Position{}, nil
	}
	ctx, cancel := p.b.ctx(ctx)
	defer cancel()
	select {
	case res := <-r.reply:
		if res.err != nil {
			return channels.Position{}, fmt.Errorf("redisbroker: publish to %q: %w", group, res.err)
		}
		if r.saved {
			msg.Position = res.pos
		}
		return res.pos, nil
	case <-ctx.Done():
		r.abandoned.Store(true)
		return channels.Position{}, fmt.Errorf("redisbroker: publish to %q: %w", group, reach(ctx.Err()))
	}
}

// add takes r into the queue, or says why not.
func (p *pipeline) add(r *pubReq) error {
	p.mu.Lock()
	switch {
	case p.closing:
		p.mu.Unlock()
		return channels.ErrBrokerClosed
	case p.down != nil:
		err := p.down
		p.mu.Unlock()
		return &unavailable{err}
	case p.parts != nil && p.parts[p.partOf(r.group)] != nil:
		err := p.parts[p.partOf(r.group)]
		p.mu.Unlock()
		return &unavailable{err}
	case p.bytes > 0 && p.bytes+len(r.body) > p.b.opts.MaxPendingBytes:
		p.mu.Unlock()
		return channels.ErrBrokerBusy
	}
	p.bytes += len(r.body)
	p.pending++
	p.queue = append(p.queue, r)
	first := len(p.queue) == 1
	p.mu.Unlock()
	if first {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// close stops taking requests; the writer writes what is queued and
// finishes.
func (p *pipeline) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run is the writer.
func (p *pipeline) run() {
	defer close(p.done)
	for {
		batch, closing := p.next()
		if batch == nil {
			if closing {
				return
			}
			<-p.wake
			continue
		}
		if err := p.write(batch); err != nil {
			p.recover(err)
		}
	}
}

// next takes the requests to write next, at most Options.MaxBatch of
// them, leaving out those whose waiter gave up; with none, it reports
// whether the pipeline is closing.
func (p *pipeline) next() ([]*pubReq, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 {
		n := min(len(p.queue), p.b.opts.MaxBatch)
		batch := make([]*pubReq, 0, n)
		for _, r := range p.queue[:n] {
			if r.abandoned.Load() {
				p.bytes -= len(r.body)
				p.pending--
				continue
			}
			batch = append(batch, r)
		}
		clear(p.queue[:n])
		p.queue = p.queue[n:]
		if len(p.queue) == 0 {
			p.queue = nil // let the backing array go
		}
		if len(batch) > 0 {
			return batch, false
		}
	}
	return nil, p.closing
}

// unit is the requests one command carries: an unsaved message, or a
// run of saved messages of one group with the same history settings.
type unit struct{ reqs []*pubReq }

// units groups a batch into commands. A group's saved messages share a
// command until an unsaved message of the group comes between them, so
// that the group's messages keep their order; other groups' messages may
// come between, since order across groups is not kept anyway.
func units(batch []*pubReq) []unit {
	out := make([]unit, 0, len(batch))
	open := make(map[string]int) // group -> index in out of its saved run
	for _, r := range batch {
		if !r.saved {
			delete(open, r.group)
			out = append(out, unit{reqs: []*pubReq{r}})
			continue
		}
		if k, ok := open[r.group]; ok && out[k].reqs[0].opts == r.opts {
			out[k].reqs = append(out[k].reqs, r)
			continue
		}
		open[r.group] = len(out)
		out = append(out, unit{reqs: []*pubReq{r}})
	}
	return out
}

// write sends one batch and finishes its requests; it returns the error
// that made the whole batch fail for want of Redis, if one did.
func (p *pipeline) write(batch []*pubReq) error {
	c := p.sh.client
	us := units(batch)
	cmds := make(rueidis.Commands, 0, len(us)+1)
	// A batch with saved messages loads the script first, in the same
	// round trip: Redis may have lost its scripts (a restart, SCRIPT
	// FLUSH) since the last batch, and an EVALSHA refused with NOSCRIPT
	// would have to be sent again after the batch's unsaved messages of
	// the same group, out of order. Loading a script Redis has is a hash
	// and a lookup, once per batch. (On a cluster the script goes with
	// each command instead: see command.)
	load := false
	for _, r := range batch {
		if r.saved && p.b.keys.tags == nil {
			load = true
			cmds = append(cmds, c.B().ScriptLoad().Script(publishSavedSrc).Build())
			break
		}
	}
	for _, u := range us {
		cmds = append(cmds, p.command(u))
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.b.opts.Timeout)
	start := time.Now()
	res := c.DoMulti(ctx, cmds...)
	cancel()
	p.b.opts.Metrics.PipelineBatch(len(batch), time.Since(start))
	p.stats.batches.Add(1)
	p.stats.commands.Add(uint64(len(batch)))
	if load {
		res = res[1:]
	}
	// Redis being unreachable is recorded before anyone hears of it, so
	// that a sender told of a failure finds later sends refused too.
	var broken error
	if p.parts != nil {
		p.partsDown(us, res)
	}
	for _, r := range res {
		if p.parts != nil {
			break // by partition, above
		}
		if err := reach(r.Error()); errors.Is(err, channels.ErrBrokerUnavailable) {
			broken = err
			p.mu.Lock()
			p.down = err
			p.mu.Unlock()
			break
		}
	}
	var retry []*pubReq
	dropped, dropGroup, dropErr := 0, "", error(nil) // the last one's group and error stand for all
	for i, u := range us {
		var pos channels.Position
		var err error
		if u.reqs[0].saved {
			pos, err = savedReply(res[i])
		} else {
			err = res[i].Error()
		}
		if re, ok := rueidis.IsRedisErr(err); ok && re.IsNoScript() && !u.reqs[0].retried {
			// Only a SCRIPT FLUSH from another client between the load
			// and this command gets here: send these again, ahead of
			// anything newer (behind this batch's unsaved messages).
			for _, r := range u.reqs {
				r.retried = true
			}
			retry = append(retry, u.reqs...)
			continue
		}
		err = reach(err)
		for k, r := range u.reqs {
			out := pubResult{err: err}
			if err == nil && r.saved {
				out.pos = channels.Position{Offset: pos.Offset + uint64(k), Epoch: pos.Epoch}
			}
			if p.finish(r, out) {
				dropped++
				dropGroup, dropErr = r.group, err
			}
		}
	}
	p.logDropped(dropped, dropGroup, dropErr)
	if len(retry) > 0 {
		p.mu.Lock()
		p.queue = append(retry, p.queue...)
		p.mu.Unlock()
	}
	return broken
}

// command builds the Redis command of u.
func (p *pipeline) command(u unit) rueidis.Completed {
	c, k := p.sh.client, p.b.keys
	r := u.reqs[0]
	if !r.saved {
		payload := make([]byte, 0, 2+len(r.body))
		payload = append(append(payload, 'u', '\n'), r.body...)
		if k.tags != nil {
			return c.B().Spublish().Channel(k.groupChan(r.group)).Message(rueidis.BinaryString(payload)).Build()
		}
		return c.B().Publish().Channel(k.groupChan(r.group)).Message(rueidis.BinaryString(payload)).Build()
	}
	size := r.opts.Size
	if size <= 0 {
		size = channels.DefaultHistorySize
	}
	args := make([]string, 0, 5+len(u.reqs))
	args = append(args, newEpoch(), strconv.Itoa(size), ms(r.opts.TTL), ms(p.b.metaTTL(r.opts.TTL)), strconv.Itoa(max(r.opts.MaxBytes, 0)))
	for _, x := range u.reqs {
		args = append(args, rueidis.BinaryString(x.body))
	}
	if k.tags != nil {
		// The script goes whole: a SCRIPT LOAD has no slot to route it
		// to the group's master, which may also have changed since (a
		// failover). EVAL costs more bytes and a hash of the script per
		// run than EVALSHA; Redis keeps it compiled.
		return c.B().Eval().Script(publishSavedClusterSrc).Numkeys(3).
			Key(k.meta(r.group), k.stream(r.group), k.groupChan(r.group)).
			Arg(args...).
			Build()
	}
	return c.B().Evalsha().Sha1(p.sha).Numkeys(3).
		Key(k.meta(r.group), k.stream(r.group), k.groupChan(r.group)).
		Arg(args...).
		Build()
}

// savedReply reads publishSaved's answer: the first message's offset and
// the epoch.
func savedReply(res rueidis.RedisResult) (channels.Position, error) {
	arr, err := res.ToArray()
	if err != nil {
		return channels.Position{}, err
	}
	if len(arr) != 2 {
		return channels.Position{}, errors.New("unexpected reply")
	}
	off, err1 := arr[0].AsInt64()
	epoch, err2 := arr[1].ToString()
	if err := errors.Join(err1, err2); err != nil {
		return channels.Position{}, err
	}
	return channels.Position{Offset: uint64(off), Epoch: epoch}, nil
}

// finish hands r's outcome to its waiter, or counts a failure nobody
// waits for (the caller logs them, once for many), and releases r's
// bytes; it reports whether r was such a failure.
func (p *pipeline) finish(r *pubReq, out pubResult) (dropped bool) {
	p.mu.Lock()
	p.bytes -= len(r.body)
	p.pending--
	p.mu.Unlock()
	p.b.opts.Metrics.PipelinePublish(r.saved, time.Since(r.at), out.err)
	if out.err != nil {
		p.stats.failed.Add(1)
	}
	if r.reply != nil {
		r.reply <- out
		return false
	}
	if out.err != nil {
		p.stats.dropped.Add(1)
		return true
	}
	return false
}

// logDropped logs, once, the messages of one write that failed with
// nobody waiting for them.
func (p *pipeline) logDropped(n int, group string, err error) {
	if n > 0 {
		p.sh.log.Warn("redisbroker: messages that were not waited for failed", "count", n, "group", group, "err", err)
	}
}

// partsDown records the partitions of the units whose command found its
// master unreachable, and starts the prober if none runs.
func (p *pipeline) partsDown(us []unit, res []rueidis.RedisResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, u := range us {
		if err := reach(res[i].Error()); errors.Is(err, channels.ErrBrokerUnavailable) {
			p.parts[p.partOf(u.reqs[0].group)] = err
		}
	}
	if len(p.parts) == 0 || p.probing {
		return
	}
	p.probing = true
	p.sh.log.Warn("redisbroker: a cluster master is unreachable; refusing publishes to its groups until it answers",
		"partitions", len(p.parts))
	// The broker's goroutines run until stop, which Close signals only
	// after this pipeline's writer finished: the count is above zero.
	p.b.wg.Add(1)
	go func() { defer p.b.wg.Done(); p.probe() }()
}

// probe reads a key of each partition in parts until its master answers,
// and forgets the partition then; it returns when none is left or the
// broker stops.
func (p *pipeline) probe() {
	c, k := p.sh.client, p.b.keys
	for {
		t := time.NewTimer(retryDelay / 5)
		select {
		case <-t.C:
		case <-p.b.stop:
			t.Stop()
			return
		}
		p.mu.Lock()
		parts := slices.Sorted(maps.Keys(p.parts))
		p.mu.Unlock()
		cmds := make(rueidis.Commands, len(parts))
		for i, part := range parts {
			cmds[i] = c.B().Exists().Key("{" + k.tags[part] + "}" + k.metaPrefix()).Build()
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.b.opts.Timeout)
		res := c.DoMulti(ctx, cmds...)
		cancel()
		p.mu.Lock()
		for i, r := range res {
			if !errors.Is(reach(r.Error()), channels.ErrBrokerUnavailable) {
				delete(p.parts, parts[i])
			}
		}
		if len(p.parts) == 0 {
			p.probing = false
			p.mu.Unlock()
			p.sh.log.Info("redisbroker: every cluster master answers again; publishing")
			return
		}
		p.mu.Unlock()
	}
}

// recover runs after a batch failed for want of Redis: new publishes are
// refused until Redis answers a PING, then what was queued meanwhile is
// written.
func (p *pipeline) recover(err error) {
	p.sh.log.Warn("redisbroker: Redis unreachable; refusing publishes until it answers", "err", err)
	backoff := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), p.b.opts.Timeout)
		err := p.sh.client.Do(ctx, p.sh.client.B().Ping().Build()).Error()
		cancel()
		p.mu.Lock()
		closing := p.closing
		if err == nil || closing {
			p.down = nil
		}
		p.mu.Unlock()
		if err == nil {
			p.sh.log.Info("redisbroker: Redis answers again; publishing")
			return
		}
		if closing {
			// Nobody will wait for Redis to come back: what is queued
			// fails now, rather than a Timeout per batch.
			p.failQueued(err)
			return
		}
		select {
		case <-time.After(backoff):
		case <-p.b.stop:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// failQueued finishes every queued request with err.
func (p *pipeline) failQueued(err error) {
	p.mu.Lock()
	q := p.queue
	p.queue = nil
	p.mu.Unlock()
	dropped := 0
	for _, r := range q {
		if p.finish(r, pubResult{err: &unavailable{err}}) {
			dropped++
		}
	}
	p.logDropped(dropped, "", err)
}

// Metrics receives what a broker's publish pipeline does, for monitoring
// (package metrics/prom implements it). Its methods must be safe for
// concurrent use and quick.
type Metrics interface {
	// PipelinePublish reports a group publish that Redis answered (err
	// nil) or that failed: saved or not, and the time from Publish taking
	// it in to the answer.
	PipelinePublish(saved bool, d time.Duration, err error)
	// PipelineBatch reports one write of the pipeline: n messages in one
	// round trip of d.
	PipelineBatch(n int, d time.Duration)
}

type noMetrics struct{}

func (noMetrics) PipelinePublish(bool, time.Duration, error) {}
func (noMetrics) PipelineBatch(int, time.Duration)           {}

// PipelineStats are the publish pipeline's figures at one moment.
type PipelineStats struct {
	// PendingBytes and Pending are what was taken in and not yet
	// answered (queued, or in the batch being written).
	PendingBytes int
	Pending      int
	// Batches and Commands count the writes to Redis and the publishes
	// they carried; Failed counts publishes that failed, Dropped those
	// of them that nobody waited for (reported only to the log).
	Batches, Commands, Failed, Dropped uint64
}

// PendingPublishes implements channels.PublishQueue: the messages and
// bytes the pipelines have taken in and Redis has not yet answered,
// summed over the shards.
func (b *Broker) PendingPublishes() (messages, bytes int) {
	for _, sh := range b.shards {
		p := sh.pipe
		p.mu.Lock()
		messages += p.pending
		bytes += p.bytes
		p.mu.Unlock()
	}
	return messages, bytes
}

// PipelineStats returns the publish pipelines' figures, summed over the
// shards.
func (b *Broker) PipelineStats() PipelineStats {
	var s PipelineStats
	for _, sh := range b.shards {
		p := sh.pipe
		p.mu.Lock()
		s.PendingBytes += p.bytes
		s.Pending += p.pending
		p.mu.Unlock()
		s.Batches += p.stats.batches.Load()
		s.Commands += p.stats.commands.Load()
		s.Failed += p.stats.failed.Load()
		s.Dropped += p.stats.dropped.Load()
	}
	return s
}
