package main

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/switchboard-go/switchboard/internal/loadtest/result"
)

// fan is a fan-out run of srv whose one step delivered perSec at cpu
// seconds per million.
func fan(srv string, round, members, size int, perSec, cpu float64) fanoutRun {
	return fanoutRun{Server: srv, Round: round, fanoutResult: result.Fanout{
		Members: members, Size: size, PlateauPerSec: perSec,
		Steps: []result.FanoutStep{{DeliveriesPerSec: perSec, ServerCPUPerM: cpu, Expected: 10, Deliveries: 10, P99: 100, FirstP99: 10}},
	}}
}

// slowRun is a scenario 6 run: two steps before the slow members stop
// (p99 base) and two after (p99 after), memory samples around the stop.
func slowRun(srv string, base, after float64) latencyRun {
	steps := []result.FanoutStep{
		{P99: base, Expected: 100, Deliveries: 100},
		{P99: base, Expected: 100, Deliveries: 100},
		{P99: after, Expected: 100, Deliveries: 90, SlowStopped: true},
		{P99: after * 3, Expected: 100, Deliveries: 90, SlowStopped: true, MembersClosed: 1},
	}
	return latencyRun{Server: srv, Round: 1, Shares: []float64{0.5}, fanoutResult: result.Fanout{
		Members: 1000, Size: 1024, Steps: steps, SlowStoppedAt: 4, SlowClosed: 7, SlowOpen: 3,
		Memory: []result.MemSample{{Seconds: 1, HeapStack: 1 << 20}, {Seconds: 3.9, HeapStack: 2 << 20}, {Seconds: 5, HeapStack: 8 << 20}, {Seconds: 8, HeapStack: 3 << 20}},
	}}
}

// controlRun is a scenario 6 control run: steps with these p99s, no stall,
// and one slow member closed by the server.
func controlRun(srv string, p99s []float64) latencyRun {
	x := latencyRun{Server: srv, Round: 1, Shares: []float64{0.5}, fanoutResult: result.Fanout{Members: 1000, Size: 1024, SlowClosed: 1, SlowOpen: 9}}
	for _, p := range p99s {
		x.Steps = append(x.Steps, result.FanoutStep{P99: p, Expected: 100, Deliveries: 100})
	}
	return x
}

func TestSummarizeSlow(t *testing.T) {
	t.Parallel()
	got, ok := summarizeSlow(slowRun("switchboard", 100, 200), nil)
	if !ok {
		t.Fatal("summarizeSlow: not ok")
	}
	want := slowSummary{baseP99: 100, slowP99: 400, delivered: 0.9, othersClosed: 1, slowClosed: 7, slowOpen: 3,
		memBase: 2 << 20, memPeak: 8 << 20, memEnd: 3 << 20}
	if got != want {
		t.Fatalf("summarizeSlow = %+v, want %+v", got, want)
	}
	// The control counts over the stalled run's slow steps only (its own
	// first steps are slower, as a drifting run's would be).
	ctrl := controlRun("switchboard", []float64{900, 900, 300, 500})
	got, _ = summarizeSlow(slowRun("switchboard", 100, 200), &ctrl)
	if got.ctrlP99 != 400 || got.ctrlClosed != 1 {
		t.Fatalf("summarizeSlow with a control: ctrlP99 %v, ctrlClosed %v; want 400, 1", got.ctrlP99, got.ctrlClosed)
	}
	// A control with fewer steps than the stalled run is no control.
	ctrl.Steps = ctrl.Steps[:3]
	if got, _ = summarizeSlow(slowRun("switchboard", 100, 200), &ctrl); got.ctrlP99 != 0 {
		t.Fatalf("summarizeSlow with a short control: ctrlP99 %v, want 0", got.ctrlP99)
	}
	// A run whose slow members never stopped has no second phase.
	x := slowRun("switchboard", 100, 200)
	x.Steps = x.Steps[:2]
	if _, ok := summarizeSlow(x, nil); ok {
		t.Fatal("summarizeSlow of a run without slow steps: ok")
	}
}

