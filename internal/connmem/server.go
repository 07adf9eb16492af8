package connmem

import (
	"sync/atomic"

	"github.com/switchboard-go/switchboard/websocket"
)

// Echo is the Switchboard server of a measurement: it accepts, counts the
// connection in open while it lasts, and echoes what it receives (the
// clients send nothing, so it waits in Receive, as an idle connection
// does).
func Echo(open *atomic.Int64) websocket.HandlerFunc {
	return func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		open.Add(1)
		defer open.Add(-1)
		for {
			typ, data, err := ws.Receive(ws.Context())
			if err != nil {
				return err
			}
			if err := ws.Send(typ, data); err != nil {
				return err
			}
		}
	}
}
