package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHoldFileCountsInTotal: a file a handler holds (HoldFile) takes a
// slot of the total beside its connection's, and makes room as a new
// connection does. Total 3, each step's answer and the counts after it.
// Before, the total counted sockets alone: a listener at its total could
// hold twice as many descriptors, and the process hit EMFILE
// (TestWebSeedDescriptorsWithinTotal in internal/server shows it).
func TestHoldFileCountsInTotal(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Wrap(tcp, Options{PerIP: 10, Total: 3})
	finish := make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, ok := HoldFile(w, r)
		if !ok {
			return
		}
		defer release()
		w.Header().Set("Content-Length", "4")
		io.WriteString(w, "he")
		w.(http.Flusher).Flush()
		<-finish // a download in progress, its file open
		io.WriteString(w, "ld")
	})}
	ln.Bind(srv)
	go srv.Serve(ln)
	defer srv.Close()

	dial := func(ip string) net.Conn {
		t.Helper()
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}).Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Skipf("cannot dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	// ask sends a GET on c and returns the answer's status (0: the
	// connection was closed) and its reader.
	ask := func(c net.Conn) (int, *http.Response) {
		t.Helper()
		if _, err := io.WriteString(c, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return 0, nil
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, nil
		}
		return resp.StatusCode, resp
	}
	waitHeld := func(total, idle int) {
		t.Helper()
		for range 500 {
			if n, i := ln.held(); n == total && i == idle {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		n, i := ln.held()
		t.Fatalf("the listener holds %d descriptors, %d idle connections; want %d, %d", n, i, total, idle)
	}

	// 127.0.0.2: two silent connections and one asking for the file. The
	// total is full of its own connections: 503, nothing to take.
	dial("127.0.0.2")
	dial("127.0.0.2")
	c2 := dial("127.0.0.2")
	if code, resp := ask(c2); code != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "10" {
		t.Fatalf("the file at the total of the asker's own connections: %d, want 503 with Retry-After 10", code)
	}
	if got := ln.Counts(); got != (Counts{RefusedFile: 1}) {
		t.Errorf("counts %+v after the 503, want RefusedFile 1", got)
	}
	waitHeld(3, 1)

	// 127.0.0.3: admitted in place of 127.0.0.2's connection idle since
	// its 503; its file takes the slot of a silent one of 127.0.0.2,
	// which holds more connections (fair share).
	c3 := dial("127.0.0.3")
	code, resp := ask(c3)
	if code != http.StatusOK {
		t.Fatalf("the file from another address: %d, want 200", code)
	}
	if got := ln.Counts(); got != (Counts{RefusedFile: 1, FairClosed: 1, IdleClosed: 1}) {
		t.Errorf("counts %+v while 127.0.0.3 downloads, want FairClosed 1, IdleClosed 1", got)
	}
	waitHeld(3, 0)

	// 127.0.0.4: the download's connection and file and a silent
	// connection are the total, none idle, no address holding more than
	// one other: the newcomer is refused (before, it was let in: four
	// descriptors for a total of three).
	if code, _ := ask(dial("127.0.0.4")); code != 0 {
		t.Fatalf("a newcomer beside a download at a total of 2: %d, want refused", code)
	}
	if got := ln.Counts().RefusedTotal; got != 1 {
		t.Errorf("RefusedTotal = %d, want 1", got)
	}

	// The download ends: its file's slot comes back, and a newcomer is in.
	close(finish)
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "held" {
		t.Fatalf("the download read %q, %v", b, err)
	}
	waitHeld(2, 1)
	if code, _ := ask(dial("127.0.0.4")); code != http.StatusOK {
		t.Errorf("a newcomer once the download ended: %d, want 200", code)
	}
}

// held is the descriptors the listener counts and its idle connections.
func (l *Listener) held() (total, idle int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.idle.Len()
}
