//go:build !race

package websocket_test

// raceEnabled reports a build with the race detector, whose own cost per
// goroutine and per object is counted in memory figures.
const raceEnabled = false
