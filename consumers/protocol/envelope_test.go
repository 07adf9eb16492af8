package protocol_test

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	mp, _ := msgpack.Marshal(map[string]any{"event": "join", "payload": map[string]any{"room": "r"}, "ref": 3, "offset": 7, "epoch": "e"})
	for _, tt := range []struct {
		name    string
		codec   protocol.Codec
		fields  protocol.Fields
		in      []byte
		want    protocol.Envelope
		payload string // the payload's JSON
		err     error  // errors.Is, or any error when errAny
		errAny  bool
	}{
		{name: "full", in: []byte(`{"event":"message","room":"r1","payload":{"text":"hi"},"ref":"2","offset":42,"epoch":"e"}`),
			want: protocol.Envelope{Event: "message", Room: "r1", Ref: "2", Offset: 42, Epoch: "e"}, payload: `{"text":"hi"}`},
		{name: "numeric ref", in: []byte(`{"event":"x","ref":1.50}`), want: protocol.Envelope{Event: "x", Ref: "1.50"}, payload: `null`},
		{name: "null room", in: []byte(`{"event":"x","room":null}`), want: protocol.Envelope{Event: "x"}, payload: `null`},
		{name: "channel/data", fields: protocol.ChannelDataFields(), in: []byte(`{"channel":"x","data":[1]}`), want: protocol.Envelope{Event: "x"}, payload: `[1]`},
		{name: "msgpack", codec: protocol.Msgpack, in: mp, want: protocol.Envelope{Event: "join", Ref: "3", Offset: 7, Epoch: "e"}, payload: `{"room":"r"}`},
		{name: "no event", in: []byte(`{"payload":1}`), err: protocol.ErrNoEvent},
		{name: "empty event", in: []byte(`{"event":""}`), err: protocol.ErrNoEvent},
		{name: "event not a string", in: []byte(`{"event":7}`), err: protocol.ErrNoEvent},
		{name: "null envelope", in: []byte(`null`), err: protocol.ErrNoEvent},
		{name: "not json", in: []byte(`hello`), errAny: true},
		{name: "room not a string", in: []byte(`{"event":"x","room":7}`), errAny: true},
		{name: "negative offset", in: []byte(`{"event":"x","offset":-1}`), errAny: true},
		{name: "bad msgpack", codec: protocol.Msgpack, in: []byte{0xc1}, errAny: true},
		{name: "msgpack bomb", codec: protocol.Msgpack, in: []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, errAny: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := protocol.Decode(tt.codec, tt.in, tt.fields)
			if tt.err != nil || tt.errAny {
				if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
					t.Fatalf("Decode = %+v, %v; want error %v", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, ok := got.Payload.(protocol.RawPayload)
			if !ok || raw.Codec != tt.codec {
				t.Fatalf("payload %#v, want a RawPayload in %s", got.Payload, tt.codec)
			}
			var p any
			if err := raw.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if pj, _ := protocol.Encode(protocol.JSON, protocol.Envelope{Event: "p", Payload: raw}); !bytes.Contains(pj, []byte(`"payload":`+tt.payload)) {
				t.Errorf("payload re-encoded as %s, want %s", pj, tt.payload)
			}
			got.Payload, tt.want.Fields = nil, got.Fields
			if got != tt.want {
				t.Errorf("Decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// What Encode writes, Decode reads back, in both codecs and field sets.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		for _, f := range []protocol.Fields{{}, protocol.ChannelDataFields(), {Event: "e", Payload: "p", Ref: "r", Room: "o", Offset: "n"}} {
			in := protocol.Envelope{Fields: f, Event: "message", Payload: map[string]any{"text": "hi"}, Ref: "9", Room: "r1", Offset: 44, Epoch: "ep"}
			if f.Epoch == "" && f != (protocol.Fields{}) {
				in.Epoch = "" // no field for it
			}
			frame, err := protocol.Encode(c, in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := protocol.Decode(c, frame, f)
			if err != nil {
				t.Fatalf("%s %v: %v", c, f, err)
			}
			var p map[string]any
			if err := out.Payload.(protocol.RawPayload).Decode(&p); err != nil || p["text"] != "hi" {
				t.Errorf("%s %v: payload %v, %v", c, f, p, err)
			}
			in.Payload, out.Payload, in.Fields, out.Fields = nil, nil, protocol.Fields{}, protocol.Fields{}
			if out != in {
				t.Errorf("%s %v: got %+v, want %+v", c, f, out, in)
			}
		}
	}
}

func TestCodecFor(t *testing.T) {
	t.Parallel()
	for sub, want := range map[string]protocol.Codec{
		protocol.SubprotocolMsgpack: protocol.Msgpack, protocol.SubprotocolJSON: protocol.JSON, "": protocol.JSON, "other": protocol.JSON,
	} {
		if got := protocol.CodecFor(sub); got != want {
			t.Errorf("CodecFor(%q) = %s, want %s", sub, got, want)
		}
	}
	if !protocol.Msgpack.Binary() || protocol.JSON.Binary() {
		t.Error("Binary: msgpack frames are binary, JSON frames text")
	}
}

func TestErrorCodeMessages(t *testing.T) {
	t.Parallel()
	for code, want := range map[protocol.ErrorCode]string{
		protocol.CodeBadRequest: "bad request", protocol.CodeUnauthorized: "unauthorized", protocol.CodeForbidden: "forbidden",
		protocol.CodeNotFound: "not found", protocol.CodeRateLimited: "rate limited", protocol.CodeTooLarge: "too large",
		protocol.CodeUnavailable: "unavailable, try again later", protocol.CodeInternal: "internal error",
	} {
		if got := code.DefaultMessage(); got != want {
			t.Errorf("%s: %q, want %q", code, got, want)
		}
	}
}

// FuzzDecode: any bytes, in either codec, decode to an envelope or an
// error, never a panic, allocating (with the payload's decoding) a small
// multiple of their size, whatever lengths the input declares; a
// decoded envelope has an event name, encodes again, and decodes back to
// itself.
func FuzzDecode(f *testing.F) {
	mp, _ := msgpack.Marshal(map[string]any{"event": "join", "payload": map[string]any{"room": "r"}, "ref": 3, "offset": uint64(1) << 63})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa5, 'e', 'v', 'e', 'n', 't', 0xa1, 'x'}, true)
	for _, s := range []string{
		`{"event":"join","payload":{"room":"r1","since":{"epoch":"e","offset":41}},"ref":"1"}`,
		`{"event":"message","room":"r1","payload":{"text":"hi"},"ref":2,"offset":3,"epoch":"e"}`,
		`{"channel":"x","data":null}`, `{"event":""}`, `[]`, `{"event":1}`, `{"event":"e","ref":{"a":1}}`, `{"event":"e","offset":1e3}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Add(mp, true)
	f.Fuzz(func(t *testing.T, data []byte, useMsgpack bool) {
		c := protocol.JSON
		if useMsgpack {
			c = protocol.Msgpack
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		env, err := protocol.Decode(c, data, protocol.Fields{})
		var perr error
		if err == nil {
			var v any
			perr = env.Payload.(protocol.RawPayload).Decode(&v)
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 128*uint64(len(data))+64<<10 {
			t.Fatalf("decoding %d bytes allocated %d", len(data), got)
		}
		if err != nil {
			return
		}
		if env.Event == "" {
			t.Fatal("decoded an envelope without an event name")
		}
		// Valid JSON always decodes into an any; msgpack may not (a map
		// with integer keys, say), which is the handler's error to report.
		if perr != nil && c == protocol.JSON {
			t.Fatalf("payload of %q does not decode: %v", data, perr)
		}
		frame, err := protocol.Encode(c, env)
		if err != nil {
			// A msgpack payload JSON cannot hold is not re-encoded across
			// codecs; in its own codec it is written as it came.
			t.Fatalf("re-encoding %+v: %v", env, err)
		}
		again, err := protocol.Decode(c, frame, protocol.Fields{})
		if err != nil {
			t.Fatalf("re-decoding %q: %v", frame, err)
		}
		p1, p2 := env.Payload.(protocol.RawPayload), again.Payload.(protocol.RawPayload)
		if c == protocol.Msgpack && !bytes.Equal(p1.Data, p2.Data) {
			t.Fatalf("payload %x came back as %x", p1.Data, p2.Data)
		}
		env.Payload, again.Payload = nil, nil
		if !reflect.DeepEqual(env, again) {
			t.Fatalf("%+v came back as %+v", env, again)
		}
	})
}
