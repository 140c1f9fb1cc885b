package torrent

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failingListener fails every Accept as a listener out of descriptors does (EMFILE), at once.
type failingListener struct{ accepts atomic.Int64 }

func (l *failingListener) Accept() (net.Conn, error) {
	l.accepts.Add(1)
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
}

func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptBackoff (patch 51): a listener whose accepts fail at once (a process out of
// descriptors) is asked again after a growing wait, not in a loop that takes a core: an
// attacker's run saw 26,937 failed accepts in 3 s. The loop still ends when the client closes.
func TestAcceptBackoff(t *testing.T) {
	cl, err := NewClient(TestingConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	l := &failingListener{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.acceptConnections(l)
	}()
	time.Sleep(300 * time.Millisecond)
	// 5, 10, 20, 40, 80, 160 ms: about 6 in 300 ms.
	if n := l.accepts.Load(); n > 12 {
		t.Errorf("%d accepts in 300 ms of failures", n)
	}
	cl.Close()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the accept loop did not end when the client closed")
	}
}
