package channels

// onOwnStack runs fn on a goroutine of its own and waits for it; a panic
// in fn is raised again in the caller.
//
// Register and AddToGroup are usually called from a connection's handler
// before it waits for messages, and they go deep (maps, the broker,
// timers). A goroutine's stack grows in powers of two and, in practice,
// never shrinks back while the goroutine waits, so calls made on the
// handler's goroutine would double the stack every idle connection keeps
// (2 KiB to 4 KiB). On a goroutine of their own the depth is paid once and
// given back; the handler waits in a shallow channel receive. The cost is
// a goroutine start per call, about a microsecond.
func onOwnStack(fn func()) {
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
