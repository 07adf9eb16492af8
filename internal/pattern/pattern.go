// Package pattern parses and matches the WebSocket route patterns of the
// router package: literal segments, {name}, typed {name:int}, {name:uuid},
// {name:slug} and a trailing {rest...}.
package pattern

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Kind is the kind of one pattern segment. Lower kinds are more specific:
// when two patterns match the same path, the one whose first differing
// segment has the lower kind wins.
type Kind uint8

const (
	Literal Kind = iota // exact text
	Int                 // {name:int}: an optional minus sign and decimal digits that fit an int64
	UUID                // {name:uuid}: 8-4-4-4-12 hexadecimal digits
	Slug                // {name:slug}: ASCII letters, digits, '-' and '_'
	Any                 // {name}: any non-empty segment
	Rest                // {name...}: the rest of the path, possibly empty; last segment only
)

// Segment is one slash-separated piece of a pattern.
type Segment struct {
	Kind  Kind
	Value string // literal text, or the parameter name
}

// Pattern is a parsed route pattern.
type Pattern struct {
	Raw  string
	Segs []Segment
}

// Param is a matched path parameter.
type Param struct {
	Name  string
	Value string
}

// MaxLen bounds the length of a pattern, to keep parsing cheap on any input.
const MaxLen = 4096

// Parse parses a pattern such as "/rooms/{id:int}/files/{path...}".
func Parse(s string) (*Pattern, error) {
	if len(s) > MaxLen {
		return nil, fmt.Errorf("pattern longer than %d bytes", MaxLen)
	}
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("pattern %q must start with '/'", s)
	}
	p := &Pattern{Raw: s}
	if s == "/" {
		p.Segs = []Segment{{Kind: Literal}}
		return p, nil
	}
	parts := strings.Split(s[1:], "/")
	seen := make(map[string]bool)
	for i, part := range parts {
		last := i == len(parts)-1
		if part == "" && !last {
			return nil, fmt.Errorf("pattern %q has an empty segment", s)
		}
		if !strings.HasPrefix(part, "{") {
			if strings.ContainsAny(part, "{}") {
				return nil, fmt.Errorf("pattern %q: segment %q mixes text and a parameter; a parameter must be a whole segment", s, part)
			}
			p.Segs = append(p.Segs, Segment{Kind: Literal, Value: part})
			continue
		}
		if !strings.HasSuffix(part, "}") || strings.Count(part, "{") != 1 || strings.Count(part, "}") != 1 {
			return nil, fmt.Errorf("pattern %q: malformed parameter segment %q", s, part)
		}
		body := part[1 : len(part)-1]
		seg, err := parseParam(body)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", s, err)
		}
		if seg.Kind == Rest && !last {
			return nil, fmt.Errorf("pattern %q: {%s} must be the last segment", s, body)
		}
		if seen[seg.Value] {
			return nil, fmt.Errorf("pattern %q: duplicate parameter name %q", s, seg.Value)
		}
		seen[seg.Value] = true
		p.Segs = append(p.Segs, seg)
	}
	return p, nil
}

func parseParam(body string) (Segment, error) {
	if name, ok := strings.CutSuffix(body, "..."); ok {
		if !validName(name) {
			return Segment{}, fmt.Errorf("invalid parameter name %q", name)
		}
		return Segment{Kind: Rest, Value: name}, nil
	}
	name, typ, typed := strings.Cut(body, ":")
	if !validName(name) {
		return Segment{}, fmt.Errorf("invalid parameter name %q", name)
	}
	if !typed {
		return Segment{Kind: Any, Value: name}, nil
	}
	switch typ {
	case "int":
		return Segment{Kind: Int, Value: name}, nil
	case "uuid":
		return Segment{Kind: UUID, Value: name}, nil
	case "slug":
		return Segment{Kind: Slug, Value: name}, nil
	case "str", "string":
		return Segment{Kind: Any, Value: name}, nil
	}
	return Segment{}, fmt.Errorf("unknown parameter type %q (want int, uuid or slug)", typ)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Names returns the parameter names in pattern order.
func (p *Pattern) Names() []string {
	var names []string
	for _, s := range p.Segs {
		if s.Kind != Literal {
			names = append(names, s.Value)
		}
	}
	return names
}

// IsLiteral reports whether the pattern has no parameters.
func (p *Pattern) IsLiteral() bool {
	for _, s := range p.Segs {
		if s.Kind != Literal {
			return false
		}
	}
	return true
}

// Match matches an escaped path (as url.URL.EscapedPath returns it) and
// appends the parameters to dst. Literal segments compare against the
// unescaped segment; parameter values are unescaped.
func (p *Pattern) Match(path string, dst []Param) ([]Param, bool) {
	if !strings.HasPrefix(path, "/") {
		return dst, false
	}
	rest := path[1:]
	start := len(dst)
	for i, seg := range p.Segs {
		if seg.Kind == Rest {
			v, err := url.PathUnescape(rest)
			if err != nil {
				return dst[:start], false
			}
			return append(dst, Param{Name: seg.Value, Value: v}), true
		}
		var part string
		var more bool
		part, rest, more = strings.Cut(rest, "/")
		if more != (i < len(p.Segs)-1) {
			return dst[:start], false
		}
		v, err := url.PathUnescape(part)
		if err != nil {
			return dst[:start], false
		}
		if seg.Kind == Literal {
			if v != seg.Value {
				return dst[:start], false
			}
			continue
		}
		if !accepts(seg.Kind, v) {
			return dst[:start], false
		}
		dst = append(dst, Param{Name: seg.Value, Value: v})
	}
	return dst, true
}

// MatchPrefix reports whether a literal pattern is a segment-wise prefix of
// the escaped path, and returns the remainder (starting with '/', or empty).
func (p *Pattern) MatchPrefix(path string) (string, bool) {
	if p.Raw == "/" {
		return path, true
	}
	prefix := strings.TrimSuffix(p.Raw, "/")
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	rem := path[len(prefix):]
	if rem != "" && rem[0] != '/' {
		return "", false
	}
	return rem, true
}

func accepts(k Kind, v string) bool {
	switch k {
	case Any:
		return v != ""
	case Int:
		_, err := strconv.ParseInt(v, 10, 64)
		return err == nil && !strings.HasPrefix(v, "+")
	case UUID:
		return isUUID(v)
	case Slug:
		if v == "" {
			return false
		}
		for i := 0; i < len(v); i++ {
			c := v[i]
			if !(c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return false
			}
		}
		return true
	}
	return false
}

func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Conflicts reports whether p and q have the same shape: the same number of
// segments, the same literals and the same parameter kinds in the same
// places. Two such patterns would match exactly the same paths.
func (p *Pattern) Conflicts(q *Pattern) bool {
	if len(p.Segs) != len(q.Segs) {
		return false
	}
	for i := range p.Segs {
		a, b := p.Segs[i], q.Segs[i]
		if a.Kind != b.Kind || a.Kind == Literal && a.Value != b.Value {
			return false
		}
	}
	return true
}

// Less orders patterns by specificity: segment by segment from the left, the
// lower Kind first; a literal sorts before any parameter. Trying patterns in
// this order and taking the first match gives the most specific route.
func Less(p, q *Pattern) bool {
	for i := 0; i < len(p.Segs) && i < len(q.Segs); i++ {
		a, b := p.Segs[i], q.Segs[i]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
	}
	return len(p.Segs) > len(q.Segs)
}
