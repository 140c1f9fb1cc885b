//go:build !linux

package torrent

import (
	"io"
	"net"
)

// rawSocketIO is the connection itself where raw socket calls are not written (see
// rawsocket_linux.go).
func rawSocketIO(nc net.Conn) io.ReadWriter { return nc }
