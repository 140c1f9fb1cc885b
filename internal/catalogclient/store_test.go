package catalogclient

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// DirNames lists dir's entries (for this package's tests, inside and out).
func DirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A catalog of the serial held replaces it (after a change of trust, or a
// repair) without removing the held one first: the link always points at a
// complete catalog, for readers without the lock and after a crash. Before,
// catalog-<serial> was removed and then the new one renamed to its name.
func TestSameSerialReplacesWithoutGap(t *testing.T) {
	dir := t.TempDir()
	s := &syncer{dir: dir, log: slog.New(slog.DiscardHandler)}
	put := func(content string) string {
		t.Helper()
		tmp := filepath.Join(dir, tmpPrefix+"packages.db-test")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		name, err := s.install(&download{tmp: tmp, sig: []byte("sig " + content)}, catalogInfo{serial: 5})
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	held := func() string { // what a reader finds through the link
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, catalogLink, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if name := put("first"); name != "catalog-5" {
		t.Fatalf("first install in %s", name)
	}
	name := put("second")
	if name != "catalog-5.1" || held() != "second" {
		t.Fatalf("second install of serial 5 in %s, holding %q", name, held())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "catalog-5", dbFile)); err != nil || string(b) != "first" {
		t.Fatalf("the catalog held before was touched before the swap: %q, %v", b, err)
	}
	s.removeOldVersions(name)
	if name := put("third"); name != "catalog-5" || held() != "third" {
		t.Fatalf("third install of serial 5 in %s, holding %q", name, held())
	}
	s.removeOldVersions("catalog-5")
	if got, want := DirNames(t, dir), []string{"catalog", "catalog-5"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
}

// A body that trickles in, each byte restarting the idle timer, is given up
// once its average rate stays under the least after slowAfter: an
// attacker's server sent a byte every 8 s and held sync forever (a 28 KB
// catalog would have taken 64 hours). A body at a fair rate is read whole.
func TestDripFedBodyIsGivenUp(t *testing.T) {
	drip := func(every time.Duration, n int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for range n {
				if _, err := w.Write([]byte{'x'}); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(every):
				case <-r.Context().Done():
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	for _, tc := range []struct {
		name    string
		every   time.Duration
		n       int
		wantErr string
	}{
		{"a byte every 50 ms", 50 * time.Millisecond, 1000, "under 1 KiB/s"},
		{"fast enough", 0, 4000, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(drip(tc.every, tc.n).URL)
			if err != nil {
				t.Fatal(err)
			}
			body := newIdleBody(resp.Body, time.Second, 300*time.Millisecond, 1024)
			defer body.Close()
			start := time.Now()
			b, err := io.ReadAll(body)
			switch {
			case tc.wantErr == "" && (err != nil || len(b) != tc.n):
				t.Fatalf("read %d bytes, %v; want %d", len(b), err, tc.n)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("read %d bytes, %v; want an error with %q", len(b), err, tc.wantErr)
			case tc.wantErr != "" && time.Since(start) > 2*time.Second:
				t.Fatalf("given up after %v; want soon after 300 ms", time.Since(start))
			}
		})
	}
}

// A server's error text reaches the user's terminal without its escape
// sequences (an attacker's server set colours and the window title).
func TestHTTPErrorHasNoEscapes(t *testing.T) {
	resp := &http.Response{Status: "500 Internal Server Error", Header: http.Header{"Content-Type": {"text/plain"}},
		Body: io.NopCloser(strings.NewReader("\x1b[31mred\x1b]0;owned\x07 text\n"))}
	err := httpError("http://x/packages.db", resp)
	if strings.ContainsAny(err.Error(), "\x1b\x07") || !strings.Contains(err.Error(), "red") {
		t.Fatalf("error %q", err)
	}
}

// A non-200 answer says its status once, and the first line of a plain-text
// body only when that line says more: Go's file server answers a wrong path
// with "404 page not found", which the message repeated ("404 Not Found:
// 404 page not found"). What is shown is one line, bounded and printable.
func TestHTTPError(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name string
		code int
		ct   string
		body string
		want string // after "GET http://x/packages.db: "
	}{
		{"Go's 404 page", 404, "text/plain; charset=utf-8", "404 page not found\n", "404 Not Found"},
		{"the status text alone", 404, "text/plain", "Not Found", "404 Not Found"},
		{"the status line", 500, "text/plain", "500 Internal Server Error\n", "500 Internal Server Error"},
		{"the status in other case and punctuation", 503, "text/plain", "HTTP 503: service unavailable.", "503 Service Unavailable"},
		{"a message of the server's", 404, "text/plain", "no catalog published yet\n", "404 Not Found: no catalog published yet"},
		{"status and more", 502, "text/plain", "502 Bad Gateway: upstream timed out", "502 Bad Gateway: upstream timed out"},
		{"a colon in the message", 500, "text/plain", "open packages.db: permission denied", "500 Internal Server Error: open packages.db: permission denied"},
		{"only the first line", 403, "text/plain", "\n  denied by policy  \nsecond line\n", "403 Forbidden: denied by policy"},
		{"an HTML page is not shown", 404, "text/html", "<h1>no catalog published yet</h1>", "404 Not Found"},
		{"an empty body", 404, "text/plain", "", "404 Not Found"},
		{"control characters", 500, "text/plain", "bad\x1b[31m\rthing\x07", "500 Internal Server Error: bad.[31m.thing."},
		{"a long line is cut", 500, "text/plain", long, "500 Internal Server Error: " + long[:maxBodyExcerpt] + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{"Content-Type": {tt.ct}},
				Body: io.NopCloser(strings.NewReader(tt.body))}
			want := "GET http://x/packages.db: " + tt.want
			if err := httpError("http://x/packages.db", resp); err.Error() != want {
				t.Errorf("httpError =\n  %s\nwant\n  %s", err, want)
			}
		})
	}
}
