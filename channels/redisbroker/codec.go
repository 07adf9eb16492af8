package redisbroker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/switchboard-go/switchboard/channels"
)

// A message crosses Redis as a body:
//
//	version (1) | kind (1) | origin | except | offset field | data | msgpack | epoch field
//
// each string a uvarint length and its bytes (version 1, still read from
// histories written before it, has no epoch field). On a group's pub/sub
// channel the body follows a header line: "u\n" for an unsaved message, or
// "s<offset> <epoch>\n" for a saved one (the publishing script writes it,
// since only Redis knows the offset). On a node's channel it follows a kind
// byte ('c' for a channel, 'u' for a user) and the target, length-prefixed.

const codecVersion = 2

var errBadMessage = errors.New("redisbroker: malformed message")

// maxField bounds every decoded string: Redis itself caps values at 512 MiB.
const maxField = 512 << 20

func appendString(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeBody encodes msg, which must be encoded already (see
// channels.Message.Encode).
func encodeBody(msg *channels.Message) []byte {
	n := 2 + 6*binary.MaxVarintLen32 + len(msg.Origin) + len(msg.Except) + len(msg.OffsetField) + len(msg.Data) + len(msg.Msgpack) + len(msg.EpochField)
	b := make([]byte, 0, n)
	b = append(b, codecVersion, byte(msg.Kind))
	b = appendString(b, []byte(msg.Origin))
	b = appendString(b, []byte(msg.Except))
	b = appendString(b, []byte(msg.OffsetField))
	b = appendString(b, msg.Data)
	b = appendString(b, msg.Msgpack)
	b = appendString(b, []byte(msg.EpochField))
	return b
}

// unsavedOrigin returns the origin of an unsaved group message as it comes
// from pub/sub ("u\n" and a body), without decoding the rest.
func unsavedOrigin(payload string) (string, bool) {
	if len(payload) < 5 || payload[0] != 'u' || payload[1] != '\n' || payload[2] != codecVersion {
		return "", false
	}
	n, k := binary.Uvarint([]byte(payload[4:min(len(payload), 4+binary.MaxVarintLen64)]))
	if k <= 0 || n > uint64(len(payload)-4-k) {
		return "", false
	}
	return payload[4+k : 4+k+int(n)], true
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	// A length must be in its shortest form: one encoding per message.
	if k <= 0 || k != uvarintLen(n) || n > maxField || n > uint64(len(r.b)-k) {
		r.err = errBadMessage
		return nil
	}
	s := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return s
}

func uvarintLen(n uint64) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

func decodeBody(b []byte) (*channels.Message, error) {
	if len(b) < 2 || (b[0] != 1 && b[0] != codecVersion) || channels.Kind(b[1]) > channels.KindValue {
		return nil, errBadMessage
	}
	r := reader{b: b[2:]}
	msg := &channels.Message{Kind: channels.Kind(b[1])}
	msg.Origin = string(r.bytes())
	msg.Except = string(r.bytes())
	msg.OffsetField = string(r.bytes())
	data := r.bytes()
	mp := r.bytes()
	if b[0] == codecVersion {
		msg.EpochField = string(r.bytes())
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errBadMessage
	}
	// Copies: the message outlives the buffer it came in.
	msg.Data = bytes.Clone(data)
	if msg.Data == nil {
		msg.Data = []byte{}
	}
	if len(mp) > 0 {
		msg.Msgpack = bytes.Clone(mp)
	}
	if msg.Kind == channels.KindValue && len(msg.Data) == 0 {
		return nil, errBadMessage
	}
	return msg, nil
}

// decodeGroup decodes what arrives on a group's channel: the message and,
// for a saved one, its position.
func decodeGroup(b []byte) (*channels.Message, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 {
		return nil, errBadMessage
	}
	head, body := b[:i], b[i+1:]
	var pos channels.Position
	switch head[0] {
	case 'u':
		if len(head) != 1 {
			return nil, errBadMessage
		}
	case 's':
		sp := bytes.IndexByte(head, ' ')
		if sp < 2 || sp == len(head)-1 {
			return nil, errBadMessage
		}
		off, err := strconv.ParseUint(string(head[1:sp]), 10, 64)
		if err != nil || off == 0 {
			return nil, errBadMessage
		}
		pos = channels.Position{Offset: off, Epoch: string(head[sp+1:])}
	default:
		return nil, errBadMessage
	}
	msg, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	msg.Position = pos
	return msg, nil
}

// Node messages: a kind byte, the target, the body.
const (
	toChannel = 'c'
	toUser    = 'u'
)

func encodeNode(kind byte, target string, body []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen32+len(target)+len(body))
	b = append(b, kind)
	b = appendString(b, []byte(target))
	return append(b, body...)
}

func decodeNode(b []byte) (kind byte, target string, msg *channels.Message, err error) {
	if len(b) < 1 || (b[0] != toChannel && b[0] != toUser) {
		return 0, "", nil, errBadMessage
	}
	r := reader{b: b[1:]}
	t := r.bytes()
	if r.err != nil || len(t) == 0 {
		return 0, "", nil, errBadMessage
	}
	msg, err = decodeBody(r.b)
	if err != nil {
		return 0, "", nil, err
	}
	return b[0], string(t), msg, nil
}
