package redisbroker

import (
	"bytes"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
)

func sample() *channels.Message {
	m := channels.NewMessage(map[string]any{"event": "message", "payload": 1})
	m.Origin, m.Except, m.OffsetField, m.EpochField = "node", "ch", "offset", "epoch"
	if err := m.Encode(); err != nil {
		panic(err)
	}
	return m
}

func TestCodecRoundTrip(t *testing.T) {
	m := sample()
	body := encodeBody(m)
	got, err := decodeGroup(append([]byte("s42 EPOCH\n"), body...))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != m.Kind || got.Origin != "node" || got.Except != "ch" || got.OffsetField != "offset" ||
		got.EpochField != "epoch" || !bytes.Equal(got.Data, m.Data) || !bytes.Equal(got.Msgpack, m.Msgpack) ||
		got.Position != (channels.Position{Offset: 42, Epoch: "EPOCH"}) {
		t.Errorf("round trip: %+v", got)
	}
	// A body of version 1 (in a history written before) has no epoch field.
	v1 := bytes.Clone(body[:len(body)-len("epoch")-1])
	v1[0] = 1
	if got, err := decodeBody(v1); err != nil || got.OffsetField != "offset" || got.EpochField != "" || !bytes.Equal(got.Data, m.Data) {
		t.Errorf("version 1 body: %+v, %v", got, err)
	}
	kind, target, nm, err := decodeNode(encodeNode(toUser, "ada", encodeBody(channels.NewMessage("hi"))))
	if err != nil || kind != toUser || target != "ada" || string(nm.Data) != "hi" || nm.Kind != channels.KindText {
		t.Errorf("node message: %c %q %+v %v", kind, target, nm, err)
	}
	for _, bad := range []string{"", "\n", "x\n", "s\n", "s0 e\n", "s1\n", "s1 \n", "u", "u\n\x01", "s-1 e\n"} {
		if _, err := decodeGroup(append([]byte(bad), body...)); err == nil && bad != "u\n" {
			t.Errorf("decodeGroup accepted %q", bad)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to every decoder of what arrives from
// Redis: an error, never a panic, and what decodes encodes back the same.
func FuzzDecode(f *testing.F) {
	body := encodeBody(sample())
	f.Add(append([]byte("u\n"), body...))
	f.Add(append([]byte("s7 abc\n"), body...))
	f.Add(encodeNode(toChannel, "id", body))
	f.Add([]byte("s99999999999999999999999 e\n\x01\x00"))
	f.Add([]byte("u\n\x01\x00\x80\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeGroup(b); err == nil {
			i := bytes.IndexByte(b, '\n')
			if again := encodeBody(m); !bytes.Equal(again, b[i+1:]) {
				t.Errorf("re-encoded body differs: %x vs %x", again, b[i+1:])
			}
		}
		if _, _, m, err := decodeNode(b); err == nil && m == nil {
			t.Error("nil message without an error")
		}
		decodeBody(b) //nolint:errcheck // must not panic
	})
}
