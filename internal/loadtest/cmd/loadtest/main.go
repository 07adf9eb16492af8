// Command loadtest runs the servers under test in turn against the load
// client and writes what they did side by side: Switchboard (a ChannelBox
// with default options), olahol/melody (rooms in a map, BroadcastMultiple)
// and a plain gorilla/websocket hub in the style of gorilla's chat
// example. Each round starts every server afresh on a new port, in an
// order that rotates between rounds, the server pinned to CPU 0 and the
// client to CPU 1 (taskset, GOMAXPROCS=1), and a step where the client's
// own core was saturated is flagged client-bound.
//
// Scenarios: 1 idle memory per connection, 2 the connect storm that opens
// them, 3 fan-out to one room with the offered rate raised until delivery
// plateaus, 4 latency at fixed shares of the weakest plateau, 5 many rooms
// (a personal room each and rooms of ten), 6 1% slow consumers (each run
// beside a control of the same length where nobody stalls), and 7
// Switchboard over the Redis broker (a redis-server the tool starts) in 3,
// 4 and 5. Scenario 4 also runs a yardstick, servers/floor, whose latency
// is the least any server can have with this client on this machine. The
// markdown report comes with PNG charts in charts/ beside it.
//
// From internal/loadtest:
//
//	go run ./cmd/loadtest -md ../../docs/BENCHMARKS.md -json /tmp/loadtest.json
//	go run ./cmd/loadtest -quick      # a tiny round, as CI runs it
//	go run ./cmd/loadtest -from /tmp/loadtest.json -md ../../docs/BENCHMARKS.md  # re-render
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// servers are the peers compared; redisServer is Switchboard over the
// Redis broker (scenario 7), run where it has something to add: fan-out,
// latency and many rooms.
var servers = []string{"switchboard", "melody", "gorillahub"}

const redisServer = "switchboard-redis"

// twoNodesServer is two Switchboard processes over one Redis (the Redis
// broker's cluster of two nodes): the load client splits the members and
// the publishes between them, so half of every delivery crosses nodes.
const twoNodesServer = "switchboard-2nodes"

// shardsServer is one Switchboard process over three redis-servers
// (redisbroker.Options.Shards), to set beside redisServer's one.
const shardsServer = "switchboard-3shards"

// floorServer is not a peer but a yardstick, run in scenario 4 and at the
// fan-out's fixed load only: the publisher writes each message straight
// to every member's socket (see servers/floor). Its latency and its CPU
// per delivery are what the client and the kernel cost on this machine
// whatever the server, so a server's over the floor's is what the server
// itself adds.
const floorServer = "floor"

type config struct {
	rounds    int
	idle      []int
	fanout    []fanoutCase
	rooms     []int
	slow      []fanoutCase
	step      time.Duration
	fixedStep time.Duration // the fan-out ladder's first step
	slowStep  time.Duration
	pin       bool
	redis     bool
}

type fanoutCase struct {
	Members, Size int
}

// ladder is the offered deliveries a second of the fan-out steps; each is
// divided by the room's size into messages a second. The first, fixedLoad,
// is a modest load at which nothing coalesces (4 messages a second to
// 10,000 members): its CPU per delivery is reported beside the plateau.
var ladder = []int{fixedLoad, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 4_000_000}

// fixedLoad is the fan-out ladder's first step, in deliveries a second.
const fixedLoad = 40_000

// roomsPerMessage is scenario 5's deliveries per message: a personal room
// (1) and a room of ten in turn.
const roomsPerMessage = 5.5

// Scenario 6's steps: slowBaseline steps with every member reading, then
// slowSteps with the slow ones stopped (in the control run, still
// reading), at slowShare of the weakest fan-out plateau.
const (
	slowBaseline = 2
	slowSteps    = 6
	slowShare    = 0.5
)

