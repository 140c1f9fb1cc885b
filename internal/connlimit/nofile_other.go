//go:build !unix

package connlimit

// OpenFileLimit is unknown here (0): DefaultTotal is DefaultMaxTotal.
func OpenFileLimit() int { return 0 }
