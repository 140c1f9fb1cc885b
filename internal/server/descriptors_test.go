package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/proctest"
)

// The catalog listener's total, in the child of
// TestWebSeedDescriptorsWithinTotal (its descriptor limit is 8 times it,
// so that connlimit's default total is this, then lowered).
const fdTotal = 16

// fdArchive is the archive the child serves: far larger than the socket
// buffers, so that a download its client does not read stays open.
const fdArchive = "big-1.0.0.tar.zst"

// TestWebSeedDescriptorsWithinTotal: a web-seed download holds its socket
// and the archive it reads, and the listener's total counted only the
// socket. A child process serves the catalog and its web seed through
// serveOn with a descriptor limit of what it holds at rest, the total
// (16) and one for an accept about to be refused: 16 silent connections
// from 127.0.0.2 fill the total, then 8 of them ask for the archive and
// never read it. Before, each opened the archive beyond the total: the
// process hit EMFILE, answered 500 ("archive unreadable") and could not
// accept. Now every answer is a download or a 503, the process never
// meets EMFILE, and a client at 127.0.0.3 still downloads the archive
// whole (the address holding the most gives up a silent connection).
func TestWebSeedDescriptorsWithinTotal(t *testing.T) {
	if os.Getenv("DISTPAC_TEST_FD_CHILD") != "" {
		fdChild()
		return
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc:", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWebSeedDescriptorsWithinTotal$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DISTPAC_TEST_FD_CHILD="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe() // closed: the child stops
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proctest.Start(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once the child has exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	defer func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	var addr string
	var base, limit int
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		if _, err := fmt.Sscanf(line, "serving %s base %d limit %d", &addr, &base, &limit); err != nil {
			t.Fatalf("child said %q: %v; its stderr: %s", line, err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not start in 30 s")
	}
	fds := func() int {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
		return len(ents)
	}

	hostile := make([]net.Conn, fdTotal)
	for i := range hostile {
		c, err := dialSmall(addr, "127.0.0.2")
		if err != nil {
			t.Skip("no 127.0.0.2 here:", err)
		}
		defer c.Close()
		hostile[i] = c
	}
	waitFor(t, "the child to accept 16 connections", func() bool { return fds() >= base+fdTotal })

	most := 0
	answers := map[string]int{}
	for _, c := range hostile[:fdTotal/2] {
		if _, err := io.WriteString(c, "GET /packages/"+fdArchive+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			answers["write failed"]++
			continue
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
		switch {
		case err != nil:
			answers["closed"]++ // an idle connection closed to make room
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable:
			answers[resp.Status]++ // a 200's body is left unread: the download stalls
		default:
			t.Errorf("a download at the total bound answered %s", resp.Status)
		}
		most = max(most, fds())
	}
	t.Logf("8 downloads from 127.0.0.2 holding 16 connections: %v; the child holds at most %d descriptors (%d at rest, limit %d)", answers, most, base, limit)

	// An honest client from another address: the catalog and the whole
	// archive.
	for _, path := range []string{catalogserver.PathCatalog, catalogserver.PathArchives + fdArchive} {
		c, err := dialFrom(addr, "127.0.0.3")
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("honest GET %s at the bound: %v; child's log: %s", path, err, stderr.String())
		}
		n, err := io.Copy(io.Discard, resp.Body)
		c.Close()
		if resp.StatusCode != http.StatusOK || err != nil || n != resp.ContentLength {
			t.Errorf("honest GET %s at the bound: %s, %d of %d bytes, %v", path, resp.Status, n, resp.ContentLength, err)
		}
		most = max(most, fds())
	}
	if most > limit {
		t.Errorf("the child held %d descriptors, over its limit %d", most, limit)
	}
	stdin.Close()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not stop")
	}
	if log := stderr.String(); strings.Contains(log, "too many open files") || strings.Contains(log, "archive unreadable") {
		t.Errorf("the child ran out of descriptors:\n%s", log)
	}
}

// fdChild is the child of TestWebSeedDescriptorsWithinTotal: the catalog
// server through serveOn, a listener whose default total is fdTotal, in a
// process whose descriptor limit is what it holds now, the total and one
// (the accept of a connection about to be refused). It says where it
// serves on stdout and stops when stdin closes.
func fdChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	dir := os.Getenv("DISTPAC_TEST_FD_CHILD")
	if err := setNoFile(8 * fdTotal); err != nil { // connlimit.DefaultTotal is an eighth
		fail(err)
	}
	archive := filepath.Join(dir, fdArchive)
	if err := os.WriteFile(archive, nil, 0o644); err != nil {
		fail(err)
	}
	if err := os.Truncate(archive, 64<<20); err != nil { // sparse
		fail(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cs := catalogserver.New(catalogserver.Options{ArchivesDir: dir, Logger: log})
	cs.SetSnapshot([]byte("catalog"), []byte("sig"), 1, []string{fdArchive})
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	g := &httpGroup{log: log}
	a := g.serveOn("catalog", tcp, cs.Handler())
	// What is held at rest: the limit bounds descriptors' numbers, all
	// below it here, so the room left is the limit less the count.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		fail(err)
	}
	base := len(ents) - 1 // less ReadDir's own
	limit := base + fdTotal + 1
	if err := setNoFile(limit); err != nil {
		fail(err)
	}
	fmt.Printf("serving %s base %d limit %d\n", a, base, limit)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
	}
	g.shutdown()
}

// setNoFile sets the soft limit on open descriptors to n.
func setNoFile(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	lim.Cur = uint64(n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("set RLIMIT_NOFILE to %d: %w", n, err)
	}
	return nil
}

// dialSmall connects from local with a 4 KiB receive buffer, so that a
// download it does not read stalls at once.
func dialSmall(addr, local string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second,
		Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
	return d.Dial("tcp", addr)
}
