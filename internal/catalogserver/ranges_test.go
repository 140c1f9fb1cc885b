package catalogserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/connlimit"
	"github.com/distpac/distpac/internal/httprange"
)

// manyRanges is a Range header of one-byte ranges, as long as the
// server's 16 KiB header limit lets it be: the request of an attacker
// after the per-part headers of a multipart/byteranges reply.
func manyRanges(n int, each func(i int) string) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(each(i))
	}
	return b.String()
}

// rawGet sends a GET over a fresh connection and returns the bytes sent
// and received on the wire and the parsed response with its body.
func rawGet(t *testing.T, addr, path, rangeHdr string) (sent, received int, resp *http.Response, body []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nRange: %s\r\nConnection: close\r\n\r\n", path, addr, rangeHdr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return len(req), len(raw), resp, body
}

func parts(t *testing.T, resp *http.Response, body []byte) int {
	t.Helper()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return 0
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	n := 0
	for {
		if _, err := r.NextPart(); err != nil {
			break
		}
		n++
	}
	return n
}

// TestManyRanges: a Range header of thousands of small ranges made
// http.ServeContent answer a multipart body whose per-part headers were
// many times the request. Beyond httprange.MaxRanges the whole body is served with
// 200 (as nginx's max_ranges and Apache's MaxRanges do); up to it ranges
// work as before.
func TestManyRanges(t *testing.T) {
	s, _, archives := newTestServer(t)
	archive := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if err := os.WriteFile(filepath.Join(archives, "big-1.0.0.tar.zst"), archive, 0o644); err != nil {
		t.Fatal(err)
	}
	db := bytes.Repeat([]byte("SQLite format 3\x00"), 1536) // 24 KiB, the catalog SCALING.md measures
	s.SetSnapshot(db, []byte("sig"), 1, []string{"big-1.0.0.tar.zst"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := connlimit.NewHTTPServer(s.Handler(), discard)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	for _, tt := range []struct {
		path string
		body []byte
	}{{"/packages.db", db}, {"/packages/big-1.0.0.tar.zst", archive}} {
		for _, hdr := range []string{
			// 4 bytes a range, as many as the 16 KiB header limit holds.
			manyRanges(3900, func(int) string { return "0-0" }),
			manyRanges(1500, func(i int) string { return fmt.Sprintf("%d-%d", 2*i, 2*i) }),
			manyRanges(httprange.MaxRanges+1, func(i int) string { return fmt.Sprintf("%d-%d", 2*i, 2*i) }),
		} {
			n := strings.Count(hdr, ",") + 1
			sent, received, resp, body := rawGet(t, addr, tt.path, hdr)
			t.Logf("figure: %s with %d ranges: %d bytes sent, %d received (%.1fx; the body is %d), status %d, %d parts",
				tt.path, n, sent, received, float64(received)/float64(sent), len(tt.body), resp.StatusCode, parts(t, resp, body))
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, tt.body) {
				t.Errorf("%s with %d ranges: %d, %d bytes; want 200 and the whole %d-byte body", tt.path, n, resp.StatusCode, len(body), len(tt.body))
			}
		}
		// Up to httprange.MaxRanges, ranges are served as before.
		hdr := manyRanges(httprange.MaxRanges, func(i int) string { return fmt.Sprintf("%d-%d", 2*i, 2*i) })
		if _, _, resp, body := rawGet(t, addr, tt.path, hdr); resp.StatusCode != http.StatusPartialContent || parts(t, resp, body) != httprange.MaxRanges {
			t.Errorf("%s with %d ranges: %d with %d parts, want 206 with %d", tt.path, httprange.MaxRanges, resp.StatusCode, parts(t, resp, body), httprange.MaxRanges)
		}
		if _, _, resp, body := rawGet(t, addr, tt.path, "bytes=16-31"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, tt.body[16:32]) {
			t.Errorf("%s with one range: %d %q, want 206 %q", tt.path, resp.StatusCode, body, tt.body[16:32])
		}
	}
}

// TestEmptySuffixRange: a suffix range of zero bytes ("bytes=-0") is
// satisfied by no length, so a request of only that gets 416 with
// "bytes */SIZE" (RFC 9110 §14.1.2); http.ServeContent answered 206 with
// "Content-Range: bytes SIZE-(SIZE-1)/SIZE" (an attacker's run). Beside a
// satisfiable range, that range alone is served.
func TestEmptySuffixRange(t *testing.T) {
	s, _, _ := newTestServer(t)
	db := []byte("SQLite format 3\x000123456789")
	s.SetSnapshot(db, []byte("sig"), 1, nil)
	for _, tt := range []struct {
		hdr          string
		code         int
		contentRange string
		body         string
	}{
		{"bytes=-0", http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("bytes */%d", len(db)), ""},
		{"bytes= -000 ", http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("bytes */%d", len(db)), ""},
		{"bytes=-0,0-5", http.StatusPartialContent, fmt.Sprintf("bytes 0-5/%d", len(db)), "SQLite"},
		{"bytes=-3", http.StatusPartialContent, fmt.Sprintf("bytes %d-%d/%d", len(db)-3, len(db)-1, len(db)), "789"},
	} {
		r := httptest.NewRequest("GET", "/packages.db", nil)
		r.Header.Set("Range", tt.hdr)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != tt.code || w.Header().Get("Content-Range") != tt.contentRange || (tt.code == http.StatusPartialContent && w.Body.String() != tt.body) {
			t.Errorf("Range %q: %d %q %q; want %d %q %q", tt.hdr, w.Code, w.Header().Get("Content-Range"), w.Body.String(), tt.code, tt.contentRange, tt.body)
		}
	}
}

// FuzzRange sends arbitrary Range headers: the server never panics, and
// never answers with more than httprange.MaxRanges parts.
func FuzzRange(f *testing.F) {
	f.Add("bytes=0-0")
	f.Add("bytes=0-0,2-2")
	f.Add(manyRanges(httprange.MaxRanges, func(i int) string { return fmt.Sprintf("%d-%d", 2*i, 2*i) }))
	f.Add(manyRanges(httprange.MaxRanges+1, func(int) string { return "0-0" }))
	f.Add("bytes=0-0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,1-1")
	f.Add("bytes=0-0, \t,1-1,-5,100-")
	f.Add("bytes=-0,0-,,x")
	db := bytes.Repeat([]byte("SQLite format 3\x00"), 64)
	s := New(Options{ArchivesDir: f.TempDir(), Logger: discard})
	s.SetSnapshot(db, []byte("sig"), 1, nil)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, rangeHdr string) {
		req := httptest.NewRequest("GET", "/packages.db", nil)
		req.Header.Set("Range", rangeHdr)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		resp := rec.Result()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable:
		default:
			t.Fatalf("Range %q: status %d", rangeHdr, resp.StatusCode)
		}
		if n := parts(t, resp, rec.Body.Bytes()); n > httprange.MaxRanges {
			t.Fatalf("Range %q: %d parts, more than %d", rangeHdr, n, httprange.MaxRanges)
		}
	})
}
