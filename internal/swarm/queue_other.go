//go:build !linux

package swarm

import (
	"errors"
	"net"
	"time"
)

// minRTT needs Linux's TCP_INFO; elsewhere a client keeps the depth a
// publisher asks for at zero round-trip time, and peerQueue at other peers
// (no time bound).
func minRTT(net.Conn) (time.Duration, error) {
	return 0, errors.New("round-trip time unknown on this system")
}
