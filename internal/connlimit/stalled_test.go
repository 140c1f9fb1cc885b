package connlimit

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestFairShareCutsStalledReplies: three downloads from 127.0.0.2 that
// their client never reads fill the total (3), nothing idle, nothing
// silent. Once their writes have lasted stallAfter, a newcomer from
// 127.0.0.3 takes the place of one of them; before, it was refused, and
// twelve addresses holding 2,500 such downloads kept every client out for
// the 30 minutes of WriteTimeout (an attacker's run).
func TestFairShareCutsStalledReplies(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var now atomic.Int64
	now.Store(time.Unix(1e9, 0).UnixNano())
	ln := Wrap(tcp, Options{PerIP: 10, Total: 3, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	body := make([]byte, 32<<20) // far more than the socket buffers hold
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/small" {
				w.Write([]byte("ok"))
				return
			}
			w.Write(body)
		}),
	}
	ln.Bind(srv)
	go srv.Serve(ln)
	defer srv.Close()

	dial := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Skip(err) // no 127.0.0.2 on this system
		}
		return c
	}
	for range 3 {
		c := dial("127.0.0.2")
		defer c.Close()
		if _, err := c.Write([]byte("GET /archive HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// Wait, bounded, until each of the three is blocked in a write.
	deadline := time.Now().Add(10 * time.Second)
	for ln.writing() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the downloads did not block in a write: %d writing", ln.writing())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // blocked, not between two writes
	now.Add(int64(stallAfter + time.Second))

	c := dial("127.0.0.3")
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the newcomer was refused while three stalled downloads held the total: %v (counts %+v)", err, ln.Counts())
	}
	resp.Body.Close()
	if got := ln.Counts().FairClosed; got != 1 {
		t.Errorf("FairClosed = %d, want 1", got)
	}
}

// writing counts the connections in a write.
func (l *Listener) writing() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, q := range l.oldest {
		for e := q.Front(); e != nil; e = e.Next() {
			if e.Value.(*conn).writeSince.Load() != 0 {
				n++
			}
		}
	}
	return n
}
