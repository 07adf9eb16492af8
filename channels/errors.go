package channels

import (
	"errors"

	"github.com/switchboard-go/switchboard/websocket"
)

var (
	// ErrNoSuchChannel is returned by SendTo for a channel that is not
	// registered (any more) on any node.
	ErrNoSuchChannel = errors.New("channels: no such channel")
	// ErrTooManyGroups is returned by AddToGroup for a channel already in
	// Options.MaxGroupsPerChannel groups.
	ErrTooManyGroups = errors.New("channels: too many groups for this channel")
	// ErrInvalidGroup is returned for an empty or too long group name.
	ErrInvalidGroup = errors.New("channels: invalid group name")
	// ErrBoxClosed is returned by a box after Close.
	ErrBoxClosed = errors.New("channels: box closed")
	// ErrBrokerClosed is returned by a broker after Close.
	ErrBrokerClosed = errors.New("channels: broker closed")
	// ErrNotConnected is returned by Register for a connection that is not
	// (or no longer) connected.
	ErrNotConnected = errors.New("channels: connection not connected")
	// ErrAlreadyRegistered is returned by Register for a connection that
	// has a channel already.
	ErrAlreadyRegistered = errors.New("channels: connection already registered")
	// ErrBrokerUnavailable is what a broker's error matches (errors.Is)
	// when the call failed because the broker's server could not be
	// reached or did not answer in time: the same call may succeed later.
	// The default MemoryBroker never returns it.
	//
	// It is a websocket.StatusError that carries
	// websocket.StatusTryAgainLater ("try again later"), so a handler that
	// returns it, or an error that wraps it, closes its connection with
	// 1013 rather than 1011 and is logged as a warning (and one that
	// returns it before Accept refuses the handshake with 503): the close
	// policy of websocket.Ending. A broker wraps it (fmt.Errorf with %w,
	// or an Unwrap method) for both to hold.
	ErrBrokerUnavailable error = brokerUnavailable{}
	// ErrBrokerBusy is what a broker's error matches when it refused a
	// message because the messages it has accepted and not yet written
	// to its server already fill its bound (the server is slower than
	// the senders, or down). It matches ErrBrokerUnavailable too, and
	// closes a handler that returns it with 1013 likewise.
	ErrBrokerBusy error = brokerBusy{}
)

type brokerBusy struct{ brokerUnavailable }

func (brokerBusy) Error() string {
	return "channels: broker busy: too many messages waiting for its server"
}

// Is makes a busy error match ErrBrokerUnavailable as well.
func (brokerBusy) Is(target error) bool { return target == ErrBrokerUnavailable }

type brokerUnavailable struct{}

func (brokerUnavailable) Error() string { return "channels: broker unavailable" }

var _ websocket.StatusError = brokerUnavailable{}

// CloseStatus is the close an outage calls for: come back later.
func (brokerUnavailable) CloseStatus() websocket.StatusCode { return websocket.StatusTryAgainLater }

// CloseReason is the reason sent with CloseStatus.
func (brokerUnavailable) CloseReason() string { return "try again later" }
