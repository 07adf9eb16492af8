package chart

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Bar is one series' value in a group: a median with the min and max over rounds.
type Bar struct {
	Value, Lo, Hi float64
	OK            bool // false: no figure for this series in this group; the slot stays empty
}

// Group is one cluster of bars on the x axis, such as "1000 × 64 B".
type Group struct {
	Label string
	Bars  []Bar // one per Chart.Series, in that order
}

// Chart is a grouped bar chart.
type Chart struct {
	Title         string
	YLabel        string   // the unit, e.g. "deliveries/s"
	Series        []string // legend names, one colour each
	Groups        []Group
	Log           bool // a log10 y axis (for figures that differ by orders of magnitude)
	Width, Height int  // pixels; Defaults to 900 × 500 when zero
}

const (
	defaultWidth  = 900
	defaultHeight = 500
	maxSide       = 10000 // pixels a side, so that a typo cannot ask for gigabytes

	pad        = 10 // blank margin round the picture
	lineH      = 13 // the face's height
	ascent     = 11 // the face's ascent
	legendBox  = 10 // side of a legend's coloured square
	legendGap  = 18 // between legend entries
	maxBarW    = 70 // widest bar, so that a few groups do not make slabs
	groupShare = 0.8
)

var (
	white        = color.RGBA{0xff, 0xff, 0xff, 0xff}
	textColour   = color.RGBA{0x22, 0x22, 0x22, 0xff}
	tickColour   = color.RGBA{0x55, 0x55, 0x55, 0xff}
	axisColour   = color.RGBA{0x66, 0x66, 0x66, 0xff}
	gridColour   = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	whiskerColor = color.RGBA{0x20, 0x20, 0x20, 0xff}
)

// palette is Tableau 10's first six colours; series beyond six cycle.
var palette = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, // blue
	{0xf2, 0x8e, 0x2b, 0xff}, // orange
	{0x59, 0xa1, 0x4f, 0xff}, // green
	{0xe1, 0x57, 0x59, 0xff}, // red
	{0x76, 0xb7, 0xb2, 0xff}, // teal
	{0xb0, 0x7a, 0xa1, 0xff}, // purple
}

// seriesColour is series i's colour.
func seriesColour(i int) color.RGBA { return palette[i%len(palette)] }

