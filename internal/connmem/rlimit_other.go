//go:build !unix

package connmem

// RaiseFileLimit does nothing where there are no resource limits.
func RaiseFileLimit(uint64) error { return nil }
