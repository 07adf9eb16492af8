package websocket

import "context"

type userKey struct{}

// WithUser returns a context carrying the id of an authenticated user.
// Authentication middleware (router.Authenticate) puts it in the request
// context; the connection then reports it with User.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// UserFrom returns the user id carried by ctx, or "".
func UserFrom(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// User returns the authenticated user of the connection (see WithUser), or
// "".
func (ws *WebSocket) User() string { return UserFrom(ws.ctx) }
