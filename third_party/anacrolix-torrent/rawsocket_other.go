//go:build !linux

package torrent

import (
	"io"
	"net"
)

// rawSocketIO is the connection itself where raw socket calls are not written (see
// rawsocket_linux.go).
func rawSocketIO(nc net.Conn) io.ReadWriter { return nc }

// readWantOf is nil: no low-water mark (see rawsocket_linux.go).
func readWantOf(rw io.ReadWriter) func(int) { return nil }
