package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
)

// sample is a chart like the load tool's: three servers, four loads, one
// missing figure.
func sample() *Chart {
	return &Chart{
		Title:  "Fan-out: deliveries per second (median of 5 rounds, whiskers min–max)",
		YLabel: "deliveries/s",
		Series: []string{"Switchboard", "melody", "gorilla hub"},
		Groups: []Group{
			{Label: "100 × 64 B", Bars: []Bar{{98e3, 95e3, 101e3, true}, {61e3, 52e3, 66e3, true}, {88e3, 87e3, 90e3, true}}},
			{Label: "1000 × 64 B", Bars: []Bar{{410e3, 380e3, 425e3, true}, {190e3, 150e3, 230e3, true}, {350e3, 340e3, 352e3, true}}},
			{Label: "1000 × 4 KiB", Bars: []Bar{{120e3, 118e3, 131e3, true}, {}, {101e3, 90e3, 104e3, true}}},
			{Label: "10000 × 64 B", Bars: []Bar{{620e3, 610e3, 640e3, true}, {240e3, 200e3, 300e3, true}, {500e3, 480e3, 505e3, true}}},
		},
	}
}

// decode writes c as PNG and reads it back.
func decode(t *testing.T, c *Chart) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WritePNG(&buf); err != nil {
		t.Fatalf("WritePNG: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	return img
}

// rgba is img's colour at (x, y).
func rgba(img image.Image, x, y int) color.RGBA {
	return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
}

// columnCount is how many pixels of column x have colour col.
func columnCount(img image.Image, x int, col color.RGBA) int {
	return columnCountIn(img, x, img.Bounds().Min.Y, img.Bounds().Max.Y, col)
}

// columnCountIn is how many pixels of column x, from y0 to y1 (exclusive),
// have colour col.
func columnCountIn(img image.Image, x, y0, y1 int, col color.RGBA) int {
	n := 0
	for y := y0; y < y1; y++ {
		if rgba(img, x, y) == col {
			n++
		}
	}
	return n
}

// layoutOf is where render puts c's bars.
func layoutOf(t *testing.T, c *Chart) *layout {
	t.Helper()
	_, lay, err := c.render()
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return lay
}

// oneSeries is a chart of one series whose groups have values vs, no
// whiskers.
func oneSeries(log bool, vs ...float64) *Chart {
	c := &Chart{Title: "t", YLabel: "u", Series: []string{"s"}, Log: log}
	for i, v := range vs {
		c.Groups = append(c.Groups, Group{Label: fmt.Sprint(i), Bars: []Bar{{v, v, v, true}}})
	}
	return c
}

func TestWritePNGSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		w, h       int
		wantW, wat int
	}{
		{"default", 0, 0, 900, 500},
		{"custom", 640, 360, 640, 360},
		{"width only", 1200, 0, 1200, 500},
		{"small", 160, 90, 160, 90},
		{"tiny", 1, 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := sample()
			c.Width, c.Height = tc.w, tc.h
			img := decode(t, c)
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wat {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.wantW, tc.wat)
			}
			if got := rgba(img, 0, 0); got != white {
				t.Errorf("corner %v, want white", got)
			}
		})
	}
}

func TestBarColours(t *testing.T) {
	t.Parallel()
	for _, log := range []bool{false, true} {
		t.Run(fmt.Sprintf("log=%v", log), func(t *testing.T) {
			t.Parallel()
			c := sample()
			c.Log = log
			c.Series = append(c.Series, "four", "five", "six", "seven") // seven cycles back to the first colour
			for i := range c.Groups {
				for range 4 {
					c.Groups[i].Bars = append(c.Groups[i].Bars, Bar{50e3, 50e3, 50e3, true})
				}
			}
			img := decode(t, c)
			lay := layoutOf(t, c)
			for gi, g := range c.Groups {
				for si, b := range g.Bars {
					r := lay.bars[gi][si]
					if !b.OK {
						if !r.Empty() {
							t.Errorf("group %d series %d: not OK but drawn at %v", gi, si, r)
						}
						continue
					}
					if r.Dy() < 20 {
						t.Fatalf("group %d series %d: bar %v too short to sample", gi, si, r)
					}
					// Left of the whisker, below the lowest round.
					x, y := r.Min.X+(r.Dx()/4), r.Max.Y-r.Dy()/4
					if got, want := rgba(img, x, y), seriesColour(si); got != want {
						t.Errorf("group %d series %d: pixel (%d,%d) is %v, want %v", gi, si, x, y, got, want)
					}
				}
			}
			if seriesColour(6) != seriesColour(0) {
				t.Errorf("the seventh series should reuse the first colour")
			}
		})
	}
}

