package websocket

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// chunkReader returns its data in reads of the given sizes, then the rest.
type chunkReader struct {
	data  []byte
	sizes []int
	prev  int // bytes returned before the latest read
	total int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = min(max(r.sizes[0], 1), n)
		r.sizes = r.sizes[1:]
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	r.prev, r.total = r.total, r.total+n
	return n, nil
}

// readAll reads a message through a messageReader without a limit.
func readAll(r io.Reader, text bool) ([]byte, error) {
	return io.ReadAll(&messageReader{r: r, left: -1, text: text})
}

// A messageReader of a text message agrees with utf8.Valid however the message is cut
// into reads, and stops at the first read that brings a byte no later
// bytes could make valid.
func FuzzReadAllText(f *testing.F) {
	f.Add([]byte("héllo 😀"), []byte{1, 2, 3})
	f.Add([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), []byte{12, 1})
	f.Add([]byte("a\xe2\x82"), []byte{2})
	f.Add([]byte("\xed\xa0\x80"), []byte{1, 1})
	f.Add([]byte("\xf0\x9d\x84\x9e\xf0\x9d"), []byte{3, 3})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = int(c)
		}
		r := &chunkReader{data: data, sizes: sizes}
		got, err := readAll(r, true)
		valid := utf8.Valid(data)
		if valid != (err == nil) {
			t.Fatalf("readAll(%q) = %v, utf8.Valid = %v", data, err, valid)
		}
		if valid && !bytes.Equal(got, data) {
			t.Fatalf("readAll(%q) = %q", data, got)
		}
		if !valid {
			// Fail fast: every byte but the last read's could still
			// begin valid UTF-8.
			if !bytes.HasPrefix(data, got) {
				t.Fatalf("read %q, not a prefix of %q", got, data)
			}
			if !validPrefix(data[:r.prev]) {
				t.Fatalf("read on past the first invalid byte: %q of %q", got, data)
			}
		}
		// Binary messages are read whole, whatever they hold.
		if b, err := readAll(iotest.HalfReader(bytes.NewReader(data)), false); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("binary: %q, %v", b, err)
		}
	})
}

// validPrefix reports whether some bytes appended to p make valid UTF-8.
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for n := 1; n < utf8.UTFMax; n++ {
		for _, first := range []byte{0x80, 0x90, 0xa0} {
			tail := append([]byte{first}, bytes.Repeat([]byte{0x80}, n-1)...)
			if utf8.Valid(append(append([]byte(nil), p...), tail...)) {
				return true
			}
		}
	}
	return false
}
