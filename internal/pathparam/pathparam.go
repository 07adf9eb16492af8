// Package pathparam carries the path parameters a router matched from the
// router to the WebSocket connection, through the request context.
package pathparam

import (
	"context"

	"github.com/switchboard-go/switchboard/internal/pattern"
)

type key struct{}

// NewContext returns a context that carries params.
func NewContext(ctx context.Context, params []pattern.Param) context.Context {
	return context.WithValue(ctx, key{}, params)
}

// FromContext returns the params stored by NewContext, in pattern order.
func FromContext(ctx context.Context) []pattern.Param {
	p, _ := ctx.Value(key{}).([]pattern.Param)
	return p
}
