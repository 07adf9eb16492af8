package router

import (
	"net/http"

	"github.com/switchboard-go/switchboard/websocket"
)

// Authenticate returns middleware that identifies the user of each
// handshake with fn before any upgrade: an error answers 401 Unauthorized
// (with the error's text), a user id reaches the connection as
// WebSocket.User, and a ChannelBox indexes the connection under it for
// SendToUser, presence and OnOnline/OnOffline.
func Authenticate(fn func(r *http.Request) (user string, err error)) Middleware {
	if fn == nil {
		panic("router: Authenticate needs a function")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, err := fn(r)
			if err != nil {
				http.Error(w, "401 Unauthorized: "+err.Error(), http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(websocket.WithUser(r.Context(), user)))
		})
	}
}
