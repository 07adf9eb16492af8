package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/switchboard-go/switchboard/internal/loadtest/result"
)

type (
	idleResult   = result.Idle
	fanoutResult = result.Fanout
)

type idleRun struct {
	Server string `json:"server"`
	Round  int    `json:"round"`
	idleResult
}

type fanoutRun struct {
	Server string `json:"server"`
	Round  int    `json:"round"`
	fanoutResult
}

type latencyRun struct {
	Server  string    `json:"server"`
	Round   int       `json:"round"`
	Shares  []float64 `json:"shares"`  // of the weakest plateau, one per step
	Weakest float64   `json:"weakest"` // the weakest server's median plateau, deliveries/s
	fanoutResult
}

type report struct {
	Command        string       `json:"command"` // the command line of the run
	LatencyCommand string       `json:"latency_command,omitempty"`
	Machine        string       `json:"machine"`
	Config         string       `json:"config"`
	Started        string       `json:"started"`
	Idle           []idleRun    `json:"idle"`
	Fanout         []fanoutRun  `json:"fanout"`
	Latency        []latencyRun `json:"latency,omitempty"`
	Rooms          []fanoutRun  `json:"rooms,omitempty"`
	Slow           []latencyRun `json:"slow,omitempty"`
	// SlowControl is scenario 6 again with the slow members reading to
	// the end: the same connections, load and length, run beside each
	// stalled run, so that drift over a run is not taken for the stall.
	SlowControl []latencyRun `json:"slow_control,omitempty"`
	// Pipeline is set by runs whose Redis broker publishes through its
	// pipeline (GroupSend returns once the message is queued); an earlier
	// run waited for each PUBLISH, and its report says so.
	Pipeline bool `json:"pipeline,omitempty"`
	// FixedStep is the length of the fan-out ladder's first step, the
	// fixed load, when it was not the others' (runs since 2026-12-05).
	FixedStep string `json:"fixed_step,omitempty"`
	// FixedFloor is the floor server at the fixed load, the ladder's
	// first step alone, run in each round after the servers: how much of
	// their CPU per delivery at that load any server pays.
	FixedFloor []fanoutRun `json:"fixed_floor,omitempty"`

	charts []picture // drawn for the markdown, which links them
	docDir string    // the page's folder in the repository: "docs/" by default
}

// weakestPlateau is the lowest of the servers' median fan-out plateaus
// for a room size and payload (0 when none ran).
func (r *report) weakestPlateau(members, size int) float64 {
	weakest := 0.0
	for _, srv := range servers {
		var v []float64
		for _, x := range r.Fanout {
			if x.Server == srv && x.Members == members && x.Size == size {
				v = append(v, x.PlateauPerSec)
			}
		}
		if s, ok := spreadOf(v); ok && (weakest == 0 || s.med < weakest) {
			weakest = s.med
		}
	}
	return weakest
}

// spread is a median with the min and max over rounds.
type spread struct{ med, lo, hi float64 }

func spreadOf(v []float64) (spread, bool) {
	if len(v) == 0 {
		return spread{}, false
	}
	v = slices.Clone(v)
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return spread{m, v[0], v[len(v)-1]}, true
}

func (s spread) format(scale float64, digits int) string {
	f := "%." + fmt.Sprint(digits) + "f"
	if s.lo == s.hi {
		return fmt.Sprintf(f, s.med/scale)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.med/scale, s.lo/scale, s.hi/scale)
}

func ratio(a, b spread, okA, okB bool) string {
	if !okA || !okB || b.med == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a.med/b.med)
}

