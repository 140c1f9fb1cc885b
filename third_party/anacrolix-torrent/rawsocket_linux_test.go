package torrent

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tcpPair gives both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		done <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// Bytes written through the raw writer arrive whole and in order through the raw reader, also when
// a write is larger than the socket buffers and must wait for the reader (partial writes).
func TestRawSocketCarriesBytes(t *testing.T) {
	a, b := tcpPair(t)
	w, r := rawSocketIO(a), rawSocketIO(b)
	if _, ok := w.(rawSocket); !ok {
		t.Fatalf("rawSocketIO of a TCP connection is %T", w)
	}
	want := make([]byte, 8<<20)
	rand.Read(want)
	errc := make(chan error, 1)
	go func() {
		for off := 0; off < len(want); off += 3 << 20 {
			n, err := w.Write(want[off:min(off+3<<20, len(want))])
			if err == nil && n != min(3<<20, len(want)-off) {
				err = io.ErrShortWrite
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- a.CloseWrite()
	}()
	got, err := io.ReadAll(r) // ends at the writer's FIN: io.EOF, not an error
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, differing from the %d written", len(got), len(want))
	}
}

// A read deadline set on the connection holds for the raw reader, as the peer connection's
// deadline reader needs.
func TestRawSocketReadDeadline(t *testing.T) {
	a, _ := tcpPair(t)
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := rawSocketIO(a).Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("deadline error after %v", d)
	}
}

// Writing to a peer that has gone is an error (EPIPE or ECONNRESET) naming the connection, never a
// SIGPIPE: send(2) is given MSG_NOSIGNAL (the runtime would ignore the signal on a socket, but a
// program watching for SIGPIPE would see it).
func TestRawSocketWriteToClosedPeer(t *testing.T) {
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)
	a, b := tcpPair(t)
	b.SetLinger(0)
	b.Close()
	w := rawSocketIO(a)
	buf := make([]byte, 64<<10)
	// The first failing write may see the peer's reset (ECONNRESET); the ones after it get EPIPE,
	// which is what raises SIGPIPE.
	var err error
	for i := 0; i < 100 && !errors.Is(err, syscall.EPIPE); i++ {
		_, werr := w.Write(buf)
		if werr != nil {
			err = werr
		}
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a closed peer kept succeeding")
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("write error %v; want EPIPE or ECONNRESET", err)
	}
	if !strings.Contains(err.Error(), a.RemoteAddr().String()) {
		t.Errorf("write error %q does not name the peer %s", err, a.RemoteAddr())
	}
	if _, rerr := rawSocketIO(a).Read(make([]byte, 1)); rerr == nil {
		t.Fatal("read from a reset connection succeeded")
	}
	select {
	case <-sigpipe:
		if !raceEnabled {
			t.Error("a write to a closed peer raised SIGPIPE")
		}
	case <-time.After(50 * time.Millisecond):
	}
}

// A write that waits for a peer that does not read ends at the write deadline, with the bytes
// written so far, as the message writer's write timeout needs.
func TestRawSocketWriteDeadline(t *testing.T) {
	a, _ := tcpPair(t)
	w, buf := rawSocketIO(a), make([]byte, 64<<20) // before the deadline: slow under -race
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := w.Write(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past the deadline: %d bytes, %v; want a deadline error", n, err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Errorf("wrote %d bytes before the deadline; want some, not all", n)
	}
}

// Closing the connection wakes a read that waits on it, as dropping a peer does.
func TestRawSocketCloseWakesRead(t *testing.T) {
	a, _ := tcpPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := rawSocketIO(a).Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read waiting on a closed connection did not return")
	}
}

// Anything but a TCP connection is used as it is.
func TestRawSocketIOOther(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	if got := rawSocketIO(c); got != io.ReadWriter(c) {
		t.Fatalf("rawSocketIO(pipe) = %T; want the pipe itself", got)
	}
}

// A reader told that a message's bytes are still to come (Decoder.Want) wakes once they are all
// in, not at each part that arrives; then it waits for the next message with no low-water mark, so
// a short message is read at once; and the end of the stream wakes it even mid-message.
func TestRawSocketLowWater(t *testing.T) {
	if !lowWaterKernel() {
		t.Skip("kernel older than 5.11: no low-water mark")
	}
	a, b := tcpPair(t)
	r := rawSocketIO(b)
	want := readWantOf(r)
	if want == nil {
		t.Fatal("no Want for a raw socket")
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	send := func(n int) {
		if _, err := a.Write(make([]byte, n)); err != nil {
			t.Error(err)
		}
	}

	// A 16 KiB message: 1 KiB is in when the decoder asks for it.
	send(1 << 10)
	time.Sleep(20 * time.Millisecond)
	want(16 << 10)
	if n, err := r.Read(buf); err != nil || n != 1<<10 {
		t.Fatalf("first read: %d, %v; want the 1 KiB that was in", n, err)
	}
	// The other 15 KiB come in three parts, 30 ms apart; the next read returns them at once.
	go func() {
		for range 3 {
			time.Sleep(30 * time.Millisecond)
			send(5 << 10)
		}
	}()
	if n, err := r.Read(buf); err != nil || n != 15<<10 {
		t.Fatalf("second read: %d, %v; want the message's other 15 KiB in one read", n, err)
	}

	// Next, a 9-byte message alone (a HAVE): read as soon as it is in.
	go func() {
		time.Sleep(30 * time.Millisecond)
		send(9)
	}()
	start := time.Now()
	if n, err := r.Read(buf); err != nil || n != 9 {
		t.Fatalf("short message: %d, %v", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("short message took %v", d)
	}

	// A read that can take less than the message (a short buffer) returns once that much is in.
	want(16 << 10)
	go func() {
		for range 2 {
			time.Sleep(30 * time.Millisecond)
			send(4 << 10)
		}
	}()
	if n, err := r.Read(buf[:8<<10]); err != nil || n != 8<<10 {
		t.Fatalf("short buffer: %d, %v; want 8 KiB", n, err)
	}
	send(8 << 10) // the rest of that message
	if n, err := r.Read(buf); err != nil || n != 8<<10 {
		t.Fatalf("rest of the message: %d, %v", n, err)
	}

	// A message that the peer ends mid-way: the reader gets what came, then the end.
	want(16 << 10)
	send(2 << 10)
	go func() {
		time.Sleep(30 * time.Millisecond)
		a.CloseWrite()
	}()
	got := 0
	for {
		n, err := r.Read(buf)
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes of a cut message: %v; want io.EOF", got, err)
		}
	}
	if got != 2<<10 {
		t.Fatalf("read %d bytes of a cut message; want 2 KiB", got)
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v669", true},
		{"5.11.0", true},
		{"5.10.0-28-amd64", false},
		{"4.19.0", false},
		{"10.0", true},
		{"5", false},
		{"", false},
		{"garbage", false},
	} {
		if got := kernelAtLeast(c.release, 5, 11); got != c.want {
			t.Errorf("kernelAtLeast(%q, 5, 11) = %v; want %v", c.release, got, c.want)
		}
	}
}
