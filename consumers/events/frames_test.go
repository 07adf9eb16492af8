package events_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file reads the example exchanges of docs/PROTOCOL.md; the
// document's appendix, "Example syntax", describes what it reads.

// docBlock is one fenced block of PROTOCOL.md that the tests replay.
type docBlock struct {
	kind    string            // "frames" or "subprotocols"
	line    int               // of the opening fence
	section string            // the heading above it
	attrs   map[string]string // from the info string: "frames rate=0.1"
	lines   []docLine
}

// docLine is one line of a block, with its line number in the document.
type docLine struct {
	n    int
	text string
}

// readDocBlocks returns the frames and subprotocols blocks of the
// Markdown file at path.
func readDocBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	section := ""
	inFence := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(text) == "```":
			blocks = append(blocks, *cur)
			cur, inFence = nil, false
		case cur != nil:
			cur.lines = append(cur.lines, docLine{n, text})
		case strings.HasPrefix(text, "```"):
			inFence = !inFence
			words := strings.Fields(strings.TrimPrefix(text, "```"))
			if !inFence || len(words) == 0 || (words[0] != "frames" && words[0] != "subprotocols") {
				continue
			}
			cur = &docBlock{kind: words[0], line: n, section: section, attrs: map[string]string{}}
			for _, w := range words[1:] {
				k, v, ok := strings.Cut(w, "=")
				if !ok {
					t.Fatalf("%s:%d: %q is not key=value", path, n, w)
				}
				cur.attrs[k] = v
			}
		case !inFence && strings.HasPrefix(text, "#"):
			section = strings.TrimSpace(strings.TrimLeft(text, "#"))
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: block not closed", path, cur.line)
	}
	return blocks
}

// step is one line of a frames block.
type step struct {
	n      int
	client string // "" for the unnamed client
	op     string // ">" sent, "<" received, "<~" received in any order, "!" server step
	kind   string // envelope, text, binary, close, drop, ping; for "!" the step's words
	pat    any    // envelope pattern
	raw    []byte // text and binary contents
	code   int    // close
	reason *string
	words  []string // "!" steps
}

var stepRE = regexp.MustCompile(`^\s*([a-z][a-z0-9]*)?\s*(<~|<|>|!)\s*(.*?)\s*$`)

// parseStep parses one line of a frames block; ok is false for a blank
// line or a comment.
func parseStep(l docLine) (s step, ok bool, err error) {
	text := strings.TrimSpace(l.text)
	if text == "" || strings.HasPrefix(text, "#") {
		return s, false, nil
	}
	m := stepRE.FindStringSubmatch(text)
	if m == nil {
		return s, false, fmt.Errorf("line %d: not a frame line: %q", l.n, text)
	}
	s = step{n: l.n, client: m[1], op: m[2]}
	rest := m[3]
	if s.op == "!" {
		s.words = strings.Fields(rest)
		if len(s.words) == 0 {
			return s, false, fmt.Errorf("line %d: an empty server step", l.n)
		}
		return s, true, nil
	}
	if strings.HasPrefix(rest, "{") {
		s.kind = "envelope"
		s.pat, err = parsePattern(rest)
		if err != nil {
			return s, false, fmt.Errorf("line %d: %v", l.n, err)
		}
		return s, true, nil
	}
	if s.op == "<~" {
		return s, false, fmt.Errorf("line %d: only envelopes come in any order: %q", l.n, text)
	}
	word, arg, _ := strings.Cut(rest, " ")
	arg = strings.TrimSpace(arg)
	s.kind = word
	switch {
	case (word == "text" || word == "binary") && s.op == ">":
		str, err := strconv.Unquote(arg)
		if err != nil {
			return s, false, fmt.Errorf("line %d: %s wants a quoted string: %v", l.n, word, err)
		}
		s.raw = []byte(str)
	case word == "close":
		codeText, reason, _ := strings.Cut(arg, " ")
		if s.code, err = strconv.Atoi(codeText); err != nil {
			return s, false, fmt.Errorf("line %d: close wants a code: %v", l.n, err)
		}
		if reason = strings.TrimSpace(reason); reason != "" {
			r, err := strconv.Unquote(reason)
			if err != nil {
				return s, false, fmt.Errorf("line %d: close reason: %v", l.n, err)
			}
			s.reason = &r
		}
	case word == "drop" && s.op == ">" && arg == "":
	case word == "ping" && s.op == "<" && arg == "":
	default:
		return s, false, fmt.Errorf("line %d: cannot read %q", l.n, text)
	}
	return s, true, nil
}

// parseSteps parses the lines of a frames block.
func parseSteps(b docBlock) ([]step, error) {
	var steps []step
	for _, l := range b.lines {
		s, ok, err := parseStep(l)
		if err != nil {
			return nil, err
		}
		if ok {
			steps = append(steps, s)
		}
	}
	return steps, nil
}

// placeholder stands for a value that varies from run to run: "$name"
// (quoted) for a string, $name (bare) for a number.
type placeholder struct {
	name   string
	number bool
}

// numberMark begins the JSON string that a bare $name is read as.
const numberMark = "\x00number:"