// WritePNG draws c and writes it to w as PNG. It returns an error (message starting "chart: ") when c has no series or no groups, a group's Bars length differs from len(Series), a value is NaN or infinite, a value is negative, or (with Log) an OK value or Lo is <= 0; never panics.
//
// Bars that are not OK are not checked: their values are ignored. A
// negative Width or Height, a side over 10000 pixels, a nil c and a nil w
// are errors too, and with Log so is an OK Hi <= 0. Nothing is written to w
// when c is invalid.
func (c *Chart) WritePNG(w io.Writer) error {
	if w == nil {
		return errors.New("chart: nil writer")
	}
	img, _, err := c.render()
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// size is c's size in pixels, with the defaults for zeros.
func (c *Chart) size() (w, h int) {
	w, h = c.Width, c.Height
	if w == 0 {
		w = defaultWidth
	}
	if h == 0 {
		h = defaultHeight
	}
	return w, h
}

// validate returns the first reason c cannot be drawn, or nil.
func (c *Chart) validate() error {
	if c == nil {
		return errors.New("chart: nil chart")
	}
	if len(c.Series) == 0 {
		return errors.New("chart: no series")
	}
	if len(c.Groups) == 0 {
		return errors.New("chart: no groups")
	}
	if c.Width < 0 || c.Height < 0 {
		return fmt.Errorf("chart: negative size %d×%d", c.Width, c.Height)
	}
	if w, h := c.size(); w > maxSide || h > maxSide {
		return fmt.Errorf("chart: size %d×%d is over %d pixels a side", w, h, maxSide)
	}
	for gi, g := range c.Groups {
		if len(g.Bars) != len(c.Series) {
			return fmt.Errorf("chart: group %d (%q) has %d bars for %d series", gi, g.Label, len(g.Bars), len(c.Series))
		}
		for si, b := range g.Bars {
			if !b.OK {
				continue
			}
			where := fmt.Sprintf("group %d (%q), series %q", gi, g.Label, c.Series[si])
			for _, f := range []struct {
				name string
				v    float64
			}{{"value", b.Value}, {"lo", b.Lo}, {"hi", b.Hi}} {
				switch {
				case math.IsNaN(f.v) || math.IsInf(f.v, 0):
					return fmt.Errorf("chart: %s: %s is %v", where, f.name, f.v)
				case f.v < 0:
					return fmt.Errorf("chart: %s: %s %v is negative", where, f.name, f.v)
				case c.Log && f.v <= 0:
					return fmt.Errorf("chart: %s: %s %v is not positive, as a log axis needs", where, f.name, f.v)
				}
			}
		}
	}
	return nil
}

// layout records where render put things, for the tests.
type layout struct {
	plot  image.Rectangle     // the plotting area; its bottom is the axis' zero (or lowest decade)
	bars  [][]image.Rectangle // [group][series]; empty for bars not OK
	scale scale
}

// render validates and draws c.
func (c *Chart) render() (*image.RGBA, *layout, error) {
	if err := c.validate(); err != nil {
		return nil, nil, err
	}
	W, H := c.size()
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fill(img, img.Bounds(), white)

	lo, hi := c.extent()
	var sc scale
	if c.Log {
		sc = logScale(lo, hi)
	} else {
		sc = linearScale(hi)
	}
	labels := make([]string, len(sc.ticks))
	tickW := 0
	for i, t := range sc.ticks {
		labels[i] = formatTick(t)
		tickW = max(tickW, textWidth(labels[i]))
	}

	// Title, then legend rows, then the unit, then the plot.
	y := pad
	if title := clean(c.Title); title != "" {
		title = fit(title, W-2*pad)
		drawText(img, title, (W-textWidth(title))/2, y+ascent, textColour)
		y += lineH + 8
	}
	y = c.drawLegend(img, y, W)
	if unit := clean(c.YLabel); unit != "" {
		unit = fit(unit, W-2*pad)
		drawText(img, unit, pad, y+ascent, tickColour)
		y += lineH + 4
	}
	y += 7 // half a tick label above the top tick

	plot := image.Rect(pad+tickW+8, y, W-pad-8, H-pad-lineH-6)
	lay := &layout{plot: plot, bars: make([][]image.Rectangle, len(c.Groups)), scale: sc}
	for gi := range lay.bars {
		lay.bars[gi] = make([]image.Rectangle, len(c.Series))
	}
	if plot.Dx() < 4 || plot.Dy() < 4 {
		return img, lay, nil // too small for a plot; the text is all there is
	}
	ph := float64(plot.Dy())
	ypix := func(v float64) int { return plot.Max.Y - int(math.Round(sc.pos(v)*ph)) }

	// Grid lines and tick labels.
	for i, t := range sc.ticks {
		ty := ypix(t)
		hline(img, plot.Min.X, plot.Max.X, ty, gridColour)
		hline(img, plot.Min.X-4, plot.Min.X, ty, axisColour)
		drawText(img, labels[i], plot.Min.X-6-textWidth(labels[i]), ty+4, tickColour)
	}

	// Bars, whiskers and group labels.
	slot := float64(plot.Dx()) / float64(len(c.Groups))
	barW := math.Min(slot*groupShare/float64(len(c.Series)), maxBarW)
	inner := barW * float64(len(c.Series))
	for gi, g := range c.Groups {
		left := float64(plot.Min.X) + slot*float64(gi)
		x := left + (slot-inner)/2
		for si, b := range g.Bars {
			x0 := int(math.Round(x + barW*float64(si)))
			x1 := int(math.Round(x + barW*float64(si+1)))
			if barW >= 6 {
				x1-- // a hair of white between neighbours
			}
			if !b.OK || x1 <= x0 {
				continue
			}
			top := ypix(b.Value)
			if top >= plot.Max.Y && b.Value > 0 {
				top = plot.Max.Y - 1 // a figure too small to see still shows
			}
			r := image.Rect(x0, top, x1, plot.Max.Y)
			fill(img, r, seriesColour(si))
			lay.bars[gi][si] = r
			if b.Lo != b.Hi {
				drawWhisker(img, (x0+x1-1)/2, ypix(b.Lo), ypix(b.Hi), x1-x0)
			}
		}
		label := fit(clean(g.Label), int(slot)-8) // a gap between neighbours
		lx := int(math.Round(left+slot/2)) - textWidth(label)/2
		drawText(img, label, lx, plot.Max.Y+6+ascent, textColour)
	}

	// The axes last, over the grid and the bars' feet.
	vline(img, plot.Min.X, plot.Min.Y-4, plot.Max.Y, axisColour)
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, axisColour)
	return img, lay, nil
}