func TestPaletteDistinct(t *testing.T) {
	t.Parallel()
	seen := map[color.RGBA]bool{white: true, whiskerColor: true, gridColour: true, axisColour: true}
	for _, p := range palette {
		if seen[p] {
			t.Errorf("colour %v used twice", p)
		}
		seen[p] = true
	}
	if n := len(palette); n < 3 || n > 6 {
		t.Errorf("%d colours, want 3 to 6", n)
	}
}

func TestTallerBar(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		log    bool
		values []float64
	}{
		{"linear", false, []float64{10, 20, 40, 80}},
		{"linear fractions", false, []float64{0.1, 0.15, 0.3, 0.31}},
		{"log", true, []float64{1, 30, 500, 9000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := oneSeries(tc.log, tc.values...)
			img := decode(t, c)
			lay := layoutOf(t, c)
			col := seriesColour(0)
			prev := -1
			var heights []int
			for gi := range c.Groups {
				r := lay.bars[gi][0]
				h := columnCount(img, (r.Min.X+r.Max.X)/2, col)
				if h <= prev {
					t.Errorf("group %d: %v is %d pixels tall, not taller than the last (%d)", gi, tc.values[gi], h, prev)
				}
				prev = h
				heights = append(heights, h)
			}
			if !tc.log {
				// Heights are proportional to the values.
				for i, h := range heights {
					want := float64(heights[len(heights)-1]) * tc.values[i] / tc.values[len(heights)-1]
					if math.Abs(float64(h)-want) > 2 {
						t.Errorf("group %d: %d pixels, want about %.1f", i, h, want)
					}
				}
				if top := tc.values[len(tc.values)-1]; lay.scale.hi < top {
					t.Errorf("axis tops at %v, under the largest value %v", lay.scale.hi, top)
				}
			}
		})
	}
}

func TestLogFiveDecades(t *testing.T) {
	t.Parallel()
	values := []float64{3, 30, 300, 3e3, 3e4, 3e5}
	c := oneSeries(true, values...)
	c.Groups[2].Bars[0].Lo, c.Groups[2].Bars[0].Hi = 100, 900
	img := decode(t, c)
	lay := layoutOf(t, c)
	var heights []int
	for gi := range c.Groups {
		r := lay.bars[gi][0]
		heights = append(heights, columnCount(img, r.Min.X+1, seriesColour(0)))
	}
	// Each tenfold is the same number of pixels taller.
	step := float64(heights[len(heights)-1]-heights[0]) / float64(len(heights)-1)
	if step < 20 {
		t.Fatalf("heights %v: a decade is only %.1f pixels", heights, step)
	}
	for i, h := range heights {
		if want := float64(heights[0]) + step*float64(i); math.Abs(float64(h)-want) > 2 {
			t.Errorf("heights %v: group %d is %d pixels, want about %.1f", heights, i, h, want)
		}
	}
	for _, tk := range lay.scale.ticks {
		if e := math.Log10(tk); math.Abs(e-math.Round(e)) > 1e-9 {
			t.Errorf("tick %v is not a power of ten", tk)
		}
	}
	if lo, hi := lay.scale.ticks[0], lay.scale.ticks[len(lay.scale.ticks)-1]; lo > 3 || hi < 3e5 {
		t.Errorf("ticks %v do not cover 3 to 3e5", lay.scale.ticks)
	}
}

func TestWhisker(t *testing.T) {
	t.Parallel()
	c := oneSeries(false, 50, 100)
	c.Groups[0].Bars[0] = Bar{Value: 50, Lo: 40, Hi: 70, OK: true}
	img := decode(t, c)
	lay := layoutOf(t, c)
	r := lay.bars[0][0]
	x := (r.Min.X + r.Max.X - 1) / 2
	ph := float64(lay.plot.Dy())
	yHi := lay.plot.Max.Y - int(math.Round(lay.scale.pos(70)*ph))
	yLo := lay.plot.Max.Y - int(math.Round(lay.scale.pos(40)*ph))
	for _, p := range []image.Point{{x, yHi}, {x, yHi + 1}, {x, (yHi + yLo) / 2}, {x, yLo}, {x - 2, yHi}, {x + 2, yLo}} {
		if got := rgba(img, p.X, p.Y); got != whiskerColor {
			t.Errorf("whisker pixel %v is %v, want %v", p, got, whiskerColor)
		}
	}
	// The second bar has Lo == Hi: no whisker down its middle.
	r2 := lay.bars[1][0]
	if n := columnCount(img, (r2.Min.X+r2.Max.X-1)/2, whiskerColor); n != 0 {
		t.Errorf("bar without spread has %d whisker pixels", n)
	}
}

