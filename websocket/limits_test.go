package websocket_test

import (
	"errors"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// ReadLimit counts decompressed bytes: 8 MiB of zeros, which deflate to a
// few kilobytes on the wire, end the connection with 1009 once 64 KiB were
// inflated (a decompression bomb does not get through).
func TestReadLimitAppliesAfterDecompression(t *testing.T) {
	url, done := server(t, &websocket.Options{Compression: true, ReadLimit: 64 << 10}, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(ws.Context())
		return err
	})
	d := gws.Dialer{EnableCompression: true}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.EnableWriteCompression(true)
	// The server stops reading at the limit, so the rest of the write may
	// meet a reset; what counts is how the server ended the connection.
	c.WriteMessage(gws.BinaryMessage, make([]byte, 8<<20)) //nolint:errcheck // see above
	var de *websocket.DisconnectError
	if err := wait(t, done); !errors.As(err, &de) || de.Code != websocket.StatusMessageTooBig {
		t.Errorf("handler's Receive: %v", err)
	}
}
