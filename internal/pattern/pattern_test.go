package pattern

import (
	"slices"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	bad := []string{
		"", "rooms", "/a//b", "/{}", "/{1x}", "/{a:float}", "/x{a}", "/{a}x",
		"/{a...}/b", "/{a}/{a}", "/{a", "/a}", "/{{a}}", "/{a:int:x}",
	}
	for _, s := range bad {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
	if _, err := Parse("/" + strings.Repeat("a", MaxLen)); err == nil {
		t.Error("overlong pattern accepted")
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, path string
		ok            bool
		params        []Param
	}{
		{"/", "/", true, nil},
		{"/", "/x", false, nil},
		{"/ws", "/ws", true, nil},
		{"/ws", "/ws/", false, nil},
		{"/ws/", "/ws/", true, nil},
		{"/rooms/{room}", "/rooms/lobby", true, []Param{{"room", "lobby"}}},
		{"/rooms/{room}", "/rooms/", false, nil},
		{"/rooms/{room}", "/rooms/a/b", false, nil},
		{"/rooms/{room}", "/rooms/a%2Fb", true, []Param{{"room", "a/b"}}},
		{"/rooms/{room}", "/rooms/%zz", false, nil},
		{"/u/{id:int}", "/u/42", true, []Param{{"id", "42"}}},
		{"/u/{id:int}", "/u/-7", true, []Param{{"id", "-7"}}},
		{"/u/{id:int}", "/u/+7", false, nil},
		{"/u/{id:int}", "/u/4x", false, nil},
		{"/u/{id:int}", "/u/99999999999999999999", false, nil},
		{"/u/{id:uuid}", "/u/123e4567-e89b-12d3-a456-426614174000", true, []Param{{"id", "123e4567-e89b-12d3-a456-426614174000"}}},
		{"/u/{id:uuid}", "/u/123e4567e89b12d3a456426614174000", false, nil},
		{"/u/{id:uuid}", "/u/123e4567-e89b-12d3-a456-42661417400g", false, nil},
		{"/p/{s:slug}", "/p/hello-world_2", true, []Param{{"s", "hello-world_2"}}},
		{"/p/{s:slug}", "/p/hello world", false, nil},
		{"/f/{rest...}", "/f/a/b/c", true, []Param{{"rest", "a/b/c"}}},
		{"/f/{rest...}", "/f/", true, []Param{{"rest", ""}}},
		{"/f/{rest...}", "/f", false, nil},
		{"/a/{x}/b/{y:int}", "/a/1/b/2", true, []Param{{"x", "1"}, {"y", "2"}}},
	}
	for _, tt := range tests {
		p, err := Parse(tt.pattern)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.pattern, err)
		}
		params, ok := p.Match(tt.path, nil)
		if ok != tt.ok || ok && !slices.Equal(params, tt.params) {
			t.Errorf("%q on %q: got %v %v, want %v %v", tt.pattern, tt.path, params, ok, tt.params, tt.ok)
		}
	}
}

func TestConflictsAndOrder(t *testing.T) {
	t.Parallel()
	must := func(s string) *Pattern {
		p, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if !must("/r/{a}").Conflicts(must("/r/{b}")) {
		t.Error("/r/{a} and /r/{b} should conflict")
	}
	if must("/r/{a:int}").Conflicts(must("/r/{b}")) || must("/r/x").Conflicts(must("/r/y")) {
		t.Error("different shapes should not conflict")
	}
	ordered := []string{"/r/new", "/r/{id:int}", "/r/{id:uuid}", "/r/{id:slug}", "/r/{id}", "/r/{rest...}"}
	for i := 0; i+1 < len(ordered); i++ {
		if !Less(must(ordered[i]), must(ordered[i+1])) || Less(must(ordered[i+1]), must(ordered[i])) {
			t.Errorf("%s should sort before %s", ordered[i], ordered[i+1])
		}
	}
}

func TestMatchPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix, path, rest string
		ok                 bool
	}{
		{"/api", "/api", "", true},
		{"/api", "/api/x", "/x", true},
		{"/api", "/apix", "", false},
		{"/api/", "/api/x", "/x", true},
		{"/", "/anything", "/anything", true},
	}
	for _, tt := range tests {
		p, _ := Parse(tt.prefix)
		rest, ok := p.MatchPrefix(tt.path)
		if ok != tt.ok || rest != tt.rest {
			t.Errorf("%q on %q: got %q %v", tt.prefix, tt.path, rest, ok)
		}
	}
}

// FuzzParse: parsing never panics; a parsed pattern matches without
// panicking, and a pattern that parses matches a path built from its own
// literal segments and sample values.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/", "/ws", "/rooms/{room}", "/u/{id:int}/{rest...}", "/{a:uuid}/{b:slug}", "/{", "//", "/a/{b...}/c"} {
		f.Add(s, "/rooms/lobby")
	}
	f.Fuzz(func(t *testing.T, s, path string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		p.Match(path, nil)
		p.MatchPrefix(path)
		var b strings.Builder
		for _, seg := range p.Segs {
			b.WriteByte('/')
			switch seg.Kind {
			case Literal:
				b.WriteString(strings.ReplaceAll(seg.Value, "%", "%25"))
			case Int:
				b.WriteString("12")
			case UUID:
				b.WriteString("123e4567-e89b-12d3-a456-426614174000")
			default:
				b.WriteString("v")
			}
		}
		built := b.String()
		if built == "" {
			built = "/"
		}
		if p.Raw != "/" && strings.ContainsAny(built, "?#") {
			return
		}
		params, ok := p.Match(built, nil)
		if !ok {
			t.Fatalf("pattern %q does not match its own example %q", s, built)
		}
		if len(params) != len(p.Names()) {
			t.Fatalf("pattern %q: %d params for %d names", s, len(params), len(p.Names()))
		}
	})
}
