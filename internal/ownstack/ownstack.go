// Package ownstack runs a deep call on a goroutine of its own, so that the
// goroutine that waits for it keeps a small stack.
//
// A connection's handler goroutine lives as long as the connection, and
// its stack grows in powers of two and, in practice, never shrinks back
// while it waits for the peer: a call that goes deep once (maps, parsing,
// a broker, an allocation that has to help the garbage collector) doubles
// what every idle connection keeps, 2 KiB to 4 KiB. Made on a goroutine of
// its own, the depth is paid once and given back, and the handler waits in
// a shallow channel receive. The cost is a goroutine start per call, about
// a microsecond.
package ownstack

// Run runs fn on a goroutine of its own and waits for it; a panic in fn
// is raised again in the caller.
func Run(fn func()) {
	var p any
	done := make(chan struct{})
	go func() {
		defer func() {
			p = recover()
			close(done)
		}()
		fn()
	}()
	<-done
	if p != nil {
		panic(p)
	}
}