func TestNotOK(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		log  bool
		bar  Bar
	}{
		{"zero", false, Bar{}},
		{"zero log", true, Bar{}},
		{"garbage ignored", false, Bar{Value: math.NaN(), Lo: -1, Hi: math.Inf(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Chart{
				Series: []string{"a", "b"},
				Log:    tc.log,
				Groups: []Group{
					{Label: "both", Bars: []Bar{{10, 9, 11, true}, {20, 18, 22, true}}},
					{Label: "only a", Bars: []Bar{{15, 14, 16, true}, tc.bar}},
				},
			}
			img := decode(t, c)
			lay := layoutOf(t, c)
			if !lay.bars[1][1].Empty() {
				t.Errorf("missing bar drawn at %v", lay.bars[1][1])
			}
			// Nothing of b's colour in the right half of the plot.
			b := seriesColour(1)
			mid := (lay.plot.Min.X + lay.plot.Max.X) / 2
			for x := mid; x < lay.plot.Max.X; x++ {
				if n := columnCountIn(img, x, lay.plot.Min.Y, lay.plot.Max.Y, b); n > 0 {
					t.Fatalf("column %d has %d pixels of the missing series' colour", x, n)
				}
			}
			if lay.bars[1][0].Empty() || lay.bars[0][1].Empty() {
				t.Errorf("OK bars not drawn")
			}
		})
	}
	t.Run("all missing", func(t *testing.T) {
		t.Parallel()
		c := &Chart{Series: []string{"a"}, Groups: []Group{{Label: "x", Bars: []Bar{{}}}}}
		decode(t, c)
	})
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	ok := Bar{1, 1, 1, true}
	one := func(b Bar) []Group { return []Group{{Label: "g", Bars: []Bar{b}}} }
	for _, tc := range []struct {
		name string
		c    *Chart
		want string // in the message
	}{
		{"nil chart", nil, "nil"},
		{"no series", &Chart{Groups: one(ok)}, "no series"},
		{"no groups", &Chart{Series: []string{"a"}}, "no groups"},
		{"empty groups", &Chart{Series: []string{"a"}, Groups: []Group{}}, "no groups"},
		{"too few bars", &Chart{Series: []string{"a", "b"}, Groups: one(ok)}, "1 bars for 2 series"},
		{"too many bars", &Chart{Series: []string{"a"}, Groups: []Group{{Bars: []Bar{ok, ok}}}}, "2 bars for 1 series"},
		{"no bars", &Chart{Series: []string{"a"}, Groups: []Group{{Label: "g"}}}, "0 bars"},
		{"NaN value", &Chart{Series: []string{"a"}, Groups: one(Bar{math.NaN(), 1, 1, true})}, "NaN"},
		{"NaN lo", &Chart{Series: []string{"a"}, Groups: one(Bar{1, math.NaN(), 1, true})}, "NaN"},
		{"+Inf value", &Chart{Series: []string{"a"}, Groups: one(Bar{math.Inf(1), 1, 1, true})}, "Inf"},
		{"+Inf hi", &Chart{Series: []string{"a"}, Groups: one(Bar{1, 1, math.Inf(1), true})}, "Inf"},
		{"-Inf lo", &Chart{Series: []string{"a"}, Groups: one(Bar{1, math.Inf(-1), 1, true})}, "Inf"},
		{"negative value", &Chart{Series: []string{"a"}, Groups: one(Bar{-1, 0, 0, true})}, "negative"},
		{"negative lo", &Chart{Series: []string{"a"}, Groups: one(Bar{1, -0.5, 1, true})}, "negative"},
		{"negative hi", &Chart{Series: []string{"a"}, Groups: one(Bar{1, 1, -2, true})}, "negative"},
		{"log zero value", &Chart{Log: true, Series: []string{"a"}, Groups: one(Bar{0, 1, 1, true})}, "positive"},
		{"log zero lo", &Chart{Log: true, Series: []string{"a"}, Groups: one(Bar{1, 0, 1, true})}, "positive"},
		{"log zero hi", &Chart{Log: true, Series: []string{"a"}, Groups: one(Bar{1, 1, 0, true})}, "positive"},
		{"log negative", &Chart{Log: true, Series: []string{"a"}, Groups: one(Bar{-1, 1, 1, true})}, "negative"},
		{"negative width", &Chart{Width: -1, Series: []string{"a"}, Groups: one(ok)}, "negative size"},
		{"huge", &Chart{Width: 1 << 20, Height: 1 << 20, Series: []string{"a"}, Groups: one(ok)}, "pixels a side"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic: %v", p)
				}
			}()
			var buf bytes.Buffer
			err := tc.c.WritePNG(&buf)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "chart: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one starting \"chart: \" and mentioning %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written despite the error", buf.Len())
			}
		})
	}
	t.Run("nil writer", func(t *testing.T) {
		t.Parallel()
		if err := sample().WritePNG(nil); err == nil || !strings.HasPrefix(err.Error(), "chart: ") {
			t.Errorf("error %v, want one starting \"chart: \"", err)
		}
	})
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	t.Parallel()
	err := sample().WritePNG(failWriter{})
	if err == nil || !strings.HasPrefix(err.Error(), "chart: ") || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %v, want the writer's, prefixed \"chart: \"", err)
	}
}

