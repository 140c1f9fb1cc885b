//go:build !unix

package stage

import "os"

// openNoFollow opens p for reading (the caller checks what it opened).
func openNoFollow(p string) (*os.File, error) {
	return os.Open(p)
}
