package namedfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/httprange"
)

// fixture writes the named files with random content into a temp dir and
// returns their paths and contents.
func fixture(t *testing.T, sizes map[string]int) (paths []string, content map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	content = make(map[string][]byte)
	for name, size := range sizes {
		b := make([]byte, size)
		rand.Read(b)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		content[name] = b
	}
	return paths, content
}

func TestServesFilesByteIdentical(t *testing.T) {
	paths, content := fixture(t, map[string]int{"packages.db": 300 << 10, "packages.db.sig": 64, "empty": 0, "a b%.txt": 10})
	h, err := New(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for name, want := range content {
		resp, err := http.Get(srv.URL + "/" + strings.ReplaceAll(strings.ReplaceAll(name, "%", "%25"), " ", "%20"))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Errorf("%s: status %d, %d bytes; want 200 and %d identical bytes", name, resp.StatusCode, len(got), len(want))
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
			t.Errorf("%s: missing validators: %v", name, resp.Header)
		}
	}
}

func TestRangeHeadAndConditional(t *testing.T) {
	paths, content := fixture(t, map[string]int{"blob.bin": 10000})
	h, err := New(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	url := srv.URL + "/blob.bin"

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, content["blob.bin"][100:200]) {
		t.Errorf("range: status %d, %d bytes", resp.StatusCode, len(got))
	}
	if cr := resp.Header.Get("Content-Range"); cr != "bytes 100-199/10000" {
		t.Errorf("Content-Range = %q", cr)
	}

	resp, err = http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 10000 {
		t.Errorf("HEAD: status %d, body %d bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	tag := resp.Header.Get("ETag")

	req, _ = http.NewRequest("GET", url, nil)
	req.Header.Set("If-None-Match", tag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}

	req, _ = http.NewRequest("GET", url, nil)
	req.Header.Set("If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: status %d, want 304", resp.StatusCode)
	}
}

// Hostile ranges get the catalog server's answers (both serve through
// httprange.Limit): more than httprange.MaxRanges ranges, the whole file
// with 200 instead of a multipart body many times the request; a suffix
// range of zero bytes, 416 with "bytes */SIZE" instead of a 206 whose
// Content-Range ends before it starts.
func TestHostileRanges(t *testing.T) {
	paths, content := fixture(t, map[string]int{"packages.db": 4096})
	h, err := New(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := content["packages.db"]
	var many []string
	for i := range httprange.MaxRanges + 1 {
		many = append(many, fmt.Sprintf("%d-%d", 2*i, 2*i))
	}
	for _, tt := range []struct {
		hdr          string
		code         int
		contentRange string
		body         []byte
	}{
		{"bytes=" + strings.Join(many, ","), http.StatusOK, "", body},
		{"bytes=-0", http.StatusRequestedRangeNotSatisfiable, "bytes */4096", nil},
		{"bytes=-0,0-5", http.StatusPartialContent, "bytes 0-5/4096", body[:6]},
		{"bytes=-3", http.StatusPartialContent, "bytes 4093-4095/4096", body[4093:]},
	} {
		r := httptest.NewRequest("GET", "/packages.db", nil)
		r.Header.Set("Range", tt.hdr)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.code || rec.Header().Get("Content-Range") != tt.contentRange || (tt.body != nil && !bytes.Equal(rec.Body.Bytes(), tt.body)) {
			t.Errorf("Range %.40q: %d %q, %d bytes; want %d %q, %d bytes", tt.hdr, rec.Code, rec.Header().Get("Content-Range"), rec.Body.Len(), tt.code, tt.contentRange, len(tt.body))
		}
	}
}

// A file replaced by rename is served fresh, with a new ETag.
func TestServesReplacedFileFresh(t *testing.T) {
	paths, _ := fixture(t, map[string]int{"packages.db": 100})
	h, err := New(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func() (string, []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/packages.db", nil))
		return rec.Header().Get("ETag"), rec.Body.Bytes()
	}
	tag1, _ := get()
	tmp := paths[0] + ".tmp"
	if err := os.WriteFile(tmp, []byte("new catalog"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, paths[0]); err != nil {
		t.Fatal(err)
	}
	tag2, body := get()
	if string(body) != "new catalog" || tag1 == tag2 {
		t.Errorf("after rename: body %q, etag %s -> %s", body, tag1, tag2)
	}

	// Gone after start-up: 404, not a crash.
	os.Remove(paths[0])
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/packages.db", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("removed file: status %d, want 404", rec.Code)
	}
}

func TestOnlyNamedPaths(t *testing.T) {
	paths, _ := fixture(t, map[string]int{"file": 5, "passwd": 5})
	h, err := New(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target string
		want           int
	}{
		{"GET", "/file", 200},
		{"HEAD", "/file", 200},
		{"GET", "/fil%65", 200}, // the same name, percent-encoded
		{"GET", "/file?x=1", 200},
		{"GET", "/", 404},
		{"GET", "/nope", 404},
		{"GET", "/file/", 404},
		{"GET", "//file", 404},
		{"GET", "/./file", 404},
		{"GET", "/../file", 404},
		{"GET", "/x/../passwd", 404},
		{"GET", "/../passwd", 404},
		{"GET", "/%2e%2e/etc/passwd", 404},
		{"GET", "/..%2fpasswd", 404},
		{"GET", "/%2Ffile", 404},
		{"GET", "/file%00", 404},
		{"GET", "/FILE", 404},
		{"GET", "*", 404},
		{"GET", "http://evil.example/../../etc/passwd", 404},
		{"POST", "/file", 405},
		{"PUT", "/file", 405},
		{"DELETE", "/file", 405},
		{"OPTIONS", "/file", 405},
		{"POST", "/nope", 404},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.target, rec.Code, tt.want)
		}
		if rec.Code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow = %q", tt.method, tt.target, rec.Header().Get("Allow"))
		}
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
		os.WriteFile(filepath.Join(dir, d, "x.db"), []byte(d), 0o644)
	}
	a, b := filepath.Join(dir, "a", "x.db"), filepath.Join(dir, "b", "x.db")
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		paths []string
		want  string
	}{
		{nil, "no files to serve"},
		{[]string{a, b}, `check "` + b + `": same name as "` + a + `"; both would be served at /x.db`},
		{[]string{a, a}, `same name as`},
		{[]string{filepath.Join(dir, "a")}, `check "` + filepath.Join(dir, "a") + `": is a directory; name the files to serve`},
		{[]string{a, missing}, `check "` + missing + `": no such file or directory`},
		{[]string{"/dev/null"}, `check "/dev/null": not a regular file`},
	}
	for _, tt := range tests {
		_, err := New(tt.paths, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q) = %v; want error containing %q", tt.paths, err, tt.want)
		}
	}
}