func testReport() *report {
	r := &report{Machine: "test", Config: "test"}
	for round := 1; round <= 3; round++ {
		r.Idle = append(r.Idle,
			idleRun{Server: "switchboard", Round: round, idleResult: result.Idle{Conns: 1000, HeapStackPerConn: 9 << 10, UpgradesPerSec: 6000}},
			idleRun{Server: "melody", Round: round, idleResult: result.Idle{Conns: 1000, HeapStackPerConn: 27 << 10, UpgradesPerSec: 3000}},
			idleRun{Server: "gorillahub", Round: round, idleResult: result.Idle{Conns: 1000, HeapStackPerConn: 18 << 10, UpgradesPerSec: 4000}})
		r.Fanout = append(r.Fanout,
			fan("switchboard", round, 1000, 64, 800_000, 1),
			fan("melody", round, 1000, 64, 100_000, 4),
			fan("gorillahub", round, 1000, 64, 200_000, 0), // a CPU figure of 0 cannot go on a log axis
			fan(redisServer, round, 1000, 64, 400_000, 2))
		r.Rooms = append(r.Rooms,
			fan("switchboard", round, 10000, 64, 300_000, 2),
			fan("melody", round, 10000, 64, 150_000, 4),
			fan(redisServer, round, 10000, 64, 100_000, 6))
	}
	r.Slow = []latencyRun{slowRun("switchboard", 100, 105), slowRun("melody", 100, 300)}
	r.SlowControl = []latencyRun{controlRun("switchboard", []float64{100, 100, 150, 150})} // melody has none
	return r
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	md := testReport().markdown()
	for _, want := range []string{
		"## 1. Idle memory", "| 1000 | 0.33× | 0.50× |", // heap+stack: 9/27, 9/18
		"## 2. Connect storm", "| 1000 | 2.00× | 1.50× |", // upgrades: 6000/3000, 6000/4000
		"## 3. Fan-out", "| 1000 × 64 B | 8.00× | 4.00× | 0.25× | – |", // CPU vs a 0 has no ratio
		"## 5. Many rooms", "| 10000 | 2.00× | – | 0.50× | – |",
		"## 6. Slow consumers", "| 1000 × 1024 B | switchboard | 100 | 210 | 150 | 1.40 | 2.10 | 90.0% | 1 | 7 / 3 (1) | 2.0 / 8.0 / 3.0 |",
		"| 1000 × 1024 B | melody | 100 | 600 | – | – | 6.00 | 90.0% | 1 | 7 / 3 (–) | 2.0 / 8.0 / 3.0 |",
		"## 7. Switchboard over Redis", "| fan-out 1000 × 64 B | 800000 | 400000 | 0.50× | 1.000 | 2.000 | 2.00× |",
		"| many rooms, 10000 clients | 300000 | 100000 | 0.33× | 2.000 | 6.000 | 3.00× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(md, "## Charts") {
		t.Error("a report whose charts were not drawn links them")
	}
}

func TestPicturesDraw(t *testing.T) {
	t.Parallel()
	pics := testReport().pictures()
	var names []string
	for _, pic := range pics {
		names = append(names, pic.file)
		var buf bytes.Buffer
		if err := pic.c.WritePNG(&buf); err != nil {
			t.Fatalf("%s: %v", pic.file, err)
		}
		if _, err := png.Decode(&buf); err != nil {
			t.Fatalf("%s: %v", pic.file, err)
		}
	}
	// No latency runs: no latency chart.
	if got, want := strings.Join(names, " "), "idle.png fanout.png cpu.png rooms.png slow-latency.png slow-memory.png"; got != want {
		t.Fatalf("pictures %q, want %q", got, want)
	}
	if pics := (&report{}).pictures(); len(pics) != 0 {
		t.Fatalf("an empty report has %d pictures", len(pics))
	}
}