// peers reports whether the run measured a peer (melody, the gorilla hub).
func (r *report) peers() bool {
	for _, x := range r.Fanout {
		if x.Server == "melody" || x.Server == "gorillahub" {
			return true
		}
	}
	for _, x := range r.Idle {
		if x.Server == "melody" || x.Server == "gorillahub" {
			return true
		}
	}
	return false
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Benchmarks\n\n")
	if r.peers() {
		p("Switchboard (a ChannelBox with default options) against olahol/melody (rooms in a map, `BroadcastMultiple`) and a plain gorilla/websocket hub written like gorilla's chat example, measured in the same run by the load tool in `internal/loadtest` (a module of its own, so the peers never enter the library's go.mod).\n\n")
	} else {
		p("Switchboard only (the run left the peers out with `-only`), measured by the load tool in `internal/loadtest`.\n\n")
	}
	dir := r.docDir
	if dir == "" {
		dir = "docs/"
	}
	p("- Machine: %s\n- Run: %s, started %s\n", r.Machine, r.Config, r.Started)
	p("- Reproduce: `cd internal/loadtest && %s` (the raw results are in `%sloadtest.json`; `go run ./cmd/loadtest -from ../../%sloadtest.json -md ../../%sBENCHMARKS.md` renders this page again)\n", toDocs(r.Command, dir), dir, dir, dir)
	p("- Each round starts every server afresh on a new port, in an order that rotates between rounds; the server runs on CPU 0 and the client on CPU 1, both with GOMAXPROCS=1. Figures are the median over rounds with the min–max in brackets; ratios compare medians.\n\n")

	p("## 1. Idle memory per connection\n\n")
	p("Heap in use plus stack in use, and RSS, after two GCs, before and after the connections, divided by their number; also goroutines per connection and the upgrades a second of the connect storm that opened them (64 dials at a time).\n\n")
	p("| connections | server | heap+stack KiB/conn | RSS KiB/conn | goroutines/conn | upgrades/s |\n|---|---|---|---|---|---|\n")
	counts := distinct(r.Idle, func(x idleRun) int { return x.Conns })
	idleField := func(n int, srv string, f func(idleResult) float64) (spread, bool) {
		var v []float64
		for _, x := range r.Idle {
			if x.Conns == n && x.Server == srv {
				v = append(v, f(x.idleResult))
			}
		}
		return spreadOf(v)
	}
	hs := func(x idleResult) float64 { return x.HeapStackPerConn }
	for _, n := range counts {
		for _, srv := range servers {
			h, ok := idleField(n, srv, hs)
			if !ok {
				continue
			}
			rss, _ := idleField(n, srv, func(x idleResult) float64 { return x.RSSPerConn })
			g, _ := idleField(n, srv, func(x idleResult) float64 { return x.GoroutinesPer })
			u, _ := idleField(n, srv, func(x idleResult) float64 { return x.UpgradesPerSec })
			p("| %d | %s | %s | %s | %s | %s |\n", n, srv, h.format(1024, 2), rss.format(1024, 2), g.format(1, 2), u.format(1, 0))
		}
	}
	p("\nSwitchboard's heap+stack per connection as a share of the others':\n\n| connections | / melody | / gorilla hub |\n|---|---|---|\n")
	for _, n := range counts {
		sb, ok1 := idleField(n, "switchboard", hs)
		me, ok2 := idleField(n, "melody", hs)
		go_, ok3 := idleField(n, "gorillahub", hs)
		p("| %d | %s | %s |\n", n, ratio(sb, me, ok1, ok2), ratio(sb, go_, ok1, ok3))
	}

	p("\n## 2. Connect storm\n\n")
	p("Upgrades a second while the idle connections above were opened, 64 dials in flight at a time from the one client core (higher is better; the client's own dialling is part of every figure).\n\n| connections | Switchboard / melody | / gorilla hub |\n|---|---|---|\n")
	ups := func(x idleResult) float64 { return x.UpgradesPerSec }
	for _, n := range counts {
		sb, ok1 := idleField(n, "switchboard", ups)
		me, ok2 := idleField(n, "melody", ups)
		go_, ok3 := idleField(n, "gorillahub", ups)
		p("| %d | %s | %s |\n", n, ratio(sb, me, ok1, ok2), ratio(sb, go_, ok1, ok3))
	}

	p("\n## 3. Fan-out to one room\n\n")
	p("One publisher connection sends to a room at offered rates raised step by step (the offered deliveries a second: 40k, 100k, 200k, 500k, 1M, 2M, 4M) until the members get less than 90%% of what was sent. A step counts only its own messages, received by the time nothing more arrived for 500 ms (at most 5 s after it). Plateau: the most deliveries a second of any step, marked ≥ when even the last step delivered (the ladder ended first, so it is a lower bound). CPU: the server's CPU seconds per million deliveries at that step. Not delivered: the step's deliveries that had not arrived by then (dropped by the server, or still queued). Latency: publish to the last member, per message, at the lowest step.\n\n")
	p("| members × payload | server | plateau deliveries/s | server CPU s per M | not delivered at plateau | p50 / p99 / p99.9 / max µs (lowest step) | client-bound / publisher-behind steps |\n|---|---|---|---|---|---|---|\n")
	keys := fanoutKeys(r.Fanout)
	fanField := func(k caseKey, srv string, fn func(fanoutResult) float64) (spread, bool) {
		return fanoutField(r.Fanout, srv, k.m, k.s, fn)
	}
	plateau, cpu := plateauOf, cpuOf
	for _, k := range keys {
		for _, srv := range servers {
			pl, ok := fanField(k, srv, plateau)
			if !ok {
				continue
			}
			c, _ := fanField(k, srv, cpu)
			drops, _ := fanField(k, srv, func(f fanoutResult) float64 {
				s := bestStep(f)
				return float64(s.Expected - s.Deliveries)
			})
			lat := func(q func(result.FanoutStep) float64) spread {
				s, _ := fanField(k, srv, func(f fanoutResult) float64 { return q(f.Steps[0]) })
				return s
			}
			bound, behind, top := flags(r.Fanout, srv, k.m, k.s)
			plCell := pl.format(1, 0)
			if top {
				plCell = "≥ " + plCell
			}
			p("| %d × %d B | %s | %s | %s | %s | %s / %s / %s / %s | %d / %d |\n", k.m, k.s, srv, plCell, c.format(1, 3), drops.format(1, 0),
				lat(func(s result.FanoutStep) float64 { return s.P50 }).format(1, 0),
				lat(func(s result.FanoutStep) float64 { return s.P99 }).format(1, 0),
				lat(func(s result.FanoutStep) float64 { return s.P999 }).format(1, 0),
				lat(func(s result.FanoutStep) float64 { return s.Max }).format(1, 0), bound, behind)
		}
	}
	p("\nOne client core reads every member, so a step flagged client-bound (the client's CPU time over 90%% of the wall time) measures the client as much as the server; the server's CPU per delivery does not depend on the client and is the steadier comparison. The latencies at the lowest step are dominated by that client too (one core reads the message on every member in turn) and say little about the servers; scenario 4 measures them at fixed loads.\n")
	p("\nSwitchboard against the others (deliveries a second: higher is better; CPU per delivery: lower is better):\n\n| members × payload | deliveries/s vs melody | vs gorilla hub | CPU per M vs melody | vs gorilla hub |\n|---|---|---|---|---|\n")
	for _, k := range keys {
		sb, a := fanField(k, "switchboard", plateau)
		me, b2 := fanField(k, "melody", plateau)
		gh, c2 := fanField(k, "gorillahub", plateau)
		sbc, d := fanField(k, "switchboard", cpu)
		mec, e := fanField(k, "melody", cpu)
		ghc, f := fanField(k, "gorillahub", cpu)
		p("| %d × %d B | %s | %s | %s | %s |\n", k.m, k.s, ratio(sb, me, a, b2), ratio(sb, gh, a, c2), ratio(sbc, mec, d, e), ratio(sbc, ghc, d, f))
	}
	r.fixedLoadMarkdown(&b, keys)
	if len(r.Latency) > 0 {
		r.latencyMarkdown(&b)
	}
	if len(r.Rooms) > 0 {
		r.roomsMarkdown(&b)
	}
	if len(r.Slow) > 0 {
		r.slowMarkdown(&b)
	}
	r.redisMarkdown(&b)
	r.chartsMarkdown(&b)
	return b.String()
}

