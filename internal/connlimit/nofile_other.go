//go:build !unix

package connlimit

// openFileLimit is unknown here: DefaultTotal is DefaultMaxTotal.
func openFileLimit() int { return 0 }
