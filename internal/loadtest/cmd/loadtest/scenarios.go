package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/switchboard-go/switchboard/internal/loadtest/result"
)

// fanoutField is f over the runs of srv with members and size, as a spread
// over rounds.
func fanoutField(runs []fanoutRun, srv string, members, size int, f func(fanoutResult) float64) (spread, bool) {
	var v []float64
	for _, x := range runs {
		if x.Server == srv && x.Members == members && (size < 0 || x.Size == size) && len(x.Steps) > 0 {
			v = append(v, f(x.fanoutResult))
		}
	}
	return spreadOf(v)
}

// distinct is the values of key over items, each once, in order.
func distinct[T any](items []T, key func(T) int) []int {
	var out []int
	for _, x := range items {
		if k := key(x); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// members is a run's room size (scenario 5: its clients).
func members(x fanoutRun) int { return x.Members }

// caseKey is a room size and payload: a fan-out case.
type caseKey struct{ m, s int }

// fanoutKeys are the cases of runs, by room size, then payload.
func fanoutKeys(runs []fanoutRun) []caseKey {
	var keys []caseKey
	for _, x := range runs {
		if k := (caseKey{x.Members, x.Size}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b caseKey) int {
		if a.m != b.m {
			return a.m - b.m
		}
		return a.s - b.s
	})
	return keys
}

// slowSummaries are srv's scenario 6 runs of a case, summarized.
func (r *report) slowSummaries(srv string, k caseKey) []slowSummary {
	var sums []slowSummary
	for _, x := range r.Slow {
		if x.Server == srv && x.Members == k.m && x.Size == k.s {
			var ctrl *latencyRun
			for i, c := range r.SlowControl {
				if c.Server == srv && c.Members == k.m && c.Size == k.s && c.Round == x.Round {
					ctrl = &r.SlowControl[i]
				}
			}
			if s, ok := summarizeSlow(x, ctrl); ok {
				sums = append(sums, s)
			}
		}
	}
	return sums
}

// bestStep is the step with the most deliveries a second: the plateau's.
func bestStep(f fanoutResult) result.FanoutStep {
	best := f.Steps[0]
	for _, s := range f.Steps {
		if s.DeliveriesPerSec > best.DeliveriesPerSec {
			best = s
		}
	}
	return best
}

func plateauOf(f fanoutResult) float64 { return f.PlateauPerSec }
func cpuOf(f fanoutResult) float64     { return bestStep(f).ServerCPUPerM }

func (r *report) roomsMarkdown(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 5. Many rooms\n\n")
	p("Every client is alone in a personal room and one of ten in a shared room; one publisher connection sends 64 B messages to a personal room and a room of ten in turn, each room in its turn, at offered rates raised as in scenario 3 (the same deliveries a second, %.1f per message). Plateau, CPU and not delivered as in scenario 3; latency is to the last receiver at the lowest step.\n\n", roomsPerMessage)
	p("| clients | server | plateau deliveries/s | messages/s at plateau | server CPU s per M | not delivered at plateau | p50 / p99 µs (lowest step) | client-bound / publisher-behind steps |\n|---|---|---|---|---|---|---|---|\n")
	counts := distinct(r.Rooms, members)
	for _, n := range counts {
		for _, srv := range servers {
			pl, ok := fanoutField(r.Rooms, srv, n, -1, plateauOf)
			if !ok {
				continue
			}
			msgs, _ := fanoutField(r.Rooms, srv, n, -1, func(f fanoutResult) float64 { return bestStep(f).PublishedPerSec })
			c, _ := fanoutField(r.Rooms, srv, n, -1, cpuOf)
			drops, _ := fanoutField(r.Rooms, srv, n, -1, func(f fanoutResult) float64 { s := bestStep(f); return float64(s.Expected - s.Deliveries) })
			p50, _ := fanoutField(r.Rooms, srv, n, -1, func(f fanoutResult) float64 { return f.Steps[0].P50 })
			p99, _ := fanoutField(r.Rooms, srv, n, -1, func(f fanoutResult) float64 { return f.Steps[0].P99 })
			bound, behind, top := flags(r.Rooms, srv, n, -1)
			cell := pl.format(1, 0)
			if top {
				cell = "≥ " + cell
			}
			p("| %d | %s | %s | %s | %s | %s | %s / %s | %d / %d |\n", n, srv, cell, msgs.format(1, 0), c.format(1, 3), drops.format(1, 0), p50.format(1, 0), p99.format(1, 0), bound, behind)
		}
	}
	p("\nSwitchboard against the others:\n\n| clients | deliveries/s vs melody | vs gorilla hub | CPU per M vs melody | vs gorilla hub |\n|---|---|---|---|---|\n")
	for _, n := range counts {
		cell := func(f func(fanoutResult) float64, other string) string {
			a, ok1 := fanoutField(r.Rooms, "switchboard", n, -1, f)
			o, ok2 := fanoutField(r.Rooms, other, n, -1, f)
			return ratio(a, o, ok1, ok2)
		}
		p("| %d | %s | %s | %s | %s |\n", n, cell(plateauOf, "melody"), cell(plateauOf, "gorillahub"), cell(cpuOf, "melody"), cell(cpuOf, "gorillahub"))
	}
}

// flags counts the client-bound and publisher-behind steps of srv's runs,
// and tells whether any run ended at the top of its ladder.
func flags(runs []fanoutRun, srv string, members, size int) (bound, behind int, top bool) {
	for _, x := range runs {
		if x.Server != srv || x.Members != members || (size >= 0 && x.Size != size) {
			continue
		}
		top = top || x.AtLadderTop
		for _, s := range x.Steps {
			if s.ClientBound {
				bound++
			}
			if s.PublisherBehind {
				behind++
			}
		}
	}
	return bound, behind, top
}

// slowSummary is one scenario 6 run reduced to what the report shows.
type slowSummary struct {
	baseP99, slowP99 float64 // medians of the steps' p99s, before and after the slow members stopped
	// ctrlP99 is the median p99 of the control run (nobody stalls) over
	// the steps where the slow members had stopped in this one; 0: no
	// control. ctrlClosed counts the control's slow members the server
	// closed though they read.
	ctrlP99, ctrlClosed float64
	delivered           float64 // share of the others' expected deliveries that arrived while the slow ones were stopped
	othersClosed        float64
	slowClosed          float64
	slowOpen            float64
	memBase             float64 // heap+stack at the last sample before the slow members stopped
	memPeak             float64 // the most after
	memEnd              float64 // the last sample
}

// summarizeSlow reduces a stalled run x, with its control (nil: none).
func summarizeSlow(x latencyRun, ctrl *latencyRun) (slowSummary, bool) {
	var base, slow, same []float64
	var got, want int64
	for i, s := range x.Steps {
		if s.SlowStopped {
			slow = append(slow, s.P99)
			got += s.Deliveries
			want += s.Expected
			if ctrl != nil && i < len(ctrl.Steps) {
				same = append(same, ctrl.Steps[i].P99)
			}
		} else {
			base = append(base, s.P99)
		}
	}
	b, ok1 := spreadOf(base)
	sl, ok2 := spreadOf(slow)
	if !ok1 || !ok2 || want == 0 {
		return slowSummary{}, false
	}
	sum := slowSummary{baseP99: b.med, slowP99: sl.med, delivered: float64(got) / float64(want),
		othersClosed: float64(x.Steps[len(x.Steps)-1].MembersClosed), slowClosed: float64(x.SlowClosed), slowOpen: float64(x.SlowOpen)}
	if c, ok := spreadOf(same); ok && len(same) == len(slow) {
		sum.ctrlP99, sum.ctrlClosed = c.med, float64(ctrl.SlowClosed)
	}
	for _, m := range x.Memory {
		v := float64(m.HeapStack)
		if m.Seconds < x.SlowStoppedAt {
			sum.memBase = v
		} else {
			sum.memPeak = max(sum.memPeak, v)
		}
		sum.memEnd = v
	}
	return sum, true
}

func (r *report) slowMarkdown(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 6. Slow consumers\n\n")
	p("One room at %.0f%% of the weakest server's fan-out plateau; every hundredth member (dialled with a 4 KiB receive buffer, as on a slow link) reads for the first %d steps and then stops reading for good, for %d more steps. Each such run has a control in the same round (the two take turns to go first): the same connections, load and steps, with the slow members reading to the end. The others' latency is to the last of them; the server's heap+stack is sampled every 250 ms. p99: the median over a phase's steps of each step's p99, then the median over rounds; the control's is over the same steps as \"after\", and \"after / control\" is the median over rounds of each round's ratio. That ratio is what the stall cost; \"after / before\" also holds what drifts over a run.\n\n", slowShare*100, slowBaseline, slowSteps)
	p("| members × payload | server | others' p99 before, µs | after, µs | control, same steps, µs | after / control | after / before | others delivered after | others closed | slow closed / still open at the end (control: closed) | heap+stack MiB before / peak after / end |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	type key struct{ m, s int }
	var keys []key
	for _, x := range r.Slow {
		if k := (key{x.Members, x.Size}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		for _, srv := range servers {
			sums := r.slowSummaries(srv, caseKey(k))
			if len(sums) == 0 {
				continue
			}
			over := func(sums []slowSummary, g func(slowSummary) float64) spread {
				v := make([]float64, len(sums))
				for i, s := range sums {
					v[i] = g(s)
				}
				sp, _ := spreadOf(v)
				return sp
			}
			f := func(g func(slowSummary) float64) spread { return over(sums, g) }
			moved := f(func(s slowSummary) float64 { return s.slowP99 / s.baseP99 })
			// The control's figures are over the rounds that have one.
			ctrl, cost, ctrlClosed := "–", "–", "–"
			var withCtrl []slowSummary
			for _, s := range sums {
				if s.ctrlP99 > 0 {
					withCtrl = append(withCtrl, s)
				}
			}
			if len(withCtrl) > 0 {
				ctrl = over(withCtrl, func(s slowSummary) float64 { return s.ctrlP99 }).format(1, 0)
				cost = over(withCtrl, func(s slowSummary) float64 { return s.slowP99 / s.ctrlP99 }).format(1, 2)
				ctrlClosed = over(withCtrl, func(s slowSummary) float64 { return s.ctrlClosed }).format(1, 0)
			}
			const mib = 1 << 20
			p("| %d × %d B | %s | %s | %s | %s | %s | %s | %s%% | %s | %s / %s (%s) | %s / %s / %s |\n", k.m, k.s, srv,
				f(func(s slowSummary) float64 { return s.baseP99 }).format(1, 0), f(func(s slowSummary) float64 { return s.slowP99 }).format(1, 0),
				ctrl, cost, moved.format(1, 2), f(func(s slowSummary) float64 { return s.delivered * 100 }).format(1, 1),
				f(func(s slowSummary) float64 { return s.othersClosed }).format(1, 0),
				f(func(s slowSummary) float64 { return s.slowClosed }).format(1, 0), f(func(s slowSummary) float64 { return s.slowOpen }).format(1, 0), ctrlClosed,
				f(func(s slowSummary) float64 { return s.memBase }).format(mib, 1), f(func(s slowSummary) float64 { return s.memPeak }).format(mib, 1),
				f(func(s slowSummary) float64 { return s.memEnd }).format(mib, 1))
		}
	}
	// What a slow member missed while it was stopped, in the first run.
	closedAny, missed := false, 0.0
	for _, x := range r.Slow {
		closedAny = closedAny || x.SlowClosed > 0
	}
	for _, st := range r.Slow[0].Steps {
		if st.SlowStopped {
			missed += float64(st.Published) * float64(r.Slow[0].Size)
		}
	}
	if !closedAny && missed > 0 {
		p("\nNo server closed a slow member in this run. Each missed about %.1f MB while it was stopped, which the kernel's socket buffers took (the server's send buffer grows to 4 MiB by default on Linux), so no server's own limit below was reached: the table shows the others' latency beside stalled sockets, not a server's handling of them. Longer steps (`-slow-step`) are needed to reach the limits.\n", missed/1e6)
	}
	p("\nHow each server treats a member that stops reading, by default: Switchboard closes it with 4001 once its queue passes 1 MiB (`MaxQueueBytes`), drops it once a write has been blocked for 10 s (`WriteTimeout`), and closes it with 4002 when a ping (every 25 s) is not answered within 10 s, which a client that reads nothing never does; the gorilla hub closes it once its 256-message channel is full; melody keeps it and drops what does not fit its 256-message buffer, silently; both peers drop a connection that sent no pong for 60 s. A slow member still open at the end is one the server still held.\n")
}

func (r *report) redisMarkdown(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if !hasSrv(r.Fanout, redisServer) && !hasSrv(r.Rooms, redisServer) && !hasSrv(r.Fanout, twoNodesServer) && !hasSrv(r.Fanout, shardsServer) {
		return
	}
	p("\n## 7. Switchboard over Redis against Switchboard in memory\n\n")
	p("The same box with the Redis broker (`channels/redisbroker`, default options) against a redis-server the tool starts for each run on the server's core (CPU 0), so the server and Redis share one core; CPU per million deliveries counts both. One node: what Redis adds to every message (a PUBLISH, and the subscription that other nodes would need), not a cluster.\n\n")
	if r.Pipeline {
		p("`GroupSend` delivers to the local members and queues the message for the broker's publish pipeline, which writes everything queued to Redis in one round trip (PUBLISH for each message; one script call for a run of a group's saved messages) while the next batch queues; the publisher's loop never waits for Redis, and the members' writers still get bursts to coalesce. The server's own unsaved messages, which Redis sends back to its subscription, are dropped unread.\n\n")
	} else {
		p("`GroupSend` delivers to the local members, then waits for Redis's answer to the PUBLISH before it returns; the publisher here sends from one loop, so its next message is read only after that round trip. The members' writers then get one message at a time and write each in a syscall of its own instead of coalescing a burst, which is why the CPU per delivery rises to the peers' level and the plateau is set by the round trip, not by the room.\n\n")
	}
	type key struct{ m, s int }
	var srv string // the broker's server of the table being written
	row := func(label string, runs []fanoutRun, k key) {
		a, ok1 := fanoutField(runs, "switchboard", k.m, k.s, plateauOf)
		c, ok2 := fanoutField(runs, srv, k.m, k.s, plateauOf)
		ac, ok3 := fanoutField(runs, "switchboard", k.m, k.s, cpuOf)
		cc, ok4 := fanoutField(runs, srv, k.m, k.s, cpuOf)
		if !ok1 || !ok2 {
			return
		}
		_, _, topA := flags(runs, "switchboard", k.m, k.s)
		_, _, topC := flags(runs, srv, k.m, k.s)
		ge := func(top bool) string {
			if top {
				return "≥ "
			}
			return ""
		}
		p("| %s | %s%s | %s%s | %s | %s | %s | %s |\n", label, ge(topA), a.format(1, 0), ge(topC), c.format(1, 0), ratio(c, a, ok2, ok1), ac.format(1, 3), cc.format(1, 3), ratio(cc, ac, ok4, ok3))
	}
	var keys []key
	for _, x := range r.Fanout {
		if k := (key{x.Members, x.Size}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, srv = range []string{redisServer, twoNodesServer, shardsServer} {
		if !hasSrv(r.Fanout, srv) && !hasSrv(r.Rooms, srv) {
			continue
		}
		if srv == shardsServer {
			p("\nThree shards: one Switchboard process over three redis-servers (`redisbroker.Options.Shards`), all on CPU 0, so the shards share the core that one Redis had: what the spreading costs, not what it gains; the gain needs a core per shard. CPU per million deliveries counts the server and the three Redis.\n\n")
			p("| scenario | in memory: plateau deliveries/s | three shards | three shards / memory | CPU s per M in memory | three shards (server + Redis) | three shards / memory |\n|---|---|---|---|---|---|---|\n")
		} else if srv == twoNodesServer {
			p("\nTwo nodes: two Switchboard processes over the same redis-server, all three on CPU 0; the load client puts even members on one and odd members on the other and has a publisher on each, taking turns, so that half of every room's deliveries cross from one node to the other through Redis. CPU per million deliveries counts both servers and Redis.\n\n")
			p("| scenario | in memory: plateau deliveries/s | two nodes over Redis | two nodes / memory | CPU s per M in memory | two nodes (servers + Redis) | two nodes / memory |\n|---|---|---|---|---|---|---|\n")
		} else {
			p("| scenario | in memory: plateau deliveries/s | over Redis | Redis / memory | CPU s per M in memory | over Redis (server + Redis) | Redis / memory |\n|---|---|---|---|---|---|---|\n")
		}
		for _, k := range keys {
			row(fmt.Sprintf("fan-out %d × %d B", k.m, k.s), r.Fanout, k)
		}
		for _, n := range distinct(r.Rooms, members) {
			row(fmt.Sprintf("many rooms, %d clients", n), r.Rooms, key{n, -1})
		}
	}
	if !slices.ContainsFunc(r.Latency, func(x latencyRun) bool { return x.Server == redisServer }) {
		return
	}
	p("\nLatency at the loads of scenario 4, p99 in µs to the last member / to the first (median over rounds; with two nodes, half the members are on the other node):\n\n| members × payload | load | in memory | over Redis | two nodes over Redis | three shards |\n|---|---|---|---|---|---|\n")
	var lkeys []key
	for _, x := range r.Latency {
		if k := (key{x.Members, x.Size}); !slices.Contains(lkeys, k) {
			lkeys = append(lkeys, k)
		}
	}
	for _, k := range lkeys {
		var shares []float64
		for _, x := range r.Latency {
			if x.Members == k.m && x.Size == k.s {
				shares = x.Shares
				break
			}
		}
		for i, sh := range shares {
			cell := func(srv string) string {
				var last, first []float64
				for _, x := range r.Latency {
					if x.Server == srv && x.Members == k.m && x.Size == k.s && i < len(x.Steps) {
						last, first = append(last, x.Steps[i].P99), append(first, x.Steps[i].FirstP99)
					}
				}
				l, ok := spreadOf(last)
				f, _ := spreadOf(first)
				if !ok {
					return "–"
				}
				return fmt.Sprintf("%.0f / %.0f", l.med, f.med)
			}
			p("| %d × %d B | %.0f%% | %s | %s | %s | %s |\n", k.m, k.s, sh*100, cell("switchboard"), cell(redisServer), cell(twoNodesServer), cell(shardsServer))
		}
	}
}

// hasSrv reports whether runs hold a run of srv.
func hasSrv(runs []fanoutRun, srv string) bool {
	return slices.ContainsFunc(runs, func(x fanoutRun) bool { return x.Server == srv })
}
