package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/switchboard-go/switchboard/internal/loadtest/chart"
)

// picture is one chart of the report: its file name under charts/ and
// what it shows.
type picture struct {
	file, caption string
	c             *chart.Chart
}

// bar turns a spread into a chart bar.
func bar(s spread, ok bool, scale float64) chart.Bar {
	return chart.Bar{Value: s.med / scale, Lo: s.lo / scale, Hi: s.hi / scale, OK: ok}
}

// logBar is bar for a log axis, which cannot show 0: a spread down to 0
// is left out.
func logBar(s spread, ok bool) chart.Bar { return bar(s, ok && s.lo > 0, 1) }

// pictures are the report's charts, built from its results; a scenario
// that did not run has none.
func (r *report) pictures() []picture {
	var out []picture
	all := append(slices.Clone(servers), redisServer, twoNodesServer, shardsServer)
	if len(r.Idle) > 0 {
		counts := distinct(r.Idle, func(x idleRun) int { return x.Conns })
		c := &chart.Chart{Title: "1. Idle heap+stack per connection (lower is better)", YLabel: "KiB per connection", Series: servers}
		for _, n := range counts {
			g := chart.Group{Label: fmt.Sprintf("%d connections", n)}
			for _, srv := range servers {
				var v []float64
				for _, x := range r.Idle {
					if x.Conns == n && x.Server == srv {
						v = append(v, x.HeapStackPerConn)
					}
				}
				s, ok := spreadOf(v)
				g.Bars = append(g.Bars, bar(s, ok, 1024))
			}
			c.Groups = append(c.Groups, g)
		}
		out = append(out, picture{"idle.png", "idle heap+stack per connection", c})
	}
	keys := fanoutKeys(r.Fanout)
	if len(keys) > 0 {
		fan := &chart.Chart{Title: "3. Fan-out plateau, one room (higher is better)", YLabel: "deliveries/s (log)", Series: all, Log: true}
		cpu := &chart.Chart{Title: "3. Server CPU per million deliveries (lower is better)", YLabel: "CPU seconds (log)", Series: all, Log: true}
		for _, k := range keys {
			label := fmt.Sprintf("%d × %d B", k.m, k.s)
			gf, gc := chart.Group{Label: label}, chart.Group{Label: label}
			for _, srv := range all {
				gf.Bars = append(gf.Bars, logBar(fanoutField(r.Fanout, srv, k.m, k.s, plateauOf)))
				gc.Bars = append(gc.Bars, logBar(fanoutField(r.Fanout, srv, k.m, k.s, cpuOf)))
			}
			fan.Groups, cpu.Groups = append(fan.Groups, gf), append(cpu.Groups, gc)
		}
		out = append(out, picture{"fanout.png", "fan-out plateau", fan}, picture{"cpu.png", "server CPU per million deliveries", cpu})
	}
	if len(r.Latency) > 0 {
		withFloor := append(slices.Clone(all), floorServer)
		c := &chart.Chart{Title: "4. p99 to the first member at 50% of the weakest plateau (lower is better)", YLabel: "µs (log)", Series: withFloor, Log: true}
		for _, k := range keys {
			g := chart.Group{Label: fmt.Sprintf("%d × %d B", k.m, k.s)}
			for _, srv := range withFloor {
				var v []float64
				for _, x := range r.Latency {
					if x.Server == srv && x.Members == k.m && x.Size == k.s {
						if i := slices.Index(x.Shares, 0.5); i >= 0 && i < len(x.Steps) {
							v = append(v, x.Steps[i].FirstP99)
						}
					}
				}
				g.Bars = append(g.Bars, logBar(spreadOf(v)))
			}
			c.Groups = append(c.Groups, g)
		}
		out = append(out, picture{"latency.png", "p99 to the first member at 50% load", c})
	}
	if len(r.Rooms) > 0 {
		counts := distinct(r.Rooms, members)
		c := &chart.Chart{Title: "5. Many rooms: plateau (higher is better)", YLabel: "deliveries/s", Series: all}
		for _, n := range counts {
			g := chart.Group{Label: fmt.Sprintf("%d clients", n)}
			for _, srv := range all {
				s, ok := fanoutField(r.Rooms, srv, n, -1, plateauOf)
				g.Bars = append(g.Bars, bar(s, ok, 1))
			}
			c.Groups = append(c.Groups, g)
		}
		out = append(out, picture{"rooms.png", "many rooms", c})
	}
	if len(r.Slow) > 0 {
		// The first case only: one chart of each.
		k := caseKey{r.Slow[0].Members, r.Slow[0].Size}
		lat := &chart.Chart{Title: fmt.Sprintf("6. Others' p99 before and after 1%% stop reading, and without a stall, %d × %d B (lower is better)", k.m, k.s),
			YLabel: "µs", Series: []string{"before", "after", "control, same steps"}}
		mem := &chart.Chart{Title: fmt.Sprintf("6. Server heap+stack with 1%% slow members, %d × %d B", k.m, k.s),
			YLabel: "MiB", Series: []string{"before", "peak after", "end"}}
		for _, srv := range servers {
			sums := r.slowSummaries(srv, k)
			f := func(g func(slowSummary) float64, scale float64) chart.Bar {
				v := make([]float64, len(sums))
				for i, s := range sums {
					v[i] = g(s)
				}
				s, ok := spreadOf(v)
				return bar(s, ok, scale)
			}
			var ctrl []float64
			for _, s := range sums {
				if s.ctrlP99 > 0 {
					ctrl = append(ctrl, s.ctrlP99)
				}
			}
			c, ok := spreadOf(ctrl)
			lat.Groups = append(lat.Groups, chart.Group{Label: srv, Bars: []chart.Bar{
				f(func(s slowSummary) float64 { return s.baseP99 }, 1), f(func(s slowSummary) float64 { return s.slowP99 }, 1), bar(c, ok, 1)}})
			mem.Groups = append(mem.Groups, chart.Group{Label: srv, Bars: []chart.Bar{
				f(func(s slowSummary) float64 { return s.memBase }, 1<<20), f(func(s slowSummary) float64 { return s.memPeak }, 1<<20),
				f(func(s slowSummary) float64 { return s.memEnd }, 1<<20)}})
		}
		out = append(out, picture{"slow-latency.png", "others' p99 with 1% slow members", lat}, picture{"slow-memory.png", "server memory with 1% slow members", mem})
	}
	return out
}

// writeCharts draws the report's pictures into dir as PNG files and
// returns their names.
func (r *report) writeCharts(dir string) ([]picture, error) {
	pics := r.pictures()
	if len(pics) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, pic := range pics {
		var buf bytes.Buffer
		if err := pic.c.WritePNG(&buf); err != nil {
			return nil, fmt.Errorf("loadtest: %s: %w", pic.file, err)
		}
		if err := os.WriteFile(filepath.Join(dir, pic.file), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	return pics, nil
}

// chartsMarkdown links the pictures drawn for this report, if any.
func (r *report) chartsMarkdown(b *strings.Builder) {
	if len(r.charts) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Charts\n\nMedians over rounds, whiskers from the min to the max.\n\n")
	for _, pic := range r.charts {
		fmt.Fprintf(b, "![%s](charts/%s)\n\n", pic.caption, pic.file)
	}
}
