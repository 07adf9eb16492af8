// Package chart draws grouped bar charts, with min–max whiskers, as PNG images: the load tool's pictures of its results.
//
// A [Chart] has one bar per series in each group: the bar's height is the
// median over rounds ([Bar.Value]) and a thin whisker spans the smallest and
// largest round ([Bar.Lo], [Bar.Hi]). The y axis is linear from zero to a
// round number, or (with [Chart.Log]) logarithmic with ticks at powers of
// ten. Text uses the 7×13 bitmap face of golang.org/x/image/font/basicfont,
// extended with a few glyphs the load tool's labels use (× … – — µ ± · °);
// labels too wide for their place are cut short with "…".
//
// Only the standard library's image packages and golang.org/x/image's font
// packages are used.
package chart
