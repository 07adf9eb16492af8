package pathparam

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestWildcards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    []string
	}{
		{"", nil},
		{"/", nil},
		{"/rooms/{id}", []string{"id"}},
		{"/rooms/{id}/", []string{"id"}},
		{"/rooms/{id}/files/{rest...}", []string{"id", "rest"}},
		{"/{$}", nil},
		{"/rooms/{id}/{$}", []string{"id"}},
		{"GET /rooms/{id}", []string{"id"}},
		{"GET  \t/rooms/{id}", []string{"id"}},
		{"example.com/rooms/{id}", []string{"id"}},
		{"GET example.com/t/{tenant}/ws/{rest...}", []string{"tenant", "rest"}},
		{"GET {host}/rooms/{id}", nil},    // a host cannot hold a wildcard
		{"/rooms/{id}/{id}", nil},         // duplicate name
		{"/rooms/{rest...}/x", nil},       // {name...} not last
		{"/{$}/x", nil},                   // {$} not last
		{"/{$...}", nil},                  // not a name
		{"/rooms/x{id}", nil},             // not a whole segment
		{"/rooms/{id:[0-9]+}", nil},       // chi's regexp: not ServeMux's
		{"/rooms/{}", nil},                // empty name
		{"/rooms/{...}", nil},             // empty name
		{"/rooms/{1a}", nil},              // not an identifier
		{"/rooms/{é_1}", []string{"é_1"}}, // an identifier
		{"/ws/*", nil},                    // chi's mount pattern
		{"rooms/{id}", []string{"id"}},    // "rooms" is the host
		{"GET", nil},                      // no path
		{"/a//{b}", []string{"b"}},        // an empty segment is a literal
		{"/rooms/{id", nil},               // unclosed
		{"/rooms/{id}}", nil},             // not an identifier
		{"POST /{a}/{b}/{c...}", []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			t.Parallel()
			if got := slices.Collect(Wildcards(tt.pattern)); !slices.Equal(got, tt.want) {
				t.Errorf("Wildcards(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

// TestWildcardsAllocs: listing a request's wildcards at Accept costs no
// allocation.
func TestWildcardsAllocs(t *testing.T) {
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		for range Wildcards("GET example.com/t/{tenant}/ws/{rest...}") {
			n++
		}
	})
	if allocs != 0 {
		t.Errorf("Wildcards allocates %v times", allocs)
	}
}

// FuzzWildcards: every name yielded is a Go identifier that stands as a
// whole wildcard segment in the pattern, once; and for a pattern that
// ServeMux accepts, every '{' but that of {$} opens one of them.
func FuzzWildcards(f *testing.F) {
	f.Add("GET example.com/rooms/{room}/{rest...}")
	f.Add("/{$}")
	f.Add("/a/{b}/{b}")
	f.Add("{a}{")
	f.Add("GET {h}/x")
	f.Fuzz(func(t *testing.T, pattern string) {
		got := slices.Collect(Wildcards(pattern))
		for i, name := range got {
			if !validName(name) || slices.Contains(got[:i], name) ||
				!strings.Contains(pattern, "/{"+name+"}") && !strings.Contains(pattern, "/{"+name+"...}") {
				t.Fatalf("Wildcards(%q) = %q: %q is not one of its wildcards", pattern, got, name)
			}
		}
		if !muxAccepts(pattern) {
			return
		}
		want := strings.Count(pattern, "{") - strings.Count(pattern, "/{$}")
		if len(got) != want {
			t.Fatalf("Wildcards(%q) = %q, want %d names", pattern, got, want)
		}
	})
}

// muxAccepts reports whether a ServeMux registers pattern.
func muxAccepts(pattern string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	http.NewServeMux().HandleFunc(pattern, func(http.ResponseWriter, *http.Request) {})
	return true
}
