//go:build race

package servers_test

// raceEnabled builds the servers with the race detector too.
const raceEnabled = true
