package websocket

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// StatusError is an error that chooses the close code its connection ends
// with. A handler's error (or any error in its chain, as errors.As sees
// it) that implements StatusError closes the connection with its
// CloseStatus and CloseReason instead of StatusInternalError; one whose
// CloseStatus is StatusTryAgainLater refuses a handshake not yet accepted
// with 503. *CloseError is one; channels.ErrBrokerUnavailable is another.
// The table in the package doc (Ending) has the whole policy.
type StatusError interface {
	error
	// CloseStatus is the close code to send.
	CloseStatus() StatusCode
	// CloseReason is the reason to send with it: a few plain words a
	// client may see, never an error's text.
	CloseReason() string
}

var _ StatusError = (*CloseError)(nil)

// CloseStatus returns e.Code.
func (e *CloseError) CloseStatus() StatusCode { return e.Code }

// CloseReason returns e.Reason.
func (e *CloseError) CloseReason() string { return e.Reason }

// Refuse marks err as the application's refusal of the handshake (a
// wrong token, a room that does not exist): a handler that returns it, or
// an error that wraps it, before Accept refuses the handshake with 403
// and the refusal is logged at Info, where another error is a failure
// answered with 500 and logged at Error. After Accept the mark changes
// nothing. Refuse returns nil for a nil err; errors.Is and errors.As see
// through it.
func Refuse(err error) error {
	if err == nil {
		return nil
	}
	return &refusal{err}
}

type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// EndKind is what a handler's error says about the end of its connection:
// the row of the close policy (see Ending) that it falls in.
type EndKind int

const (
	// EndNormal: no error; the handler is done.
	EndNormal EndKind = iota
	// EndGone: the connection, or its handshake, was over already (a
	// *DisconnectError, ErrClosed, ErrHandshakeOver, or an Accept whose
	// upgrade failed); nothing is left to send.
	EndGone
	// EndRequested: a StatusError chose its close code.
	EndRequested
	// EndTryLater: a StatusError asked the client to come back later
	// (StatusTryAgainLater): an outage, not a bug.
	EndTryLater
	// EndRefused: the application refused the handshake (Refuse).
	EndRefused
	// EndFailed: any other error, a panic included: a bug or a failure of
	// the server.
	EndFailed
)

var endKindNames = [...]string{
	EndNormal:    "normal",
	EndGone:      "connection gone",
	EndRequested: "close requested",
	EndTryLater:  "try again later",
	EndRefused:   "refused",
	EndFailed:    "failed",
}

// String returns the kind's name, such as "try again later".
func (k EndKind) String() string {
	if k >= 0 && int(k) < len(endKindNames) {
		return endKindNames[k]
	}
	return "EndKind(" + strconv.Itoa(int(k)) + ")"
}

// Ending is how a connection ends after its handler (or a hook of package
// consumers) returned an error: the one close policy of the module, which
// Handler, router.WSRouter and package consumers all follow. EndingFor
// computes it:
//
//	error                          kind          before Accept       after Accept                   log level
//	nil                            EndNormal     403                 1000                           none
//	*DisconnectError, ErrClosed,   EndGone       500                 the code it carries (a         Debug
//	ErrHandshakeOver, a failed                                       *DisconnectError's, if it may
//	Accept                                                           be sent), else 1000
//	StatusError with 1013          EndTryLater   503                 1013 and its reason            Warn
//	(channels.ErrBrokerUnavailable)
//	Refuse(err)                    EndRefused    403                 as err without the mark        Info
//	StatusError with another code  EndRequested  500                 its code and reason            Debug (Error
//	                                                                                                before Accept)
//	  ... a code that cannot be    EndFailed     500                 1011 "internal error"          Error
//	  sent (1005, 1006, 1015)
//	any other error, or a panic    EndFailed     500                 1011 "internal error"          Error
//
// The first row that matches wins, in this order; a row's error may be
// anywhere in the chain (errors.Is, errors.As). An error that answers
// errors.As with a *CloseError target (the way to carry a code before
// StatusError) counts as a StatusError. A nil error is never logged.
//
// The 403 of a refusal and the 500 of a failure differ only by the mark:
// package consumers marks an OnConnect error (not its panic) with Refuse,
// for OnConnect's error is how a consumer says no, while a HandlerFunc
// that fails before Accept has failed.
type Ending struct {
	// Kind is the row of the table.
	Kind EndKind
	// Code and Reason are the close frame to send after Accept.
	Code   StatusCode
	Reason string
	// HTTPStatus is the status that refuses a handshake not yet accepted.
	HTTPStatus int
	// Level is the level the error is logged at (nil is not logged).
	Level slog.Level
}

// EndingFor returns the Ending for a handler's err: accepted says whether
// the handshake was accepted (a connection past StateConnecting), which
// decides whether Refuse's mark counts. It is a pure function: it closes
// and logs nothing.
func EndingFor(err error, accepted bool) Ending {
	e := Ending{Kind: EndFailed, Code: StatusInternalError, Reason: "internal error",
		HTTPStatus: http.StatusInternalServerError, Level: slog.LevelError}
	var de *DisconnectError
	var ae *acceptError
	se, isStatus := statusErrorOf(err)
	var r *refusal
	switch {
	case err == nil:
		e = Ending{Kind: EndNormal, Code: StatusNormalClosure, HTTPStatus: http.StatusForbidden, Level: slog.LevelInfo}
	case errors.As(err, &de):
		e.Kind, e.Level = EndGone, slog.LevelDebug
		e.Code, e.Reason = StatusNormalClosure, ""
		if de.Code.canSend() {
			e.Code, e.Reason = de.Code, de.Reason
		}
	case errors.Is(err, ErrClosed), errors.Is(err, ErrHandshakeOver), errors.As(err, &ae):
		e.Kind, e.Level = EndGone, slog.LevelDebug
		e.Code, e.Reason = StatusNormalClosure, ""
	case isStatus && se.CloseStatus() == StatusTryAgainLater:
		e.Kind, e.Level, e.HTTPStatus = EndTryLater, slog.LevelWarn, http.StatusServiceUnavailable
		e.Code, e.Reason = StatusTryAgainLater, se.CloseReason()
	case !accepted && errors.As(err, &r):
		e.Kind, e.Level, e.HTTPStatus = EndRefused, slog.LevelInfo, http.StatusForbidden
	case isStatus && se.CloseStatus().canSend():
		e.Kind, e.Code, e.Reason = EndRequested, se.CloseStatus(), se.CloseReason()
		if accepted {
			e.Level = slog.LevelDebug // else a 500: logged at Error
		}
	}
	return e
}

// statusErrorOf finds the StatusError in err's chain: one that implements
// the interface, or a *CloseError that an As method hands over.
func statusErrorOf(err error) (StatusError, bool) {
	if err == nil {
		return nil, false
	}
	var se StatusError
	if errors.As(err, &se) {
		return se, true
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce, true
	}
	return nil, false
}
