package connlimit

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// server accepts from a limited loopback listener and greets every
// connection it is given with "hi", so that a client tells an accepted
// connection (it reads "hi") from a refused one (it reads an error).
type server struct {
	ln   *Listener
	mu   sync.Mutex
	got  []net.Conn
	done chan struct{}
}

func newServer(t *testing.T, opts Options) *server {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: Wrap(tcp, opts), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, c)
			s.mu.Unlock()
			c.Write([]byte("hi"))
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		<-s.done
		for _, c := range s.got {
			c.Close()
		}
	})
	return s
}

// dial connects from local and reports whether the server accepted.
func (s *server) dial(t *testing.T, local string) bool {
	t.Helper()
	_, ok := s.dialConn(t, local)
	return ok
}

// dialConn connects from local and returns the client's end and whether
// the server accepted it.
func (s *server) dialConn(t *testing.T, local string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.ln.Addr().String())
	if errors.Is(err, syscall.ECONNRESET) {
		return nil, false // reset before the dial returned
	}
	if err != nil {
		if local != "127.0.0.1" {
			t.Skipf("cannot dial from %s: %v", local, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 2)
	_, err = io.ReadFull(c, b)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("from %s: neither greeted nor closed in 5 s", local)
	}
	c.SetReadDeadline(time.Time{})
	return c, err == nil && string(b) == "hi"
}

// closed reports whether the server closed the client's end c within 5 s.
func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

// serverConn returns the i-th connection the server accepted.
func (s *server) serverConn(i int) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[i]
}

func TestBounds(t *testing.T) {
	s := newServer(t, Options{PerIP: 2, Total: 3})
	for i, tt := range []struct {
		from string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.1", true},
		{"127.0.0.1", false}, // over PerIP
		{"127.0.0.2", true},
		{"127.0.0.3", true},  // over Total: 127.0.0.1, holding the most, gives up its oldest
		{"127.0.0.4", false}, // over Total, every address holding one
	} {
		if got := s.dial(t, tt.from); got != tt.want {
			t.Fatalf("connection %d from %s accepted %v, want %v", i+1, tt.from, got, tt.want)
		}
	}
	if got := s.ln.Counts(); got != (Counts{RefusedPerIP: 1, RefusedTotal: 1, FairClosed: 1}) {
		t.Errorf("Counts = %+v, want one refusal of each and one connection closed for a fair share", got)
	}
	// Closing gives the slot back, once however often it is closed.
	c := s.serverConn(1) // the first was closed for 127.0.0.3
	c.Close()
	c.Close()
	if !s.dial(t, "127.0.0.1") {
		t.Fatal("a closed connection gave its slot back to no one")
	}
	if s.dial(t, "127.0.0.1") {
		t.Fatal("a connection closed twice gave back two slots")
	}
}

// TestIdleMakesRoom: a connection over a bound takes the slot of the
// longest-idle connection within that bound (the address's for PerIP,
// anyone's for Total), which is closed; only with none idle is it refused.
func TestIdleMakesRoom(t *testing.T) {
	s := newServer(t, Options{PerIP: 2, Total: 3})
	a1, _ := s.dialConn(t, "127.0.0.1")
	s.dial(t, "127.0.0.1")
	s.ln.SetIdle(s.serverConn(0), true)
	s.ln.SetIdle(s.serverConn(0), true) // twice: still one idle connection
	if !s.dial(t, "127.0.0.1") {
		t.Fatal("an address at its bound with an idle connection was refused")
	}
	if !closed(a1) {
		t.Fatal("the idle connection that made room is still open")
	}
	if s.dial(t, "127.0.0.1") {
		t.Fatal("an address at its bound with nothing idle was served")
	}
	// Total: the longest idle of any address makes room.
	if !s.dial(t, "127.0.0.2") {
		t.Fatal("a second address refused below Total")
	}
	s.ln.SetIdle(s.serverConn(1), true)
	s.ln.SetIdle(s.serverConn(3), true)
	s.ln.SetIdle(s.serverConn(3), false) // busy again: not to be closed
	if !s.dial(t, "127.0.0.3") {
		t.Fatal("a third address refused at Total with a connection idle")
	}
	if s.dial(t, "127.0.0.3") {
		t.Fatal("a connection served over Total with nothing idle")
	}
	if got := s.ln.Counts(); got != (Counts{RefusedPerIP: 1, RefusedTotal: 1, IdleClosed: 2}) {
		t.Errorf("Counts = %+v, want 2 idle closed and one refusal of each", got)
	}
}