func TestMainUsage(t *testing.T) {
	paths, _ := fixture(t, map[string]int{"f": 1})
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"--help"}, 0, "Usage: named-file-server [--socket ADDR] FILE...", ""},
		{[]string{"-h"}, 0, "Usage:", ""},
		{nil, 2, "", "named-file-server: bad arguments: no FILE given (see named-file-server --help)\n"},
		{[]string{"--port", "1"}, 2, "", "named-file-server: bad arguments: flag provided but not defined: -port (see named-file-server --help)\n"},
		{[]string{"/nonexistent/file"}, 1, "", "named-file-server: check \"/nonexistent/file\": no such file or directory\n"},
		{[]string{"--socket", "256.0.0.1:bad", paths[0]}, 1, "", "named-file-server: listen on 256.0.0.1:bad: "},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(context.Background(), tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.HasPrefix(errb.String(), tt.err) {
			t.Errorf("Main(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out.String(), errb.String(), tt.code, tt.out, tt.err)
		}
		if tt.code != 0 && strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("Main(%q): stderr is not one line: %q", tt.args, errb.String())
		}
	}
}

// Main serves until its context is cancelled, then exits 0.
// startMain runs Main on socket for paths until ctx ends, and returns
// where it serves (its start-up line), its exit code once it has stopped,
// and its stderr.
func startMain(t *testing.T, ctx context.Context, socket string, paths []string) (string, <-chan int, *bytes.Buffer) {
	t.Helper()
	pr, pw := io.Pipe()
	stderr := new(bytes.Buffer)
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"--socket", socket}, paths...), pw, stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no start-up line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	where, ok := strings.CutPrefix(strings.TrimSpace(line), fmt.Sprintf("named-file-server: serving %d files on ", len(paths)))
	if !ok {
		t.Fatalf("start-up line %q", line)
	}
	return where, done, stderr
}

// TestMainBoundsConnections: named-file-server, public as dist-server's
// listeners are, keeps at most 256 connections from one address (connlimit,
// as dist-server); it kept every connection a client opened.
func TestMainBoundsConnections(t *testing.T) {
	paths, _ := fixture(t, map[string]int{"packages.db": 4096, "packages.db.sig": 64})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	where, _, _ := startMain(t, ctx, "127.0.0.1:0", paths)
	addr := strings.TrimPrefix(where, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 256 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	get := func() error {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := c.Get(where + "/packages.db")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err == nil {
		t.Fatal("a 257th connection from one address was served")
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	deadline := time.Now().Add(5 * time.Second)
	for err := get(); err != nil; err = get() {
		if time.Now().After(deadline) {
			t.Fatalf("after the 256 closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMainServesAndStops(t *testing.T) {
	for _, socket := range []string{"127.0.0.1:0", "unix:" + filepath.Join(t.TempDir(), "s.sock")} {
		t.Run(socket, func(t *testing.T) {
			paths, content := fixture(t, map[string]int{"packages.db": 4096, "packages.db.sig": 64})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			where, done, stderr := startMain(t, ctx, socket, paths)

			client := http.DefaultClient
			base := where
			if path, ok := strings.CutPrefix(where, "unix:"); ok {
				client = unixClient(path)
				base = "http://unix"
			}
			resp, err := client.Get(base + "/packages.db")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, content["packages.db"]) {
				t.Errorf("served %d bytes, want the file's %d", len(got), len(content["packages.db"]))
			}

			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d, stderr %q", code, stderr.String())
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Main did not stop after cancel")
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		files  []string
		socket string
	}{
		{[]string{"--socket", "s", "a", "b"}, []string{"a", "b"}, "s"},
		{[]string{"a", "b", "--socket", "s"}, []string{"a", "b"}, "s"},
		{[]string{"a", "--socket=s", "b"}, []string{"a", "b"}, "s"},
		{[]string{"a", "--", "--socket", "-x"}, []string{"a", "--socket", "-x"}, ":8080"},
		{[]string{"--", "-x"}, []string{"-x"}, ":8080"},
		{nil, nil, ":8080"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		socket := fs.String("socket", ":8080", "")
		files, err := parseArgs(fs, tt.args)
		if err != nil || !slices.Equal(files, tt.files) || *socket != tt.socket {
			t.Errorf("parseArgs(%q) = %q, %v, socket %q; want %q, socket %q", tt.args, files, err, *socket, tt.files, tt.socket)
		}
	}
}
