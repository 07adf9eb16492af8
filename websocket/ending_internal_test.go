package websocket

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
)

// outage is a StatusError of its own, as channels.ErrBrokerUnavailable is.
type outage struct{}

func (outage) Error() string           { return "broker down" }
func (outage) CloseStatus() StatusCode { return StatusTryAgainLater }
func (outage) CloseReason() string     { return "try again later" }

// legacyLater carries 1013 the older way: an As method that hands over a
// *CloseError.
type legacyLater struct{}

func (legacyLater) Error() string { return "service down" }

func (legacyLater) As(target any) bool {
	p, ok := target.(**CloseError)
	if ok {
		*p = &CloseError{Code: StatusTryAgainLater, Reason: "later"}
	}
	return ok
}

// Every row of the close policy's table (see Ending), before and after
// Accept.
func TestEndingFor(t *testing.T) {
	t.Parallel()
	failed := errors.New("db down")
	for _, tt := range []struct {
		name     string
		err      error
		kind     EndKind
		status   int        // before Accept
		code     StatusCode // after Accept
		reason   string
		level    slog.Level
		accepted EndKind // the kind after Accept, when it differs
	}{
		{"nil", nil, EndNormal, 403, StatusNormalClosure, "", slog.LevelInfo, 0},
		{"disconnect", fmt.Errorf("read: %w", &DisconnectError{Code: StatusGoingAway, Reason: "bye"}), EndGone, 500, StatusGoingAway, "bye", slog.LevelDebug, 0},
		{"disconnect without a code", &DisconnectError{Code: StatusAbnormalClosure}, EndGone, 500, StatusNormalClosure, "", slog.LevelDebug, 0},
		{"closed", fmt.Errorf("send: %w", ErrClosed), EndGone, 500, StatusNormalClosure, "", slog.LevelDebug, 0},
		{"handshake over", ErrHandshakeOver, EndGone, 500, StatusNormalClosure, "", slog.LevelDebug, 0},
		{"failed accept", &acceptError{errors.New("bad origin")}, EndGone, 500, StatusNormalClosure, "", slog.LevelDebug, 0},
		{"outage", fmt.Errorf("presence: %w", outage{}), EndTryLater, 503, StatusTryAgainLater, "try again later", slog.LevelWarn, 0},
		{"close error 1013", NewCloseError(StatusTryAgainLater, "busy"), EndTryLater, 503, StatusTryAgainLater, "busy", slog.LevelWarn, 0},
		{"legacy As", fmt.Errorf("presence: %w", legacyLater{}), EndTryLater, 503, StatusTryAgainLater, "later", slog.LevelWarn, 0},
		{"refused outage", Refuse(outage{}), EndTryLater, 503, StatusTryAgainLater, "try again later", slog.LevelWarn, 0},
		{"refused", fmt.Errorf("auth: %w", Refuse(errors.New("token expired"))), EndRefused, 403, StatusInternalError, "internal error", slog.LevelInfo, EndFailed},
		{"refused close", Refuse(NewCloseError(StatusPolicyViolation, "no")), EndRefused, 403, StatusPolicyViolation, "no", slog.LevelInfo, EndRequested},
		{"requested", fmt.Errorf("x: %w", NewCloseError(StatusPolicyViolation, "no")), EndRequested, 500, StatusPolicyViolation, "no", slog.LevelDebug, 0},
		{"requested private", NewCloseError(4100, "bye"), EndRequested, 500, 4100, "bye", slog.LevelDebug, 0},
		{"requested unsendable", NewCloseError(StatusAbnormalClosure, "x"), EndFailed, 500, StatusInternalError, "internal error", slog.LevelError, 0},
		{"failed", failed, EndFailed, 500, StatusInternalError, "internal error", slog.LevelError, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := EndingFor(tt.err, false)
			if before.Kind != tt.kind || before.HTTPStatus != tt.status {
				t.Errorf("before Accept: %+v, want kind %v and status %d", before, tt.kind, tt.status)
			}
			after := EndingFor(tt.err, true)
			kind := tt.kind
			if tt.accepted != 0 {
				kind = tt.accepted
			}
			if after.Kind != kind || after.Code != tt.code || after.Reason != tt.reason {
				t.Errorf("after Accept: %+v, want kind %v, close %v %q", after, kind, tt.code, tt.reason)
			}
			levelBefore := tt.level
			if tt.kind == EndRequested {
				levelBefore = slog.LevelError // a 500
			}
			if before.Level != levelBefore || (tt.accepted == 0 && after.Level != tt.level) {
				t.Errorf("levels %v and %v, want %v and %v", before.Level, after.Level, levelBefore, tt.level)
			}
			if after.Code != StatusNormalClosure && !after.Code.canSend() {
				t.Errorf("after Accept: close %v cannot be sent", after.Code)
			}
		})
	}
}

// After Accept, Refuse's mark changes nothing.
func TestRefuseAfterAccept(t *testing.T) {
	t.Parallel()
	for _, err := range []error{errors.New("no"), NewCloseError(4004, "who?"), outage{}, &DisconnectError{Code: 1001}} {
		if got, want := EndingFor(Refuse(err), true), EndingFor(err, true); got != want {
			t.Errorf("EndingFor(Refuse(%v), true) = %+v, want %+v", err, got, want)
		}
	}
	if Refuse(nil) != nil {
		t.Error("Refuse(nil) is not nil")
	}
}

// CloseStatus finds the code of a DisconnectError and of any StatusError.
func TestCloseStatusFindsStatusError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want StatusCode
	}{
		{nil, -1},
		{errors.New("x"), -1},
		{fmt.Errorf("a: %w", &DisconnectError{Code: 4001}), 4001},
		{fmt.Errorf("b: %w", outage{}), StatusTryAgainLater},
		{legacyLater{}, StatusTryAgainLater},
		{Refuse(NewCloseError(4004, "")), 4004},
	} {
		if got := CloseStatus(tt.err); got != tt.want {
			t.Errorf("CloseStatus(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
