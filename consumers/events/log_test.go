package events_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
)

// logRecords is a slog.Handler that keeps every record.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

// find returns the first record with msg, and its attributes as text.
func (l *logRecords) find(msg string) (slog.Record, map[string]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		return r, attrs, true
	}
	return slog.Record{}, nil, false
}

// An OnConnect that refuses the handshake is logged at Info with the
// connection's id and the error, not only answered with 403.
func TestRefusedHandshakeIsLogged(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	logs := &logRecords{}
	ev := events.NewEvents(&events.EventOptions{
		Box:       box,
		Logger:    slog.New(logs),
		OnConnect: func(context.Context, *events.EventConn) error { return errors.New("token expired") },
	})
	_, resp, err := gws.DefaultDialer.Dial(serveEvents(t, box, ev), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial: %v %v, want 403", resp, err)
	}
	r, attrs, ok := logs.find("consumers: OnConnect: refused")
	if !ok || r.Level < slog.LevelInfo || attrs["id"] == "" || !strings.Contains(attrs["err"], "token expired") {
		t.Errorf("refusal logged as %v (%v), want Info or above with id and err", r, attrs)
	}
}