var placeholderName = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_]*$`)

// parsePattern reads a JSON value whose strings may be "$name" and whose
// numbers may be $name.
func parsePattern(text string) (any, error) {
	var out strings.Builder
	inString, escaped := false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case inString:
			out.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
			out.WriteByte(c)
		case c == '$':
			j := i + 1
			for j < len(text) && (text[j] == '_' || 'a' <= text[j] && text[j] <= 'z' || 'A' <= text[j] && text[j] <= 'Z' || j > i+1 && '0' <= text[j] && text[j] <= '9') {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("a $ without a name in %s", text)
			}
			mark, _ := json.Marshal(numberMark + text[i+1:j])
			out.Write(mark)
			i = j - 1
		default:
			out.WriteByte(c)
		}
	}
	d := json.NewDecoder(strings.NewReader(out.String()))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%v in %s", err, text)
	}
	if d.More() {
		return nil, fmt.Errorf("more than one value in %s", text)
	}
	return placeholders(v), nil
}

// placeholders turns the marked strings of v into placeholders.
func placeholders(v any) any {
	out, _ := mapLeaves(v, func(leaf any) (any, error) {
		x, ok := leaf.(string)
		if !ok {
			return leaf, nil
		}
		if name, ok := strings.CutPrefix(x, numberMark); ok {
			return placeholder{name: name, number: true}, nil
		}
		if placeholderName.MatchString(x) {
			return placeholder{name: x[1:]}, nil
		}
		return leaf, nil
	})
	return out
}

// mapLeaves returns a copy of the decoded JSON value v (or pattern) with
// fn applied to everything in it that is neither an object nor an array.
func mapLeaves(v any, fn func(any) (any, error)) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			var err error
			if out[k], err = mapLeaves(e, fn); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = mapLeaves(e, fn); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return fn(v)
}

// bindings are the values the placeholders of one block stand for.
type bindings map[string]any

// match reports whether got (decoded with UseNumber) matches the pattern
// pat, binding the placeholders it meets. Maps must have the same keys;
// numbers compare by value; a placeholder matches any value of its type,
// the same one each time it appears, and one that no other placeholder
// stands for.
func match(pat, got any, b bindings) bool {
	switch p := pat.(type) {
	case placeholder:
		if _, ok := got.(json.Number); ok != p.number {
			return false
		}
		if _, ok := got.(string); !p.number && !ok {
			return false
		}
		if v, ok := b[p.name]; ok {
			return same(v, got)
		}
		for _, v := range b {
			if same(v, got) {
				return false
			}
		}
		b[p.name] = got
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(p) {
			return false
		}
		for k, pv := range p {
			gv, ok := g[k]
			if !ok || !match(pv, gv, b) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(p) {
			return false
		}
		for i := range p {
			if !match(p[i], g[i], b) {
				return false
			}
		}
		return true
	}
	return same(pat, got)
}

// same compares two decoded JSON scalars; numbers by value.
func same(a, b any) bool {
	an, aok := a.(json.Number)
	bn, bok := b.(json.Number)
	if aok || bok {
		if !aok || !bok {
			return false
		}
		ar, ok1 := new(big.Rat).SetString(string(an))
		br, ok2 := new(big.Rat).SetString(string(bn))
		return ok1 && ok2 && ar.Cmp(br) == 0
	}
	switch a.(type) {
	case map[string]any, []any:
		return false
	}
	switch b.(type) {
	case map[string]any, []any:
		return false
	}
	return a == b
}

// matchAny matches the frames got against the patterns pats in some
// order, and on success adds the bindings to b.
func matchAny(pats, got []any, b bindings) bool {
	if len(pats) == 0 {
		return true
	}
	for i, g := range got {
		try := maps.Clone(b)
		if !match(pats[0], g, try) {
			continue
		}
		if matchAny(pats[1:], slices.Delete(slices.Clone(got), i, i+1), try) {
			maps.Copy(b, try)
			return true
		}
	}
	return false
}

// fill replaces the placeholders of pat with their bound values.
func fill(pat any, b bindings) (any, error) {
	return mapLeaves(pat, func(leaf any) (any, error) {
		p, ok := leaf.(placeholder)
		if !ok {
			return leaf, nil
		}
		v, ok := b[p.name]
		if !ok {
			return nil, fmt.Errorf("$%s is sent before a frame received gives it a value", p.name)
		}
		return v, nil
	})
}

// decodeJSON decodes data with UseNumber, as patterns are.
func decodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func TestFrameMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pat, got string
		want     bool
	}{
		{`{"event":"ack","payload":null,"ref":"1"}`, `{"ref":"1","payload":null,"event":"ack"}`, true},
		{`{"event":"ack","payload":null,"ref":"1"}`, `{"event":"ack","ref":"1"}`, false},          // a field missing
		{`{"event":"ack","ref":"1"}`, `{"event":"ack","payload":null,"ref":"1"}`, false},          // a field too many
		{`{"event":"ack","ref":"1"}`, `{"event":"ack","ref":1}`, false},                           // a number for a string
		{`{"offset":3}`, `{"offset":3.0}`, true},                                                  // numbers by value
		{`{"offset":3}`, `{"offset":4}`, false},                                                   //
		{`{"epoch":"$e"}`, `{"epoch":"x1"}`, true},                                                // a string placeholder
		{`{"epoch":"$e"}`, `{"epoch":7}`, false},                                                  // of the wrong type
		{`{"offset":$n}`, `{"offset":7}`, true},                                                   // a number placeholder
		{`{"offset":$n}`, `{"offset":"7"}`, false},                                                //
		{`{"a":"$e","b":"$e"}`, `{"a":"x","b":"x"}`, true},                                        // one name, one value
		{`{"a":"$e","b":"$e"}`, `{"a":"x","b":"y"}`, false},                                       //
		{`{"a":"$e","b":"$f"}`, `{"a":"x","b":"x"}`, false},                                       // two names, two values
		{`{"a":["$e",{"b":$n}],"c":"$ok"}`, `{"a":["x",{"b":1}],"c":"$ok"}`, true},                // nested
		{`{"text":"costs $5 or $ 6"}`, `{"text":"costs $5 or $ 6"}`, true},                        // inside a longer string, $ is $
		{`{"text":"$5"}`, `{"text":"$5"}`, true},                                                  // no name begins with a digit
		{`{"offset":$}`, `{"offset":1}`, false},                                                   // a bare $ is no pattern
		{`{"payload":{"room":"lobby"}}`, `{"payload":{"room":"lobby","recovered":false}}`, false}, //
	}
	for _, tt := range tests {
		pat, err := parsePattern(tt.pat)
		if err != nil {
			if tt.want {
				t.Errorf("%s: %v", tt.pat, err)
			}
			continue
		}
		got, err := decodeJSON([]byte(tt.got))
		if err != nil {
			t.Fatal(err)
		}
		if m := match(pat, got, bindings{}); m != tt.want {
			t.Errorf("match(%s, %s) = %v, want %v", tt.pat, tt.got, m, tt.want)
		}
	}

	// Frame lines.
	for _, tt := range []struct {
		line string
		want string // the step, shown; "" for a line that is not one
	}{
		{`alice> {"event":"echo"}`, `alice > envelope`},
		{`  < close 4003 "rate limited"`, ` < close 4003 "rate limited"`},
		{`<close 1000`, ` < close 1000 ""`},
		{`bob<~ {"event":"ack","payload":null}`, `bob <~ envelope`},
		{`> text "caf\xe9"`, ` > text "caf\xe9"`},
		{`! flush lobby`, ` ! flush lobby`},
		{`# a comment`, `(none)`},
		{`> hello`, ``},           // not a frame
		{`<~ close 1000`, ``},     // only envelopes in any order
		{`> text hello`, ``},      // not quoted
		{`< {"event":$}`, ``},     // a $ without a name
		{`Alice> {}`, ``},         // names are lower case
		{`< close "no code"`, ``}, //
	} {
		s, ok, err := parseStep(docLine{1, tt.line})
		got := "(none)"
		switch {
		case err != nil:
			got = ""
		case ok && s.op == "!":
			got = fmt.Sprintf("%s %s %s", s.client, s.op, strings.Join(s.words, " "))
		case ok && s.kind == "close":
			reason := ""
			if s.reason != nil {
				reason = *s.reason
			}
			got = fmt.Sprintf("%s %s close %d %q", s.client, s.op, s.code, reason)
		case ok && s.raw != nil:
			got = fmt.Sprintf("%s %s %s %q", s.client, s.op, s.kind, s.raw)
		case ok:
			got = fmt.Sprintf("%s %s %s", s.client, s.op, s.kind)
		}
		if got != tt.want {
			t.Errorf("parseStep(%q) = %q, want %q (err %v)", tt.line, got, tt.want, err)
		}
	}

	// The same name keeps its value from one frame to the next, and an
	// unordered group binds as a whole or not at all.
	b := bindings{}
	first, _ := parsePattern(`{"epoch":"$e"}`)
	if !match(first, map[string]any{"epoch": "x"}, b) {
		t.Fatal("first frame did not match")
	}
	pats := []any{must(parsePattern(`{"epoch":"$e","offset":$n}`)), must(parsePattern(`{"event":"ack"}`))}
	if matchAny(pats, []any{map[string]any{"event": "ack"}, map[string]any{"epoch": "y", "offset": json.Number("1")}}, b) {
		t.Error("an unordered group matched another epoch")
	}
	if _, ok := b["n"]; ok {
		t.Error("a failed group left a binding behind")
	}
	if !matchAny(pats, []any{map[string]any{"event": "ack"}, map[string]any{"epoch": "x", "offset": json.Number("1")}}, b) || b["n"] != json.Number("1") {
		t.Errorf("an unordered group did not match in the other order: %v", b)
	}
	if _, err := fill(must(parsePattern(`{"since":{"epoch":"$unseen"}}`)), b); err == nil {
		t.Error("an unbound placeholder was sent")
	}
}

func must(v any, err error) any {
	if err != nil {
		panic(err)
	}
	return v
}
