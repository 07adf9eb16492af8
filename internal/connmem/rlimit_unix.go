//go:build unix

package connmem

import "syscall"

// RaiseFileLimit raises the soft limit on open files to at least n, up to
// the hard limit, for the connections of a measurement.
func RaiseFileLimit(n uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= n {
		return nil
	}
	l.Cur = min(n, l.Max)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}
