package clusternodes

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	out := "07c3 127.0.0.1:30004@40004 slave e7d1 0 1 4 connected\n" +
		"67ed 127.0.0.1:30002@40002,host master - 0 1 2 connected 5461-10922\n" +
		"e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed]\n" +
		"292f 127.0.0.1:30003@40003 master - 0 1 3 connected 10923-16382 16383\n"
	r, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{0, 5460, "127.0.0.1:30001"}, {5461, 10922, "127.0.0.1:30002"},
		{10923, 16382, "127.0.0.1:30003"}, {16383, 16383, "127.0.0.1:30003"}}
	if len(r) != len(want) {
		t.Fatalf("got %v, want %v", r, want)
	}
	for i := range r {
		if r[i] != want[i] {
			t.Fatalf("got %v, want %v", r, want)
		}
	}
	for _, bad := range []string{"a b c", "a b c d e f g h x", "a b c d e f g h 5-2", "a b c d e f g h 0-16384"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed]\n")
	f.Add("x y z\n")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := Parse(out)
		if err != nil {
			return
		}
		for i, s := range r {
			if s.Start < 0 || s.End < s.Start || s.End > 16383 || strings.ContainsAny(s.Master, " \n") {
				t.Fatalf("bad range %v", s)
			}
			if i > 0 && r[i-1].Start > s.Start {
				t.Fatal("not sorted")
			}
		}
	})
}
