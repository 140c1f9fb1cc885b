//go:build !linux

package fsutil

import (
	"errors"
	"os"
)

// SetDirect is not supported here: writes go through the cache.
func SetDirect(f *os.File, on bool) error { return errors.ErrUnsupported }