func TestHost(t *testing.T) {
	for _, tt := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), Port: 1}, "2001:db8:1:2::"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::9"), Port: 1}, "2001:db8:1:2::"},
		{&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, "invalid IP"},
	} {
		if got := host(tt.addr).String(); got != tt.want {
			t.Errorf("host(%v) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// TestLogRateLimited: a flood of refusals is one log line per LogEvery,
// naming the address and how many were refused since the line before.
func TestLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	var clock atomic.Int64 // the fake clock, in seconds
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	s := newServer(t, Options{Name: "tracker", PerIP: 1, Logger: logger, LogEvery: 10 * time.Second, Now: now})
	s.dial(t, "127.0.0.1")
	for range 3 {
		s.dial(t, "127.0.0.1")
	}
	clock.Add(10)
	s.dial(t, "127.0.0.1")
	mu.Lock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	mu.Unlock()
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 4 refusals over 10 s, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{"events_since_last_line=1", "events_since_last_line=3"} {
		for _, w := range []string{"level=WARN", "listener=tracker", "ip=127.0.0.1", "limit=1", want} {
			if !strings.Contains(lines[i], w) {
				t.Errorf("log line %d lacks %s: %s", i+1, w, lines[i])
			}
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestDefaultTotal(t *testing.T) {
	n := DefaultTotal()
	if lim := OpenFileLimit(); lim > 0 && n > max(1, lim/8) || n > DefaultMaxTotal || n < 1 {
		t.Fatalf("DefaultTotal = %d with a descriptor limit of %d", n, OpenFileLimit())
	}
	t.Logf("figure: descriptor limit %d, DefaultTotal %d", OpenFileLimit(), n)
}

// TestFairShare: addresses holding silent connections (none idle) that
// fill Total do not keep a new address out: the address holding the most
// gives up its oldest connection, which is closed. Before, ten addresses
// of 250 connections each filled a total of 2,500 and every other client
// was refused (found by a review).
func TestFairShare(t *testing.T) {
	var mu sync.Mutex
	var logged bytes.Buffer
	s := newServer(t, Options{PerIP: 10, Total: 6, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))})
	var held []net.Conn
	for _, from := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.11", "127.0.0.12", "127.0.0.11", "127.0.0.12"} {
		c, ok := s.dialConn(t, from)
		if !ok {
			t.Fatalf("a connection from %s within the bounds was refused", from)
		}
		held = append(held, c)
	}
	if !s.dial(t, "127.0.0.2") {
		t.Fatal("a new address was refused while two addresses hold the whole total")
	}
	if !closed(held[0]) && !closed(held[1]) {
		t.Error("neither holder's oldest connection was closed to make room")
	}
	if got := s.ln.Counts(); got.FairClosed != 1 || got.RefusedTotal != 0 {
		t.Errorf("Counts = %+v, want one connection closed for a fair share and none refused", got)
	}
	mu.Lock()
	line := logged.String()
	mu.Unlock()
	if !strings.Contains(line, "new_ip=127.0.0.2 ") || !strings.Contains(line, "closed_ip=127.0.0.11 ") && !strings.Contains(line, "closed_ip=127.0.0.12 ") {
		t.Errorf("log %q: want the closed and the new address named", line)
	}
}