// extent is the smallest and largest figure among the OK bars (0, 0 when
// there are none). Only the largest matters to a linear axis.
func (c *Chart) extent() (lo, hi float64) {
	first := true
	for _, g := range c.Groups {
		for _, b := range g.Bars {
			if !b.OK {
				continue
			}
			for _, v := range []float64{b.Value, b.Lo, b.Hi} {
				if first {
					lo, hi, first = v, v, false
				}
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	return lo, hi
}

// drawLegend draws the series' squares and names from y down, centred and
// wrapped to W, and returns the y under it.
func (c *Chart) drawLegend(img *image.RGBA, y, W int) int {
	type entry struct {
		name string
		w    int
	}
	avail := W - 2*pad
	var rows [][]entry
	var widths []int
	for _, s := range c.Series {
		name := fit(clean(s), avail-legendBox-5)
		e := entry{name, legendBox + 5 + textWidth(name)}
		n := len(rows)
		if n == 0 || widths[n-1]+legendGap+e.w > avail {
			rows, widths = append(rows, nil), append(widths, -legendGap)
			n++
		}
		rows[n-1] = append(rows[n-1], e)
		widths[n-1] += legendGap + e.w
	}
	for ri, row := range rows {
		x := (W - widths[ri]) / 2
		for si, e := range row {
			idx := si
			for _, r := range rows[:ri] {
				idx += len(r)
			}
			fill(img, image.Rect(x, y+2, x+legendBox, y+2+legendBox), seriesColour(idx))
			drawText(img, e.name, x+legendBox+5, y+ascent, textColour)
			x += e.w + legendGap
		}
		y += lineH + 4
	}
	return y + 4
}

// drawWhisker draws a line at x from ylo to yhi with caps as wide as a
// third of the bar (2 to 8 pixels).
func drawWhisker(img *image.RGBA, x, ylo, yhi, barW int) {
	if ylo < yhi {
		ylo, yhi = yhi, ylo
	}
	vline(img, x, yhi, ylo+1, whiskerColor)
	half := min(max(barW/6, 2), 8)
	hline(img, x-half, x+half+1, yhi, whiskerColor)
	hline(img, x-half, x+half+1, ylo, whiskerColor)
}

// scale maps figures to the height of the plot.
type scale struct {
	log    bool
	lo, hi float64   // the axis' range: figures, or for log their exponents
	ticks  []float64 // figures at the tick marks, ascending
}

// pos is v's height as a fraction of the plot's, in [0, 1].
func (s scale) pos(v float64) float64 {
	var f float64
	if s.log {
		f = (math.Log10(v) - s.lo) / (s.hi - s.lo)
	} else {
		f = (v - s.lo) / (s.hi - s.lo)
	}
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	return math.Min(f, 1)
}

// linearScale is an axis from 0 to a round number at least top, with 4 to
// 6 ticks a step of 1, 2, 2.5 or 5 times a power of ten apart.
func linearScale(top float64) scale {
	if !(top > 0) {
		top = 1
	}
	base := math.Pow(10, math.Floor(math.Log10(top))-1)
	for range 40 {
		for _, m := range []float64{1, 2, 2.5, 5} {
			step := m * base
			n := math.Ceil(top/step - 1e-9)
			if n < 1 {
				n = 1
			}
			if n > 5 {
				continue
			}
			end := n * step
			if math.IsInf(end, 0) || math.IsNaN(end) {
				break
			}
			s := scale{lo: 0, hi: math.Max(end, top)} // never under top by a rounding
			for i := 0.0; i <= n; i++ {
				s.ticks = append(s.ticks, i*step)
			}
			return s
		}
		base *= 10
	}
	// Figures at the ends of float64's range: no round numbers, just the top.
	return scale{lo: 0, hi: top, ticks: []float64{0, top / 2, top}}
}

// logScale is a log10 axis over whole decades covering lo to hi (both > 0),
// with ticks at powers of ten, every decade up to six decades and every
// few beyond; a span of one or two decades gets ticks at 2 and 5, or 3, too.
func logScale(lo, hi float64) scale {
	if !(lo > 0) {
		lo = 1
	}
	if !(hi >= lo) {
		hi = lo
	}
	a := math.Floor(math.Log10(lo))
	if math.Pow(10, a) >= lo*(1-1e-9) {
		a-- // a power of ten at the bottom would draw as no bar at all
	}
	b := math.Ceil(math.Log10(hi))
	if b <= a {
		b = a + 1
	}
	d := b - a
	step := math.Max(1, math.Ceil(d/6))
	b = a + step*math.Ceil(d/step)
	s := scale{log: true, lo: a, hi: b}
	for e := a; e <= b+1e-9; e += step {
		s.ticks = append(s.ticks, math.Pow(10, e))
	}
	switch d {
	case 1:
		s.ticks = append(s.ticks, 2*math.Pow(10, a), 5*math.Pow(10, a))
	case 2:
		s.ticks = append(s.ticks, 3*math.Pow(10, a), 3*math.Pow(10, a+1))
	}
	sort.Float64s(s.ticks)
	return s
}

// formatTick writes v briefly: 0.5, 12, 250, 1.2k, 3.4M, 2G, 1e-5.
func formatTick(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e15 || a < 1e-3:
		s := strconv.FormatFloat(v, 'g', 3, 64)
		return strings.NewReplacer("e+0", "e", "e+", "e", "e-0", "e-").Replace(s)
	case a >= 1e12:
		return short(v/1e12) + "T"
	case a >= 1e9:
		return short(v/1e9) + "G"
	case a >= 1e6:
		return short(v/1e6) + "M"
	case a >= 1e3:
		return short(v/1e3) + "k"
	}
	return short(v)
}

// short writes x with the fewest decimals (up to 3) that say it.
func short(x float64) string {
	for prec := 0; prec < 3; prec++ {
		s := strconv.FormatFloat(x, 'f', prec, 64)
		if p, err := strconv.ParseFloat(s, 64); err == nil && math.Abs(p-x) <= 1e-9*math.Max(1, math.Abs(x)) {
			return s
		}
	}
	s := strconv.FormatFloat(x, 'f', 3, 64)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// fill paints r (clipped to img) with col.
func fill(img *image.RGBA, r image.Rectangle, col color.RGBA) {
	draw.Draw(img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

// hline paints y's pixels from x0 to x1 (exclusive).
func hline(img *image.RGBA, x0, x1, y int, col color.RGBA) {
	fill(img, image.Rect(x0, y, x1, y+1), col)
}

// vline paints x's pixels from y0 to y1 (exclusive).
func vline(img *image.RGBA, x, y0, y1 int, col color.RGBA) {
	fill(img, image.Rect(x, y0, x+1, y1), col)
}

// drawText draws s with its left end at x and its baseline at y.
func drawText(img *image.RGBA, s string, x, y int, col color.RGBA) {
	if s == "" {
		return
	}
	d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// textWidth is s's width in pixels.
func textWidth(s string) int { return font.MeasureString(face, s).Ceil() }

// clean turns control characters (newlines, tabs) into spaces and trims.
func clean(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// fit is s, or as much of it as fits in w pixels followed by "…"; "" when
// not even that fits.
func fit(s string, w int) string {
	if textWidth(s) <= w {
		return s
	}
	adv := face.Advance
	n := w/adv - 1 // characters besides the "…"
	if n < 0 {
		return ""
	}
	r := []rune(s)
	if n > len(r) {
		n = len(r)
	}
	return strings.TrimRightFunc(string(r[:n]), unicode.IsSpace) + "…"
}

// face is basicfont.Face7x13 (ASCII only) with a few more glyphs drawn in
// its style, for labels such as "1000 × 64 B" and for the "…" of cut text.
var face = extendFace(basicfont.Face7x13, []extraGlyph{
	{'×', []string{
		"......", "......", "......", "......", "......",
		".#...#", "..#.#.", "...#..", "..#.#.", ".#...#",
		"......", "......", "......",
	}},
	{'…', []string{
		"......", "......", "......", "......", "......",
		"......", "......", "......", "......", "......",
		"#.#.#.", "......", "......",
	}},
	{'–', []string{
		"......", "......", "......", "......", "......", "......",
		"######", "......", "......", "......", "......", "......", "......",
	}},
	{'—', []string{
		"......", "......", "......", "......", "......", "......",
		"######", "......", "......", "......", "......", "......", "......",
	}},
	{'µ', []string{
		"......", "......", "......", "......", "......",
		"#...#.", "#...#.", "#...#.", "#...#.", "##..#.", "#.##.#",
		"#.....", "#.....",
	}},
	{'±', []string{
		"......", "......", "......", "...#..", "...#..", ".#####",
		"...#..", "...#..", "......", ".#####", "......", "......", "......",
	}},
	{'·', []string{
		"......", "......", "......", "......", "......", "......",
		"...#..", "......", "......", "......", "......", "......", "......",
	}},
	{'°', []string{
		"......", "..##..", ".#..#.", ".#..#.", "..##..", "......",
		"......", "......", "......", "......", "......", "......", "......",
	}},
})

// extraGlyph is a rune's picture, one string a row, '#' for ink.
type extraGlyph struct {
	r    rune
	rows []string
}

// extendFace is a copy of f whose mask has the extra glyphs appended.
func extendFace(f *basicfont.Face, extra []extraGlyph) *basicfont.Face {
	gh := f.Ascent + f.Descent
	old := f.Mask.Bounds()
	n := old.Dy() / gh // glyphs in f's mask
	mask := image.NewAlpha(image.Rect(0, 0, f.Width, (n+len(extra))*gh))
	draw.Draw(mask, image.Rect(0, 0, f.Width, old.Dy()), f.Mask, old.Min, draw.Src)
	ranges := append([]basicfont.Range(nil), f.Ranges...)
	for i, g := range extra {
		top := (n + i) * gh
		for y, row := range g.rows {
			for x, ch := range row {
				if ch == '#' && x < f.Width && y < gh {
					mask.SetAlpha(x, top+y, color.Alpha{A: 0xff})
				}
			}
		}
		ranges = append(ranges, basicfont.Range{Low: g.r, High: g.r + 1, Offset: n + i})
	}
	ext := *f
	ext.Mask = mask
	ext.Ranges = ranges
	return &ext
}