func (r *report) latencyMarkdown(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 4. Latency at fixed loads\n\n")
	if r.LatencyCommand != "" {
		p("Run afterwards with `cd internal/loadtest && %s`, from the plateaus above. ", toDocs(r.LatencyCommand, "docs/"))
	}
	p("The same room and publisher at fixed shares of the weakest server's median plateau, every step run whatever is delivered; the latency is from publish to the last member, per message, in µs (median over rounds of each round's percentile).\n\n")
	p("| members × payload | load: share of the weakest plateau (deliveries/s offered) | server | p50 | p99 | p99.9 | max | first member p50 / p99 | messages per round (fewest) | delivered | client-bound |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	type key struct{ m, s int }
	var keys []key
	for _, x := range r.Latency {
		if k := (key{x.Members, x.Size}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	// p99At holds the p99s at 50% load, to the last member (key members,
	// size, server) and to the first (the same and "first").
	p99At := map[string]float64{}
	for _, k := range keys {
		var shares []float64
		var weakest float64
		for _, x := range r.Latency {
			if x.Members == k.m && x.Size == k.s {
				shares, weakest = x.Shares, x.Weakest
				break
			}
		}
		for i, sh := range shares {
			for _, srv := range append(slices.Clone(servers), floorServer) {
				var p50, p99, p999, mx, deliv, f50, f99 []float64
				bound, samples, offered := 0, -1, 0
				for _, x := range r.Latency {
					if x.Members != k.m || x.Size != k.s || x.Server != srv || i >= len(x.Steps) {
						continue
					}
					st := x.Steps[i]
					p50, p99, p999, mx = append(p50, st.P50), append(p99, st.P99), append(p999, st.P999), append(mx, st.Max)
					f50, f99 = append(f50, st.FirstP50), append(f99, st.FirstP99)
					if samples < 0 || st.Samples < samples {
						samples = st.Samples
					}
					offered = st.OfferedPerSec * x.Members
					if st.Expected > 0 {
						deliv = append(deliv, float64(st.Deliveries)/float64(st.Expected))
					}
					if st.ClientBound {
						bound++
					}
				}
				a, ok := spreadOf(p50)
				if !ok {
					continue
				}
				c, _ := spreadOf(p99)
				d, _ := spreadOf(p999)
				e, _ := spreadOf(mx)
				f, _ := spreadOf(deliv)
				g50, _ := spreadOf(f50)
				g99, _ := spreadOf(f99)
				p("| %d × %d B | %.0f%% of %.0f (%d) | %s | %s | %s | %s | %s | %s / %s | %d | %.1f%% | %d |\n", k.m, k.s, sh*100, weakest, offered, srv,
					a.format(1, 0), c.format(1, 0), d.format(1, 0), e.format(1, 0), g50.format(1, 0), g99.format(1, 0), samples, f.med*100, bound)
				if sh == 0.5 {
					p99At[fmt.Sprint(k.m, k.s, srv)] = c.med
					p99At[fmt.Sprint(k.m, k.s, srv, "first")] = g99.med
				}
			}
		}
	}
	p("\nThe latency to the last member is mostly the client's: one core reads the message on every member in turn, so the last member gets it after the client swept the whole room (about 15 ms at 1,000 members, 120 ms and more at 10,000, whatever the server). Differences between servers show on top of that sweep; at 10,000 members and 10%% load a 2 s step holds only two messages. The latency to the first member leaves the sweep out: it is how soon the server starts delivering.\n")
	p("\nThe floor is a yardstick, not a peer: its publisher writes each message, framed once, straight to every member's socket in turn (servers/floor), which is the least work any server can do. Its latency is what this client and the kernel cost, and a server's latency over the floor's is what the server adds (the floor's own p99 varies from round to round like the others', so a server can come out below it). Where melody's p99 is less than twice the floor's, half of melody's is below what this client can measure.\n")
	p("\nSwitchboard's p99 at 50%% load as a share of the others' (lower is better), and each server's over the floor's (1.00× is as fast as this client can tell):\n\n| members × payload | to the last member / melody | / gorilla hub | to the first member / melody | / gorilla hub | to the last member over the floor: switchboard | melody | gorilla hub |\n|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		ratioOf := func(a, b, which string) string {
			x, y := p99At[fmt.Sprint(k.m, k.s, a)+which], p99At[fmt.Sprint(k.m, k.s, b)+which]
			if x > 0 && y > 0 {
				return fmt.Sprintf("%.2f×", x/y)
			}
			return "–"
		}
		cell := func(o, which string) string { return ratioOf("switchboard", o, which) }
		floor := func(srv string) string { return ratioOf(srv, floorServer, "") }
		p("| %d × %d B | %s | %s | %s | %s | %s | %s | %s |\n", k.m, k.s, cell("melody", ""), cell("gorillahub", ""), cell("melody", "first"), cell("gorillahub", "first"),
			floor("switchboard"), floor("melody"), floor("gorillahub"))
	}
}

// toDocs is a run's command line as this page shows it: with its outputs
// (-json, -md) in docs/, where the page and its raw results are, whatever
// paths the run wrote to.
func toDocs(command, dir string) string {
	var out []string
	f := strings.Fields(command)
	for i := 0; i < len(f); i++ {
		name, _, inline := strings.Cut(strings.TrimLeft(f[i], "-"), "=")
		if strings.HasPrefix(f[i], "-") && (name == "json" || name == "md") {
			if !inline {
				i++ // the value
			}
			continue
		}
		out = append(out, f[i])
	}
	return strings.Join(append(out, "-json ../../"+dir+"loadtest.json -md ../../"+dir+"BENCHMARKS.md"), " ")
}

// fixedLoadCPU is a run's server CPU seconds per million deliveries at
// the fixed load, the ladder's first step (none for a run whose first step
// was another, as in reports of runs before the step was added).
func fixedLoadCPU(f fanoutResult) (float64, bool) {
	if len(f.Steps) == 0 || f.Steps[0].OfferedPerSec*f.Members != fixedLoad || f.Steps[0].Deliveries == 0 {
		return 0, false
	}
	return f.Steps[0].ServerCPUPerM, true
}

// fixedLoadMarkdown reports the servers' CPU per delivery at the fixed
// load, where no server can coalesce: each delivery pays for waking the
// code that writes it.
func (r *report) fixedLoadMarkdown(b *strings.Builder, keys []caseKey) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	field := func(k caseKey, srv string) (spread, bool) {
		var vals []float64
		runs := r.Fanout
		if srv == floorServer {
			runs = r.FixedFloor
		}
		for _, x := range runs {
			if x.Server == srv && x.Members == k.m && x.Size == k.s {
				if v, ok := fixedLoadCPU(x.fanoutResult); ok {
					vals = append(vals, v)
				}
			}
		}
		return spreadOf(vals)
	}
	var rows []string
	for _, k := range keys {
		sb, a := field(k, "switchboard")
		me, b2 := field(k, "melody")
		gh, c2 := field(k, "gorillahub")
		fl, d := field(k, floorServer)
		if !a {
			continue
		}
		cell := func(x spread, ok bool) string {
			if !ok {
				return "–"
			}
			return x.format(1, 3)
		}
		rows = append(rows, fmt.Sprintf("| %d × %d B | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", k.m, k.s, fixedLoad/k.m,
			cell(sb, a), cell(me, b2), cell(gh, c2), cell(fl, d), ratio(sb, me, a, b2), ratio(sb, gh, a, c2), ratio(sb, fl, a, d), ratio(fl, me, d, b2)))
	}
	if len(rows) == 0 {
		return
	}
	long := ""
	if r.FixedStep != "" {
		long = ", " + r.FixedStep + " long"
	}
	p("\nAt a fixed load of %dk deliveries a second (the ladder's first step%s), server CPU seconds per million deliveries: at a few messages a second nothing coalesces, and each delivery pays for waking what writes it.\n\n", fixedLoad/1000, long)
	p("The floor (see scenario 4), run at this load alone in each round, writes each message straight to every member's socket: one write system call per delivery, which at this load is most of any server's CPU (the kernel's TCP work for the loopback peer is charged to the writer). A server's CPU over the floor's is what it adds; the floor's over melody's is the least share of melody's that any server can reach here.\n\n")
	p("| members × payload | messages/s | switchboard | melody | gorilla hub | floor | switchboard / melody | / gorilla hub | / floor | floor / melody |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		p("%s", row)
	}
}
