package chart_test

import (
	"fmt"
	"io"

	"github.com/switchboard-go/switchboard/internal/loadtest/chart"
)

func Example() {
	c := &chart.Chart{
		Title:  "Fan-out, 1000 members",
		YLabel: "deliveries/s",
		Series: []string{"Switchboard", "melody", "gorilla hub"},
		Groups: []chart.Group{
			{Label: "1000 × 64 B", Bars: []chart.Bar{
				{Value: 410e3, Lo: 380e3, Hi: 425e3, OK: true},
				{Value: 190e3, Lo: 150e3, Hi: 230e3, OK: true},
				{Value: 350e3, Lo: 340e3, Hi: 352e3, OK: true},
			}},
			{Label: "1000 × 4 KiB", Bars: []chart.Bar{
				{Value: 120e3, Lo: 118e3, Hi: 131e3, OK: true},
				{}, // melody: no figure
				{Value: 101e3, Lo: 90e3, Hi: 104e3, OK: true},
			}},
		},
	}
	// A real caller writes to a file, such as docs/fanout.png.
	fmt.Println(c.WritePNG(io.Discard))

	c.Groups[0].Bars = c.Groups[0].Bars[:2]
	fmt.Println(c.WritePNG(io.Discard))
	// Output:
	// <nil>
	// chart: group 0 ("1000 × 64 B") has 2 bars for 3 series
}
