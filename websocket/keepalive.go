package websocket

import "time"

// onPing answers a ping through the writer's queue (gorilla's default
// handler would write from the reading goroutine, racing a burst).
func (ws *WebSocket) onPing(data string) error {
	ws.lastRead.Store(time.Now().UnixNano())
	ws.mu.Lock()
	if !ws.closing && ws.State() == StateConnected {
		f, p := newFrame(opPong, len(data))
		copy(p, data)
		ws.pushLocked(outFrame{b: f, op: opPong})
	}
	ws.mu.Unlock()
	return nil
}

func (ws *WebSocket) onPong(string) error {
	ws.lastRead.Store(time.Now().UnixNano())
	return nil
}

// onKeepalive runs on the keepalive timer. It pings a connection that has
// been silent for PingInterval and closes it with StatusPongTimeout when
// nothing arrived within PongTimeout of the ping.
func (ws *WebSocket) onKeepalive() {
	now := time.Now().UnixNano()
	last := ws.lastRead.Load()
	if ws.pingSent != 0 && last < ws.pingSent {
		if wait := ws.pingSent + int64(ws.cfg.pongTimeout) - now; wait > 0 {
			ws.rearm(time.Duration(wait))
			return
		}
		ws.mu.Lock()
		started := ws.startCloseLocked(StatusPongTimeout, "pong timeout", "pong timeout", false)
		ws.mu.Unlock()
		if started {
			ws.awaitClose(false)
		}
		return
	}
	ws.pingSent = 0
	if idle := time.Duration(now - last); idle < ws.cfg.pingInterval {
		ws.rearm(ws.cfg.pingInterval - idle)
		return
	}
	ws.mu.Lock()
	if ws.closing || ws.State() != StateConnected {
		ws.mu.Unlock()
		return
	}
	ws.pushLocked(outFrame{b: pingFrame, op: opPing})
	ws.mu.Unlock()
	ws.pingSent = now
	ws.rearm(ws.cfg.pongTimeout)
}

var pingFrame = []byte{0x80 | opPing, 0}

func (ws *WebSocket) rearm(d time.Duration) {
	ws.mu.Lock()
	if !ws.closing && ws.keepalive != nil {
		ws.keepalive.Reset(d)
	}
	ws.mu.Unlock()
}
