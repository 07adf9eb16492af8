package proto

import (
	"errors"
	"fmt"
)

// MaxRoom is the longest room name a publisher may address.
const MaxRoom = 256

// ErrNoRoom is returned by SplitPublish for a publisher's message that does
// not start with a room name and a space.
var ErrNoRoom = errors.New("proto: publish message names no room")

// AppendRoom appends to dst the start of a publisher's message: room and
// one space. The payload follows (Encode appends it).
func AppendRoom(dst []byte, room string) []byte {
	dst = append(dst, room...)
	return append(dst, ' ')
}

// SplitPublish splits a publisher's message, as AppendRoom and Encode made
// it, into the room it goes to and the payload the room's members get
// (parts of msg, not copies; a string stays a string, so a server can send
// the payload as a text frame without copying it). It returns an error
// wrapping ErrNoRoom when msg has no space, the room before it is empty,
// or longer than MaxRoom bytes.
func SplitPublish[T string | []byte](msg T) (room, payload T, err error) {
	i := -1
	for j := 0; j < len(msg) && j <= MaxRoom; j++ {
		if msg[j] == ' ' {
			i = j
			break
		}
	}
	switch {
	case i < 0 && len(msg) > MaxRoom:
		return room, payload, fmt.Errorf("%w: no space in the first %d bytes", ErrNoRoom, MaxRoom+1)
	case i < 0:
		return room, payload, fmt.Errorf("%w: no space in %d bytes", ErrNoRoom, len(msg))
	case i == 0:
		return room, payload, fmt.Errorf("%w: the room is empty", ErrNoRoom)
	}
	return msg[:i], msg[i+1:], nil
}
