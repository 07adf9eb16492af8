package channels

import (
	"errors"
	"testing"
)

func TestOnOwnStack(t *testing.T) {
	var got int
	onOwnStack(func() { got = 42 })
	if got != 42 {
		t.Errorf("result = %d, want 42", got)
	}
	want := errors.New("boom")
	defer func() {
		if p := recover(); p != want {
			t.Errorf("recovered %v, want the panic raised again", p)
		}
	}()
	onOwnStack(func() { panic(want) })
	t.Error("no panic")
}
