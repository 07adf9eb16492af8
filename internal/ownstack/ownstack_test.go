package ownstack_test

import (
	"errors"
	"testing"

	"github.com/switchboard-go/switchboard/internal/ownstack"
)

func TestRun(t *testing.T) {
	var got int
	ownstack.Run(func() { got = 42 })
	if got != 42 {
		t.Errorf("result = %d, want 42", got)
	}
	want := errors.New("boom")
	defer func() {
		if p := recover(); p != want {
			t.Errorf("recovered %v, want the panic raised again", p)
		}
	}()
	ownstack.Run(func() { panic(want) })
	t.Error("no panic")
}
