// Command notify pushes notifications from ordinary HTTP endpoints (the
// way Less and queue-driven services do): clients connect to /ws with a
// token naming their user (?token=USER or "Authorization: Bearer USER"),
// and
//
//	POST /notify/{user}          sends the body to every device of the user
//	POST /publish/{connection}   sends the body to one connection
//	GET  /online/{user}          answers {"user":...,"online":true|false}
//
// These HTTP endpoints are for the services that notify, not for
// browsers: each call carries the server's shared secret as
// "Authorization: Bearer SECRET" (flag -secret or $NOTIFY_SECRET; a
// random one, printed at start, when neither is set), so that a form on
// another site cannot post notifications (401 without it).
//
//	go run ./examples/notify -secret s3cret      # listens on 127.0.0.1:8080
//	curl -H 'Authorization: Bearer s3cret' -d 'build passed' 127.0.0.1:8080/notify/ada
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/graceful"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	secret := flag.String("secret", os.Getenv("NOTIFY_SECRET"), "shared secret of the HTTP endpoints (Authorization: Bearer SECRET); random when empty")
	flag.Parse()
	if *secret == "" {
		*secret = rand.Text()
		slog.Info("no -secret given; the HTTP endpoints take this one", "secret", *secret)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	box := channels.NewBox(&channels.Options{
		OnOnline:  func(u string) { slog.Info("user online", "user", u) },
		OnOffline: func(u string) { slog.Info("user offline", "user", u) },
	})
	slog.Info("notify server listening", "addr", ln.Addr().String())
	srv := &http.Server{Handler: newMux(box, *secret), ReadHeaderTimeout: 10 * time.Second}
	// Every connection is in the box: closing it closes them all.
	stopper := graceful.Attach(srv, &graceful.Options{Boxes: []*channels.ChannelBox{box}})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopper.Shutdown(shutdown) //nolint:errcheck // exiting
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}

// token identifies the user: here the token is the user's name; a real
// service verifies a signed token instead.
func token(r *http.Request) (string, error) {
	t := r.URL.Query().Get("token")
	if t == "" {
		t = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if t == "" {
		return "", errors.New("a token is required (?token=USER or Authorization: Bearer USER)")
	}
	return t, nil
}

// withSecret serves only the calls that carry the secret as a bearer
// token. A browser adds no such header to a cross-site form post, so a
// page on another site cannot call the endpoints.
func withSecret(secret string, next http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + secret)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "send the server's secret: Authorization: Bearer SECRET", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

// newMux serves the WebSockets at /ws and the HTTP endpoints, which take
// the shared secret.
func newMux(box *channels.ChannelBox, secret string) http.Handler {
	ws := router.New()
	ws.Use(router.Authenticate(token))
	ws.HandleFunc("/ws", func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		ch, err := box.Register(ws, nil) // indexed under ws.User()
		if err != nil {
			return err
		}
		slog.Info("connected", "user", ch.User(), "connection", ch.ID())
		defer slog.Info("disconnected", "user", ch.User(), "connection", ch.ID())
		if err := ch.Send(map[string]string{"connection_id": ch.ID(), "user": ch.User()}); err != nil {
			return err
		}
		for {
			if _, _, err := ws.Receive(ws.Context()); err != nil {
				return err
			}
		}
	})

	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	mux.HandleFunc("POST /notify/{user}", withSecret(secret, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "could not read the body", http.StatusBadRequest)
			return
		}
		n, err := box.SendToUser(r.Context(), r.PathValue("user"), string(body))
		if err != nil {
			sendFailed(w, err)
			return
		}
		writeJSON(w, map[string]any{"user": r.PathValue("user"), "devices": n})
	}))
	mux.HandleFunc("POST /publish/{connection}", withSecret(secret, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "could not read the body", http.StatusBadRequest)
			return
		}
		err = box.SendTo(r.Context(), r.PathValue("connection"), string(body))
		switch {
		case errors.Is(err, channels.ErrNoSuchChannel):
			http.Error(w, "no such connection", http.StatusNotFound)
		case err != nil:
			sendFailed(w, err)
		default:
			writeJSON(w, map[string]any{"connection": r.PathValue("connection"), "sent": true})
		}
	}))
	mux.HandleFunc("GET /online/{user}", withSecret(secret, func(w http.ResponseWriter, r *http.Request) {
		on, err := box.IsOnline(r.Context(), r.PathValue("user"))
		if err != nil {
			sendFailed(w, err)
			return
		}
		writeJSON(w, map[string]any{"user": r.PathValue("user"), "online": on})
	}))
	return mux
}

// sendFailed answers a failed send in plain words, and logs the error: a
// body that is not UTF-8 text is the caller's to fix (400), an outage is
// for later (503), anything else is ours (500).
func sendFailed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, websocket.ErrInvalidUTF8):
		http.Error(w, "the message must be UTF-8 text", http.StatusBadRequest)
	case errors.Is(err, channels.ErrBrokerUnavailable):
		http.Error(w, "unavailable, try again later", http.StatusServiceUnavailable)
	default:
		slog.Error("notify: send failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client may be gone
}
