//go:build darwin || freebsd

package daemon

import "golang.org/x/sys/unix"

// peerCred reads a unix socket's peer from LOCAL_PEERCRED, which gives the
// user but not the pid.
func peerCred(fd int) (*peerCredentials, error) {
	c, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return nil, err
	}
	return &peerCredentials{uid: c.Uid}, nil
}

// MaxSocketPath is the longest unix socket path Go accepts on macOS and
// FreeBSD (sun_path holds 104 bytes with the terminating NUL).
const MaxSocketPath = 103
