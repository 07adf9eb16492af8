// Package pathparam reads the wildcard names of a net/http ServeMux
// pattern, such as the one a request's Pattern field holds after
// ServeMux matched it, so that the websocket package can list a
// request's path values with PathValue.
package pathparam

import (
	"iter"
	"strings"
	"unicode"
)

// Wildcards yields the wildcard names of a ServeMux pattern
// ("[METHOD ][HOST]/[PATH]"), in order: name for {name} and {name...};
// {$} is not a wildcard. It follows ServeMux's grammar: a method ends at
// the first space or tab, the host at the first '/', which it cannot
// contain, and a wildcard is a whole path segment whose name is a Go
// identifier. A pattern that breaks that grammar in its path (ServeMux
// would refuse it; another router may have set it) yields nothing.
// Wildcards does not allocate.
func Wildcards(pattern string) iter.Seq[string] {
	return func(yield func(string) bool) {
		path, ok := pathOf(pattern)
		if !ok || !valid(path) {
			return
		}
		for name := range names(path) {
			if !yield(name) {
				return
			}
		}
	}
}

// pathOf returns the path part of pattern: what follows the method and
// the host. ok is false when there is none or the host holds a '{'.
func pathOf(pattern string) (path string, ok bool) {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	i := strings.IndexByte(pattern, '/')
	if i < 0 || strings.IndexByte(pattern[:i], '{') >= 0 {
		return "", false
	}
	return pattern[i:], true
}

// valid reports whether every segment of path is a literal without '{'
// or a wildcard with a valid name, {$} and {name...} come last, and no
// name repeats.
func valid(path string) bool {
	for seg, rest := range segments(path) {
		if strings.IndexByte(seg, '{') < 0 {
			continue
		}
		name, multi, ok := wildcard(seg)
		if !ok {
			return false
		}
		if name == "$" && !multi {
			if rest != "" {
				return false
			}
			continue
		}
		if !validName(name) || multi && rest != "" {
			return false
		}
		n := 0
		for other := range names(path) {
			if other == name {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// names yields the names of path's wildcard segments, without checking
// them (valid does).
func names(path string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for seg := range segments(path) {
			if name, _, ok := wildcard(seg); ok && name != "$" && !yield(name) {
				return
			}
		}
	}
}

// segments yields each slash-separated segment of path (which starts
// with '/') with what follows it; a trailing slash yields no segment.
func segments(path string) iter.Seq2[string, string] {
	return func(yield func(seg, rest string) bool) {
		for rest := path; len(rest) > 1; {
			rest = rest[1:]
			seg := rest
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				seg, rest = rest[:i], rest[i:]
			} else {
				rest = ""
			}
			if !yield(seg, rest) {
				return
			}
		}
	}
}

// wildcard splits a segment of the form {name} or {name...}. ok is false
// when seg has another form.
func wildcard(seg string) (name string, multi, ok bool) {
	if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false, false
	}
	name, multi = strings.CutSuffix(seg[1:len(seg)-1], "...")
	return name, multi, true
}

// validName reports whether s is a Go identifier, as ServeMux requires of
// a wildcard name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !unicode.IsLetter(c) && c != '_' && (i == 0 || !unicode.IsDigit(c)) {
			return false
		}
	}
	return true
}