func main() {
	rounds := flag.Int("rounds", 5, "rounds; each runs every server once")
	idle := flag.String("idle", "1000,10000,19000", "idle connection counts (scenario 1)")
	fan := flag.String("fanout", "1000:64,1000:1024,10000:64,10000:1024", "fan-out room sizes and payload bytes (scenario 3)")
	roomsFlag := flag.String("rooms", "10000", "scenario 5: client counts, each in a personal room and a room of ten (multiples of 10)")
	slowFlag := flag.String("slow", "1000:1024", "scenario 6: room sizes and payloads with 1% slow members (each must be a -fanout case, for its plateau)")
	step := flag.Duration("step", 3*time.Second, "length of each fan-out step")
	slowStep := flag.Duration("slow-step", 3*time.Second, "length of each scenario 6 step")
	fixedStep := flag.Duration("fixed-step", 10*time.Second, "length of the fan-out ladder's first step, the fixed load of 40k deliveries a second: at a few messages a second a short step holds too few for its CPU per delivery to settle (a burst of keepalive pings in it weighs more than the messages)")
	withRedis := flag.Bool("redis", true, "scenario 7: also run Switchboard over the Redis broker, against a redis-server of the tool's own (needs redis-server)")
	only := flag.String("only", "", "run only these servers, comma-separated (switchboard, melody, gorillahub, switchboard-redis); ratios between servers need both in the run")
	quick := flag.Bool("quick", false, "one tiny round (a few hundred connections, a few seconds), as CI runs it")
	jsonOut := flag.String("json", "", "write the raw results here")
	mdOut := flag.String("md", "", "write the markdown report here (else stdout)")
	from := flag.String("from", "", "render the report from a -json file of an earlier run instead of running")
	loads := flag.String("loads", "0.1,0.5,0.8", "scenario 4: fixed loads, as shares of the weakest server's fan-out plateau")
	plateaus := flag.String("plateaus", "", "take the plateaus from this -json file of an earlier run and run only scenario 4 (its results are kept)")
	flag.Parse()
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			log.Fatal(err)
		}
		var rep report
		if err := json.Unmarshal(b, &rep); err != nil {
			log.Fatalf("loadtest: %s: %v", *from, err)
		}
		writeReport(&rep, *mdOut)
		return
	}
	cfg := config{rounds: *rounds, step: *step, fixedStep: *fixedStep, slowStep: *slowStep, redis: *withRedis,
		idle: ints("-idle", *idle), rooms: ints("-rooms", *roomsFlag),
		fanout: cases("-fanout", *fan), slow: cases("-slow", *slowFlag)}
	for _, n := range cfg.rooms {
		if n%10 != 0 || n <= 0 {
			log.Fatalf("loadtest: -rooms %d is not a positive multiple of 10", n)
		}
	}
	if *quick {
		cfg = config{rounds: 1, idle: []int{200}, fanout: []fanoutCase{{200, 64}}, rooms: []int{200}, slow: []fanoutCase{{200, 64}},
			step: time.Second, slowStep: time.Second, redis: *withRedis}
	}
	if cfg.redis {
		if _, err := exec.LookPath("redis-server"); err != nil {
			if os.Getenv("CI") != "" {
				log.Fatal("loadtest: redis-server is not installed (CI must install it)")
			}
			log.Print("loadtest: redis-server is not installed: scenario 7 is left out (apt-get install redis-server)")
			cfg.redis = false
		}
	}
	withBroker := slices.Clone(servers)
	if cfg.redis {
		withBroker = append(withBroker, redisServer, twoNodesServer, shardsServer)
	}
	if *only != "" {
		keep := splitList(*only)
		for _, name := range keep {
			if !slices.Contains(withBroker, name) {
				log.Fatalf("loadtest: -only %q: no such server", name)
			}
		}
		in := func(name string) bool { return !slices.Contains(keep, name) }
		withBroker = slices.DeleteFunc(withBroker, in)
		servers = slices.DeleteFunc(slices.Clone(servers), in)
	}
	_, err := exec.LookPath("taskset")
	cfg.pin = err == nil && runtime.NumCPU() >= 2
	if !cfg.pin {
		log.Print("loadtest: taskset or a second CPU is missing: server and client are not pinned")
	}

	var shares []float64
	for _, f := range splitList(*loads) {
		x, err := strconv.ParseFloat(f, 64)
		if err != nil || x <= 0 {
			log.Fatalf("loadtest: -loads %q", f)
		}
		shares = append(shares, x)
	}
	if *quick {
		shares = []float64{0.5}
	}

	bin, err := os.MkdirTemp("", "loadtest")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(bin)
	for _, name := range append(slices.Clone(servers), floorServer, "loadclient") { // redisServer is the switchboard binary
		pkg := "./servers/" + name
		if name == "loadclient" {
			pkg = "./cmd/loadclient"
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			log.Fatalf("loadtest: build %s: %v\n%s", name, err, out)
		}
	}

	rep := &report{Command: "go run ./cmd/loadtest " + shellArgs(os.Args[1:]), Machine: machine(), Config: cfg.describe(), Started: time.Now().UTC().Format(time.RFC3339), Pipeline: true}
	if cfg.fixedStep > 0 {
		rep.FixedStep = cfg.fixedStep.String()
	}
	skipMain := false
	if *plateaus != "" {
		b, err := os.ReadFile(*plateaus)
		if err != nil {
			log.Fatal(err)
		}
		var prev report
		if err := json.Unmarshal(b, &prev); err != nil {
			log.Fatalf("loadtest: %s: %v", *plateaus, err)
		}
		rep.Command, rep.Config, rep.Started = prev.Command, prev.Config, prev.Started
		rep.Idle, rep.Fanout, rep.Rooms, rep.Slow, rep.SlowControl = prev.Idle, prev.Fanout, prev.Rooms, prev.Slow, prev.SlowControl
		rep.LatencyCommand = "go run ./cmd/loadtest " + strings.Join(os.Args[1:], " ")
		cfg.fanout = nil
		for _, x := range prev.Fanout {
			if fc := (fanoutCase{x.Members, x.Size}); !slices.Contains(cfg.fanout, fc) {
				cfg.fanout = append(cfg.fanout, fc)
			}
		}
		skipMain = true
	}
	for r := range cfg.rounds {
		if skipMain {
			break
		}
		for _, srv := range rotate(withBroker, r) {
			for _, n := range cfg.idle {
				if srv == redisServer || srv == twoNodesServer || srv == shardsServer {
					break
				}
				var res idleResult
				if err := run(bin, srv, cfg.pin, &res, "-scenario", "idle", "-conns", strconv.Itoa(n)); err != nil {
					log.Printf("loadtest: round %d, %s, idle %d: %v", r+1, srv, n, err)
					continue
				}
				rep.Idle = append(rep.Idle, idleRun{Server: srv, Round: r + 1, idleResult: res})
				log.Printf("round %d %-11s idle %6d: %.2f KiB heap+stack/conn", r+1, srv, n, res.HeapStackPerConn/1024)
			}
			for _, fc := range cfg.fanout {
				var rates []string
				for _, d := range ladder {
					rates = append(rates, strconv.Itoa(max(1, d/fc.Members)))
				}
				if *quick {
					rates = []string{"50", "100"}
				}
				var res fanoutResult
				if err := run(bin, srv, cfg.pin, &res, "-scenario", "fanout", "-conns", strconv.Itoa(fc.Members),
					"-size", strconv.Itoa(fc.Size), "-rates", strings.Join(rates, ","), "-step", cfg.step.String(),
					"-first-step", cfg.fixedStep.String()); err != nil {
					log.Printf("loadtest: round %d, %s, fanout %d×%dB: %v", r+1, srv, fc.Members, fc.Size, err)
					continue
				}
				rep.Fanout = append(rep.Fanout, fanoutRun{Server: srv, Round: r + 1, fanoutResult: res})
				log.Printf("round %d %-11s fanout %5d×%4dB: plateau %.0f deliveries/s", r+1, srv, fc.Members, fc.Size, res.PlateauPerSec)
			}
			for _, n := range cfg.rooms {
				var rates []string
				for _, d := range ladder {
					rates = append(rates, strconv.Itoa(max(1, int(float64(d)/roomsPerMessage))))
				}
				if *quick {
					rates = []string{"200", "400"}
				}
				var res fanoutResult
				if err := run(bin, srv, cfg.pin, &res, "-scenario", "rooms", "-conns", strconv.Itoa(n),
					"-size", "64", "-rates", strings.Join(rates, ","), "-step", cfg.step.String()); err != nil {
					log.Printf("loadtest: round %d, %s, rooms %d: %v", r+1, srv, n, err)
					continue
				}
				rep.Rooms = append(rep.Rooms, fanoutRun{Server: srv, Round: r + 1, fanoutResult: res})
				log.Printf("round %d %-11s rooms %6d: plateau %.0f deliveries/s", r+1, srv, n, res.PlateauPerSec)
			}
		}
		if cfg.fixedStep > 0 && slices.Contains(servers, "switchboard") {
			for _, fc := range cfg.fanout {
				var res fanoutResult
				if err := run(bin, floorServer, cfg.pin, &res, "-scenario", "fanout", "-conns", strconv.Itoa(fc.Members),
					"-size", strconv.Itoa(fc.Size), "-rates", strconv.Itoa(max(1, fixedLoad/fc.Members)),
					"-step", cfg.fixedStep.String()); err != nil {
					log.Printf("loadtest: round %d, %s, fixed load %d×%dB: %v", r+1, floorServer, fc.Members, fc.Size, err)
					continue
				}
				rep.FixedFloor = append(rep.FixedFloor, fanoutRun{Server: floorServer, Round: r + 1, fanoutResult: res})
				if len(res.Steps) > 0 {
					log.Printf("round %d %-11s fixed  %5d×%4dB: %.2f CPU-s per M deliveries", r+1, floorServer, fc.Members, fc.Size, res.Steps[0].ServerCPUPerM)
				}
			}
		}
	}
	// The results so far are saved after each scenario, so a run that
	// fails later keeps them.
	save := func() {
		if *jsonOut == "" {
			return
		}
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	save()
	// Scenario 4: latency at fixed shares of the weakest plateau.
	for _, fc := range cfg.fanout {
		weakest := rep.weakestPlateau(fc.Members, fc.Size)
		if weakest == 0 || len(shares) == 0 {
			continue // -loads "" leaves scenario 4 out
		}
		var rates []string
		for _, sh := range shares {
			// Whole messages a second: the offered deliveries are shown as
			// run (rate × members), which rounding may move off the share.
			rates = append(rates, strconv.Itoa(max(1, int(sh*weakest/float64(fc.Members)+0.5))))
		}
		for r := range cfg.rounds {
			for _, srv := range rotate(append(slices.Clone(withBroker), floorServer), r) {
				var res fanoutResult
				if err := run(bin, srv, cfg.pin, &res, "-scenario", "fanout", "-every-step", "-conns", strconv.Itoa(fc.Members),
					"-size", strconv.Itoa(fc.Size), "-rates", strings.Join(rates, ","), "-step", cfg.step.String()); err != nil {
					log.Printf("loadtest: round %d, %s, latency %d×%dB: %v", r+1, srv, fc.Members, fc.Size, err)
					continue
				}
				rep.Latency = append(rep.Latency, latencyRun{Server: srv, Round: r + 1, Shares: shares, Weakest: weakest, fanoutResult: res})
				log.Printf("round %d %-11s latency %5d×%4dB: p99 %.0f µs at the middle load", r+1, srv, fc.Members, fc.Size, res.Steps[min(1, len(res.Steps)-1)].P99)
			}
		}
	}
	save()
	// Scenario 6: 1% slow members at a fixed share of the weakest plateau.
	for _, fc := range cfg.slow {
		if skipMain {
			break
		}
		weakest := rep.weakestPlateau(fc.Members, fc.Size)
		if weakest == 0 {
			log.Printf("loadtest: -slow %d:%d has no fan-out plateau to take its load from (it must be a -fanout case)", fc.Members, fc.Size)
			continue
		}
		rate := strconv.Itoa(max(1, int(slowShare*weakest/float64(fc.Members)+0.5)))
		rates := slices.Repeat([]string{rate}, slowBaseline+slowSteps)
		for r := range cfg.rounds {
			for _, srv := range rotate(servers, r) {
				// The stalled run and its control, taking turns to go first.
				for i := range 2 {
					control := (i+r)%2 == 0
					from, what := strconv.Itoa(slowBaseline), "slow"
					if control {
						from, what = "-1", "slow control"
					}
					var res fanoutResult
					if err := run(bin, srv, cfg.pin, &res, "-scenario", "slow", "-slow-from", from, "-conns", strconv.Itoa(fc.Members),
						"-size", strconv.Itoa(fc.Size), "-rates", strings.Join(rates, ","), "-step", cfg.slowStep.String()); err != nil {
						log.Printf("loadtest: round %d, %s, %s %d×%dB: %v", r+1, srv, what, fc.Members, fc.Size, err)
						continue
					}
					x := latencyRun{Server: srv, Round: r + 1, Shares: []float64{slowShare}, Weakest: weakest, fanoutResult: res}
					if control {
						rep.SlowControl = append(rep.SlowControl, x)
					} else {
						rep.Slow = append(rep.Slow, x)
					}
					log.Printf("round %d %-11s %s %5d×%4dB: slow members closed %d, open %d", r+1, srv, what, fc.Members, fc.Size, res.SlowClosed, res.SlowOpen)
				}
			}
		}
	}
	save()
	writeReport(rep, *mdOut)
	if len(rep.Idle) == 0 && len(rep.Fanout) == 0 {
		log.Fatal("loadtest: no run succeeded")
	}
}