func TestTextStaysInside(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a very long label ", 20)
	for _, tc := range []struct {
		name string
		w, h int
	}{{"default", 0, 0}, {"narrow", 200, 300}, {"wide", 1600, 400}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Chart{
				Title: long, YLabel: long, Series: []string{long, "b\nc", long},
				Width: tc.w, Height: tc.h,
				Groups: []Group{
					{Label: long, Bars: []Bar{{1e6, 9e5, 2e6, true}, {3, 3, 3, true}, {}}},
					{Label: "short", Bars: []Bar{{1, 1, 1, true}, {2, 1, 3, true}, {5, 4, 6, true}}},
				},
			}
			img := decode(t, c)
			b := img.Bounds()
			// The outer five pixels each side are blank.
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for _, x := range []int{0, 4, b.Max.X - 5, b.Max.X - 1} {
					if got := rgba(img, x, y); got != white {
						t.Fatalf("pixel (%d,%d) is %v: text ran off the picture", x, y, got)
					}
				}
			}
		})
	}
}

func TestFit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		w    int
		want string
	}{
		{"hello", 35, "hello"},
		{"hello", 34, "hel…"},
		{"hello world", 49, "hello…"}, // the space before "…" goes
		{"1000 × 64 B", 77, "1000 × 64 B"},
		{"1000 × 64 B", 76, "1000 × 64…"}, {"1000 × 64 B", 69, "1000 × 6…"},
		{"abc", 7, "…"},
		{"abc", 6, ""},
		{"abc", -5, ""},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.s, tc.w), func(t *testing.T) {
			t.Parallel()
			got := fit(tc.s, tc.w)
			if got != tc.want {
				t.Errorf("fit(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.want)
			}
			if textWidth(got) > max(tc.w, 0) {
				t.Errorf("fit(%q, %d) = %q is %d pixels wide", tc.s, tc.w, got, textWidth(got))
			}
		})
	}
}

func TestFaceHasExtraGlyphs(t *testing.T) {
	t.Parallel()
	for _, r := range "×…–µ" {
		if _, ok := face.GlyphAdvance(r); !ok {
			t.Errorf("face lacks %q", r)
		}
	}
	if _, ok := face.GlyphAdvance('A'); !ok {
		t.Errorf("face lost ASCII")
	}
}