// lat is a scenario 4 run of srv at one load, 50%, with these p99s to the
// last and the first member.
func lat(srv string, round int, last, first float64) latencyRun {
	return latencyRun{Server: srv, Round: round, Shares: []float64{0.5}, Weakest: 100_000, fanoutResult: result.Fanout{
		Members: 1000, Size: 64,
		Steps: []result.FanoutStep{{OfferedPerSec: 50, Expected: 100, Deliveries: 100, Samples: 100, P50: last / 2, P99: last, P999: last, Max: last, FirstP50: first / 2, FirstP99: first}},
	}}
}

func TestLatencyMarkdown(t *testing.T) {
	t.Parallel()
	r := testReport()
	for round := 1; round <= 3; round++ {
		r.Latency = append(r.Latency,
			lat("switchboard", round, 12_000, 1_000),
			lat("melody", round, 30_000, 4_000),
			lat("gorillahub", round, 24_000, 2_000),
			lat(floorServer, round, 10_000, 500))
	}
	md := r.markdown()
	for _, want := range []string{
		"## 4. Latency at fixed loads",
		"| 1000 × 64 B | 50% of 100000 (50000) | floor | 5000 | 10000 |",
		// 12/30, 12/24, 1/4, 1/2; over the floor: 12/10, 30/10, 24/10
		"| 1000 × 64 B | 0.40× | 0.50× | 0.25× | 0.50× | 1.20× | 3.00× | 2.40× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	var names []string
	for _, pic := range r.pictures() {
		names = append(names, pic.file)
		if pic.file == "latency.png" && !strings.Contains(strings.Join(pic.c.Series, " "), floorServer) {
			t.Errorf("the latency chart's series %q leave out the floor", pic.c.Series)
		}
	}
	if !strings.Contains(strings.Join(names, " "), "latency.png") {
		t.Errorf("pictures %q: no latency chart", names)
	}
}

func TestToDocs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"go run ./cmd/loadtest -rounds 5 -json /tmp/x.json -md /tmp/B.md": "go run ./cmd/loadtest -rounds 5",
		"go run ./cmd/loadtest --md=/tmp/B.md -step 2s -json=/tmp/x":      "go run ./cmd/loadtest -step 2s",
		"go run ./cmd/loadtest -plateaus ../../docs/loadtest.json":        "go run ./cmd/loadtest -plateaus ../../docs/loadtest.json",
	} {
		want += " -json ../../docs/loadtest.json -md ../../docs/BENCHMARKS.md"
		if got := toDocs(in, "docs/"); got != want {
			t.Errorf("toDocs(%q) = %q, want %q", in, got, want)
		}
	}
}

// The fixed-load table sets each server's CPU per delivery at the
// ladder's first step beside the floor's, run at that load alone.
func TestFixedLoadTable(t *testing.T) {
	t.Parallel()
	fixed := func(srv string, round int, cpu float64) fanoutRun {
		x := fan(srv, round, 1000, 64, 40_000, cpu)
		x.Steps[0].OfferedPerSec = fixedLoad / 1000
		return x
	}
	r := &report{Machine: "test", Config: "test", FixedStep: "10s"}
	for round := 1; round <= 3; round++ {
		r.Fanout = append(r.Fanout, fixed("switchboard", round, 8), fixed("melody", round, 16), fixed("gorillahub", round, 12))
		r.FixedFloor = append(r.FixedFloor, fixed(floorServer, round, 7))
	}
	md := r.markdown()
	// switchboard/melody, /gorilla hub, /floor; floor/melody
	if want := "| 0.50× | 0.67× | 1.14× | 0.44× |"; !strings.Contains(md, want) {
		t.Errorf("the fixed-load table lacks %q:\n%s", want, md)
	}
	// Without the floor's runs (reports of earlier runs) its cells are empty.
	r.FixedFloor = nil
	if want := "| 0.50× | 0.67× | – | – |"; !strings.Contains(r.markdown(), want) {
		t.Errorf("without the floor, the fixed-load table lacks %q", want)
	}
}
