//go:build !linux && !darwin && !freebsd

package daemon

import (
	"errors"
	"runtime"
)

// peerCred cannot tell who connected on this platform, so every caller is
// refused (onlyOwner): a daemon that cannot check its callers serves none.
func peerCred(int) (*peerCredentials, error) {
	return nil, errors.New("peer credentials of a unix socket are not available on " + runtime.GOOS)
}

// MaxSocketPath is the shortest sun_path of the BSDs (104 bytes with the
// terminating NUL).
const MaxSocketPath = 103
