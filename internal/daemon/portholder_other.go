//go:build !linux

package daemon

// holdsListener cannot tell on this platform who holds a listener
// (portholder_linux.go reads /proc): the daemon waits for the
// dist-client at work, as it would for one that holds peer_addr.
func holdsListener(pid, port int) (holds, known bool) { return false, false }