// writeReport writes the markdown report to path, or stdout when empty,
// and with a path its charts to the folder charts beside it.
func writeReport(rep *report, path string) {
	if path != "" {
		// The page names its results by where it lives in the repository
		// (docs/BENCHMARKS.md, or a page of one run under docs/).
		if abs, err := filepath.Abs(path); err == nil {
			if _, rel, ok := strings.Cut(filepath.ToSlash(abs), "/docs/"); ok {
				rep.docDir = "docs/" + strings.TrimSuffix(rel, filepath.Base(rel))
			}
		}
		pics, err := rep.writeCharts(filepath.Join(filepath.Dir(path), "charts"))
		if err != nil {
			log.Fatal(err)
		}
		rep.charts = pics
	}
	md := rep.markdown()
	if path == "" {
		fmt.Print(md)
		return
	}
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
}

// rotate is list started at its r'th element (mod its length): the order
// of round r.
func rotate(list []string, r int) []string {
	return append(slices.Clone(list[r%len(list):]), list[:r%len(list)]...)
}

// ints parses a comma-separated list of counts for flag name.
func ints(name, s string) []int {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			log.Fatalf("loadtest: %s: %v", name, err)
		}
		out = append(out, n)
	}
	return out
}

// cases parses a comma-separated list of MEMBERS:BYTES for flag name.
func cases(name, s string) []fanoutCase {
	var out []fanoutCase
	for _, f := range splitList(s) {
		var fc fanoutCase
		if _, err := fmt.Sscanf(f, "%d:%d", &fc.Members, &fc.Size); err != nil {
			log.Fatalf("loadtest: %s %q: %v", name, f, err)
		}
		out = append(out, fc)
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c config) describe() string {
	return fmt.Sprintf("%d rounds; idle %v; fan-out %v with steps of %v; rooms %v; slow %v with steps of %v; Redis %v; pinned %v",
		c.rounds, c.idle, c.fanout, c.step, c.rooms, c.slow, c.slowStep, c.redis, c.pin)
}

// run starts server srv, runs the client against it with args, decodes
// its JSON into res, and stops the server. For redisServer it first starts
// a redis-server of its own, on the server's core, and stops it after.
func run(bin, srv string, pin bool, res any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	name, srvArgs, nodes := srv, []string(nil), 1
	if srv == redisServer || srv == twoNodesServer || srv == shardsServer {
		shards := 1
		if srv == shardsServer {
			shards = 3
		}
		var urls, pids []string
		for range shards {
			rs, err := startRedis(ctx, pin)
			if err != nil {
				return err
			}
			defer rs.stop()
			urls, pids = append(urls, rs.url()), append(pids, strconv.Itoa(rs.cmd.Process.Pid))
		}
		name, srvArgs = "switchboard", []string{"-redis", strings.Join(urls, ","), "-redis-pid", strings.Join(pids, ",")}
		if srv == twoNodesServer {
			nodes = 2
		}
	}
	var urls []string
	for i := range nodes {
		addr, stop, err := startServer(ctx, pin, filepath.Join(bin, name), srvArgs)
		if err != nil {
			return err
		}
		defer stop()
		opt := "-url"
		if i > 0 {
			opt = "-url2"
		}
		urls = append(urls, opt, "ws://"+addr)
	}
	client := command(ctx, pin, "1", filepath.Join(bin, "loadclient"), append(urls, args...)...)
	client.Stderr = os.Stderr
	b, err := client.Output()
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return json.Unmarshal(b, res)
}

// startServer starts a server under test on CPU 0 and returns its address
// and how to stop it.
func startServer(ctx context.Context, pin bool, path string, args []string) (string, func(), error) {
	server := command(ctx, pin, "0", path, args...)
	server.Stderr = os.Stderr
	out, err := server.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := server.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		server.Process.Signal(os.Interrupt) //nolint:errcheck // it may be gone
		done := make(chan struct{})
		go func() { server.Wait(); close(done) }() //nolint:errcheck // its end is what done tells
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			server.Process.Kill() //nolint:errcheck
			<-done
		}
	}
	addr, err := readAddr(out)
	if err != nil {
		stop()
		return "", nil, err
	}
	go io.Copy(io.Discard, out) //nolint:errcheck // keep the pipe drained
	return addr, stop, nil
}

// command runs name pinned to cpu (when pin) with GOMAXPROCS=1.
func command(ctx context.Context, pin bool, cpu, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if pin {
		cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", cpu, name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return cmd
}

func readAddr(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "addr="); ok {
			return a, nil
		}
	}
	return "", fmt.Errorf("the server printed no addr= line: %v", sc.Err())
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s %s/%s", cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// shellArgs joins args as a shell would need them typed: an empty one or
// one with a space or quote is quoted.
func shellArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
