package wire

import (
	"bufio"
	"sync"
	"time"
)

// Pools holds what the connections of one configuration share: the
// buffers they borrow (read buffers, lent while a message is read, and
// burst buffers, held while the writer coalesces a burst) and the time a
// write to the network may take. Init it before use, and do not copy it
// after.
type Pools struct {
	read         sync.Pool // *bufio.Reader
	burst        sync.Pool // *[]byte
	writeTimeout time.Duration
}

// Init sizes the buffers, read buffers of readSize bytes and burst buffers
// of burstSize, and sets the time each write to the network has to
// complete.
func (p *Pools) Init(readSize, burstSize int, writeTimeout time.Duration) {
	p.read.New = func() any { return bufio.NewReaderSize(nil, readSize) }
	p.burst.New = func() any {
		b := make([]byte, 0, burstSize)
		return &b
	}
	p.writeTimeout = writeTimeout
}
