package daemon

import "golang.org/x/sys/unix"

// peerCred reads a unix socket's peer from SO_PEERCRED.
func peerCred(fd int) (*peerCredentials, error) {
	c, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return nil, err
	}
	return &peerCredentials{uid: c.Uid, pid: c.Pid}, nil
}

// MaxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes with the terminating NUL).
const MaxSocketPath = 107