func TestFormatTick(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.5, "0.5"}, {0.25, "0.25"}, {0.30000000000000004, "0.3"}, {12, "12"}, {250, "250"},
		{1000, "1k"}, {1200, "1.2k"}, {1250, "1.25k"}, {3.4e6, "3.4M"}, {2.5e9, "2.5G"}, {7e12, "7T"},
		{0.001, "0.001"}, {1e-5, "1e-5"}, {1e20, "1e20"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if got := formatTick(tc.v); got != tc.want {
				t.Errorf("formatTick(%v) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}

func TestLinearScale(t *testing.T) {
	t.Parallel()
	tops := []float64{0, 1e-300, 0.003, 0.7, 1, 1.01, 3, 7.5, 9.99, 10, 12, 99, 101, 640e3, 1.7e6, 123456789, 1e300, math.MaxFloat64}
	for x := 0.013; x < 1e7; x *= 1.37 {
		tops = append(tops, x)
	}
	for _, top := range tops {
		t.Run(fmt.Sprint(top), func(t *testing.T) {
			t.Parallel()
			s := linearScale(top)
			if n := len(s.ticks); n < 3 || n > 6 {
				t.Fatalf("%d ticks %v", n, s.ticks)
			}
			if s.ticks[0] != 0 || s.lo != 0 {
				t.Errorf("axis starts at %v, ticks %v", s.lo, s.ticks)
			}
			if s.hi < top || math.IsInf(s.hi, 0) {
				t.Errorf("axis tops at %v, under %v", s.hi, top)
			}
			if last := s.ticks[len(s.ticks)-1]; math.Abs(last-s.hi) > 1e-9*s.hi {
				t.Errorf("last tick %v is not the top %v", last, s.hi)
			}
			if top > 1e-300 && top < 1e300 && (len(s.ticks) < 4) {
				t.Errorf("%d ticks %v, want 4 to 6", len(s.ticks), s.ticks)
			}
			labels := map[string]bool{}
			for _, tk := range s.ticks {
				l := formatTick(tk)
				if labels[l] {
					t.Errorf("label %q twice in %v", l, s.ticks)
				}
				labels[l] = true
			}
		})
	}
}

func TestLogScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ lo, hi float64 }{
		{1, 1}, {3, 7}, {1, 10}, {0.5, 40}, {3, 3e5}, {1e-3, 1e9}, {5e-324, math.MaxFloat64},
	} {
		t.Run(fmt.Sprintf("%v-%v", tc.lo, tc.hi), func(t *testing.T) {
			t.Parallel()
			s := logScale(tc.lo, tc.hi)
			if n := len(s.ticks); n < 2 || n > 7 {
				t.Errorf("%d ticks %v", n, s.ticks)
			}
			if s.pos(tc.lo) <= 0 && tc.lo > 1e-300 {
				t.Errorf("the smallest figure %v sits on the axis floor", tc.lo)
			}
			if p := s.pos(tc.hi); p > 1 || math.IsNaN(p) {
				t.Errorf("pos(%v) = %v", tc.hi, p)
			}
		})
	}
}

// TestNoPanic draws awkward charts: they need not look good, only not crash.
func TestNoPanic(t *testing.T) {
	t.Parallel()
	many := &Chart{Series: []string{"a", "b", "c"}}
	for i := range 2000 {
		many.Groups = append(many.Groups, Group{Label: fmt.Sprint(i), Bars: []Bar{{float64(i), 0, float64(2 * i), true}, {}, {1, 1, 1, true}}})
	}
	for _, tc := range []struct {
		name string
		c    *Chart
	}{
		{"many groups", many},
		{"one pixel high", &Chart{Height: 1, Width: 300, Series: []string{"a"}, Groups: []Group{{Bars: []Bar{{1, 0, 2, true}}}}}},
		{"zeros", &Chart{Series: []string{"a"}, Groups: []Group{{Bars: []Bar{{0, 0, 0, true}}}}}},
		{"extremes", &Chart{Series: []string{"a", "b"}, Groups: []Group{{Bars: []Bar{{math.MaxFloat64, 0, math.MaxFloat64, true}, {5e-324, 5e-324, 5e-324, true}}}}}},
		{"log extremes", &Chart{Log: true, Series: []string{"a", "b"}, Groups: []Group{{Bars: []Bar{{math.MaxFloat64, 1, math.MaxFloat64, true}, {5e-324, 5e-324, 5e-324, true}}}}}},
		{"lo above hi", &Chart{Series: []string{"a"}, Groups: []Group{{Bars: []Bar{{5, 9, 2, true}}}}}},
		{"bad utf-8", &Chart{Title: "\xff\xfe", Series: []string{"\x00"}, Groups: []Group{{Label: "\xc3", Bars: []Bar{{1, 1, 1, true}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic: %v", p)
				}
			}()
			decode(t, tc.c)
		})
	}
}
