package catalogserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/distpac/distpac/internal/signing"
)

var discard = slog.New(slog.DiscardHandler)

// get sends method to ts at the raw path (not cleaned by any client code)
// with optional headers, and returns the response with its body read.
func get(t *testing.T, ts *httptest.Server, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func newTestServer(t *testing.T) (*Server, *httptest.Server, string) {
	t.Helper()
	root := t.TempDir()
	archives := filepath.Join(root, "archives")
	if err := os.Mkdir(archives, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		filepath.Join(root, "server.key"):                 "secret",
		filepath.Join(archives, "foo-1.0.0.tar.zst"):      "0123456789abcdef",
		filepath.Join(archives, "unlisted-1.0.0.tar.zst"): "not published",
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Options{ArchivesDir: archives, Logger: discard})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts, archives
}

func TestBeforeSnapshot(t *testing.T) {
	s, ts, _ := newTestServer(t)
	if s.Serial() != 0 {
		t.Fatalf("Serial = %d before any snapshot", s.Serial())
	}
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/packages.db", 503, "no catalog published yet"},
		{"/packages.db.sig", 503, "no catalog published yet"},
		{"/healthz", 503, "no catalog published yet"},
		{"/packages/foo-1.0.0.tar.zst", 404, "404 page not found"},
		{"/key", 404, "publishes no key"},
	}
	for _, tt := range tests {
		resp, body := get(t, ts, "GET", tt.path)
		if resp.StatusCode != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, resp.StatusCode, body, tt.code, tt.body)
		}
	}
}

func TestCatalogFiles(t *testing.T) {
	s, ts, _ := newTestServer(t)
	db, sig := []byte("SQLite format 3\x00 catalog bytes"), []byte("signature bytes")
	s.SetSnapshot(db, sig, 42, []string{"foo-1.0.0.tar.zst"})
	sum := sha256.Sum256(db)
	etag := fmt.Sprintf(`"42-%s"`, hex.EncodeToString(sum[:])[:16])
	if s.Serial() != 42 {
		t.Fatalf("Serial = %d, want 42", s.Serial())
	}

	tests := []struct {
		name, method, path string
		hdr                []string
		code               int
		body, ctype        string
	}{
		{"catalog", "GET", "/packages.db", nil, 200, string(db), "application/vnd.sqlite3"},
		{"signature", "GET", "/packages.db.sig", nil, 200, string(sig), "application/octet-stream"},
		{"catalog HEAD", "HEAD", "/packages.db", nil, 200, "", "application/vnd.sqlite3"},
		{"catalog unchanged", "GET", "/packages.db", []string{"If-None-Match", etag}, 304, "", ""},
		{"signature unchanged", "GET", "/packages.db.sig", []string{"If-None-Match", etag}, 304, "", ""},
		{"catalog changed", "GET", "/packages.db", []string{"If-None-Match", `"41-0000000000000000"`}, 200, string(db), "application/vnd.sqlite3"},
		{"catalog range", "GET", "/packages.db", []string{"Range", "bytes=0-5"}, 206, "SQLite", "application/vnd.sqlite3"},
		{"POST", "POST", "/packages.db", nil, 405, "not allowed", "text/plain; charset=utf-8"},
		{"PUT archive", "PUT", "/packages/foo-1.0.0.tar.zst", nil, 405, "not allowed", "text/plain; charset=utf-8"},
		{"unknown path", "GET", "/packages.db.bak", nil, 404, "404 page not found", "text/plain; charset=utf-8"},
		{"root", "GET", "/", nil, 404, "404 page not found", "text/plain; charset=utf-8"},
		{"healthz", "GET", "/healthz", nil, 200, "ok\n", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, ts, tt.method, tt.path, tt.hdr...)
			if resp.StatusCode != tt.code || body != tt.body && !strings.Contains(body, tt.body) {
				t.Fatalf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.code, tt.body)
			}
			if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.ctype)
			}
			if !strings.HasPrefix(tt.path, "/packages.db") || tt.code >= 400 {
				return
			}
			if got := resp.Header.Get("ETag"); got != etag {
				t.Errorf("ETag %s, want %s", got, etag)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if got := resp.Header.Get(HeaderSerial); got != "42" {
				t.Errorf("%s %q, want 42", HeaderSerial, got)
			}
		})
	}
}

func TestArchives(t *testing.T) {
	s, ts, _ := newTestServer(t)
	s.SetSnapshot([]byte("db"), []byte("sig"), 1, []string{"foo-1.0.0.tar.zst", "gone-1.0.0.tar.zst", "../server.key"})
	tests := []struct {
		path string
		hdr  []string
		code int
		body string
	}{
		{"/packages/foo-1.0.0.tar.zst", nil, 200, "0123456789abcdef"},
		{"/packages/foo-1.0.0.tar.zst", []string{"Range", "bytes=4-7"}, 206, "4567"},
		{"/packages/unlisted-1.0.0.tar.zst", nil, 404, ""},
		{"/packages/gone-1.0.0.tar.zst", nil, 404, ""}, // listed but missing on disk
		{"/packages/", nil, 404, ""},
		{"/packages", nil, 404, ""},
		{"/packages/../server.key", nil, 404, ""},
		{"/packages/%2e%2e/server.key", nil, 404, ""},
		{"/packages/%2e%2e/x", nil, 404, ""},
		{"/packages/..%2fserver.key", nil, 404, ""},
		{"/packages/..", nil, 404, ""},
		{"/packages/foo-1.0.0.tar.zst/", nil, 404, ""},
		{"/packages//foo-1.0.0.tar.zst", nil, 404, ""},
		{"/packages/FOO-1.0.0.tar.zst", nil, 404, ""},
	}
	for _, tt := range tests {
		resp, body := get(t, ts, "GET", tt.path, tt.hdr...)
		if resp.StatusCode != tt.code || (tt.body != "" && body != tt.body) {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.code, tt.body)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("GET %s leaked a file outside the archives directory", tt.path)
		}
	}

	// A new snapshot without the archive stops serving it.
	s.SetSnapshot([]byte("db2"), []byte("sig2"), 2, nil)
	if resp, _ := get(t, ts, "GET", "/packages/foo-1.0.0.tar.zst"); resp.StatusCode != 404 {
		t.Fatalf("archive dropped from the snapshot still served: %d", resp.StatusCode)
	}
}

func TestKey(t *testing.T) {
	s, ts, _ := newTestServer(t)
	k, err := signing.LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetKey(k.Public())
	resp, body := get(t, ts, "GET", "/key")
	got, err := signing.ParsePublicKey(body)
	if resp.StatusCode != 200 || err != nil || !got.Equal(k.Public()) {
		t.Fatalf("GET /key = %d %q (%v), want %s", resp.StatusCode, body, err, k.Public())
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Options{ArchivesDir: t.TempDir(), Registry: reg, Logger: discard})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	if err := os.WriteFile(filepath.Join(s.archivesDir, "a-1.0.0.tar.zst"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}

	get(t, ts, "GET", "/packages.db") // 503
	s.SetSnapshot([]byte("db"), []byte("sig"), 7, []string{"a-1.0.0.tar.zst"})
	resp, _ := get(t, ts, "GET", "/packages.db")
	get(t, ts, "GET", "/packages.db", "If-None-Match", resp.Header.Get("ETag"))
	get(t, ts, "GET", "/packages.db.sig")
	get(t, ts, "GET", "/packages/a-1.0.0.tar.zst")
	get(t, ts, "GET", "/packages/a-1.0.0.tar.zst", "Range", "bytes=0-99")
	get(t, ts, "HEAD", "/packages/a-1.0.0.tar.zst")

	_, body := get(t, ts, "GET", "/metrics")
	for _, want := range []string{
		`distpac_catalog_requests_total{code="503",file="packages.db"} 1`,
		`distpac_catalog_requests_total{code="200",file="packages.db"} 1`,
		`distpac_catalog_requests_total{code="304",file="packages.db"} 1`,
		`distpac_catalog_requests_total{code="200",file="packages.db.sig"} 1`,
		`distpac_archive_bytes_served_total 1100`,
		`distpac_catalog_serial 7`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// TestConcurrentSnapshots swaps snapshots while clients fetch: every
// response must carry the ETag of its own bytes, and a catalog and a
// signature with the same ETag must verify together.
func TestConcurrentSnapshots(t *testing.T) {
	k, err := signing.LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{ArchivesDir: t.TempDir(), Logger: discard})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	publish := func(serial int64) {
		db := []byte(fmt.Sprintf("SQLite format 3\x00 catalog number %d %s", serial, strings.Repeat("x", int(serial%7)*1000)))
		s.SetSnapshot(db, k.Sign(db), serial, nil)
	}
	publish(1)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for serial := int64(2); ; serial++ {
			select {
			case <-stop:
				return
			default:
				publish(serial)
				time.Sleep(time.Millisecond)
			}
		}
	}()

	fetch := func(path string) ([]byte, string, error) {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.Header.Get("ETag"), err
	}
	errs := make(chan error, 4)
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			matched := 0
			for range 200 {
				db, dbTag, err := fetch("/packages.db")
				if err != nil {
					errs <- err
					return
				}
				sig, sigTag, err := fetch("/packages.db.sig")
				if err != nil {
					errs <- err
					return
				}
				var serial int64
				fmt.Sscanf(string(db), "SQLite format 3\x00 catalog number %d", &serial)
				if want := ETag(serial, db); dbTag != want {
					errs <- fmt.Errorf("catalog of serial %d served with ETag %s, want %s", serial, dbTag, want)
					return
				}
				if dbTag == sigTag {
					matched++
					if err := signing.Verify(k.Public(), db, sig); err != nil {
						errs <- fmt.Errorf("pair with ETag %s does not verify: %w", dbTag, err)
						return
					}
				}
			}
			if matched == 0 {
				errs <- fmt.Errorf("no pair with matching ETags in 200 tries")
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestMetricsLoopbackOnly: /metrics on the catalog port answers this
// machine only; from any other address it is refused, naming metrics_addr,
// and the refusal carries none of the metrics.
func TestMetricsLoopbackOnly(t *testing.T) {
	s := New(Options{ArchivesDir: t.TempDir()})
	s.SetSnapshot([]byte("db"), []byte("sig"), 3, nil)
	for _, tc := range []struct {
		remote string
		code   int
	}{
		{"127.0.0.1:40000", http.StatusOK},
		{"127.9.8.7:40000", http.StatusOK},
		{"[::1]:40000", http.StatusOK},
		{"[::ffff:127.0.0.1]:40000", http.StatusOK},
		{"192.0.2.10:40000", http.StatusForbidden},
		{"[2001:db8::1]:40000", http.StatusForbidden},
		{"[::ffff:192.0.2.10]:40000", http.StatusForbidden},
		{"not an address", http.StatusForbidden},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = tc.remote
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		body := w.Body.String()
		if w.Code != tc.code {
			t.Errorf("/metrics from %s: %d, want %d: %s", tc.remote, w.Code, tc.code, body)
		}
		if tc.code == http.StatusForbidden && (strings.Contains(body, "distpac_") || !strings.Contains(body, "metrics_addr")) {
			t.Errorf("/metrics refused to %s answered %q: want no metrics and a word on metrics_addr", tc.remote, body)
		}
		if tc.code == http.StatusOK && !strings.Contains(body, "distpac_catalog_serial 3") {
			t.Errorf("/metrics from %s lacks the serial:\n%s", tc.remote, body)
		}
	}
	// A server that serves its metrics elsewhere has none here.
	s = New(Options{ArchivesDir: t.TempDir(), NoMetrics: true})
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("/metrics with NoMetrics: %d, want 404", w.Code)
	}
}

// readFromRecorder is a ResponseWriter with its own ReadFrom, as
// net/http's is (sendfile underneath).
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readFrom int64
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	n, err := io.Copy(r.ResponseRecorder, src)
	r.readFrom += n
	return n, err
}

// TestArchiveCopyUsesReadFrom: an archive reaches the connection through
// the ResponseWriter's ReadFrom (the kernel's sendfile under net/http),
// counted all the same. The counting wrapper had hidden it, and every byte
// went through a 32 KiB buffer: 512 MiB took 0.39-0.55 s, now 0.25-0.36 s.
func TestArchiveCopyUsesReadFrom(t *testing.T) {
	dir := t.TempDir()
	body := bytes.Repeat([]byte("distpac "), 64<<10) // 512 KiB
	if err := os.WriteFile(filepath.Join(dir, "a-1.0.0.tar.zst"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(Options{ArchivesDir: dir})
	s.SetSnapshot([]byte("db"), []byte("sig"), 1, []string{"a-1.0.0.tar.zst"})
	w := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	r := httptest.NewRequest("GET", "/packages/a-1.0.0.tar.zst", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), body) {
		t.Fatalf("GET: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w.readFrom != int64(len(body)) {
		t.Errorf("ReadFrom carried %d of %d bytes", w.readFrom, len(body))
	}
	m := httptest.NewRecorder()
	mr := httptest.NewRequest("GET", "/metrics", nil)
	mr.RemoteAddr = "127.0.0.1:1234"
	s.Handler().ServeHTTP(m, mr)
	if want := fmt.Sprintf("distpac_archive_bytes_served_total %d\n", len(body)); !strings.Contains(m.Body.String(), want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

// With an UploadLimiter, the web seed sends no faster than it allows, the
// whole archive and a range alike, and the bytes are the archive's: 512 KiB
// at 1 MiB/s with a 64 KiB burst take at least 0.43 s. Before, the web
// seed of a publisher capped at 2 MiB/s sent at 14.9 MiB/s.
func TestArchivesPacedByUploadLimiter(t *testing.T) {
	dir := t.TempDir()
	body := bytes.Repeat([]byte("distpac "), 64<<10) // 512 KiB
	if err := os.WriteFile(filepath.Join(dir, "a-1.0.0.tar.zst"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, rangeHdr string
		code           int
		want           []byte
	}{
		{"whole archive", "", http.StatusOK, body},
		{"a range", "bytes=1000-500999", http.StatusPartialContent, body[1000:501000]},
	} {
		t.Run(c.name, func(t *testing.T) {
			lim := rate.NewLimiter(1<<20, 64<<10)
			s := New(Options{ArchivesDir: dir, UploadLimiter: lim})
			s.SetSnapshot([]byte("db"), []byte("sig"), 1, []string{"a-1.0.0.tar.zst"})
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			req, _ := http.NewRequest("GET", ts.URL+"/packages/a-1.0.0.tar.zst", nil)
			if c.rangeHdr != "" {
				req.Header.Set("Range", c.rangeHdr)
			}
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if err != nil || resp.StatusCode != c.code || !bytes.Equal(got, c.want) {
				t.Fatalf("GET: %d, %d bytes (%v); want %d, %d bytes of the archive", resp.StatusCode, len(got), err, c.code, len(c.want))
			}
			// The limiter starts with a burst of tokens; the rest waits.
			if min := time.Duration(float64(len(c.want)-lim.Burst()) / float64(lim.Limit()) * float64(time.Second)); took < min {
				t.Errorf("%d bytes sent in %v at a limit of %v bytes/s: faster than the limit (at least %v)", len(c.want), took, lim.Limit(), min)
			}
		})
	}
}

// The web seed takes only what the seeder leaves of the shared limiter:
// while the seeder reserves more than the rate (as the BitTorrent library
// does for its chunks when its peers want more than the cap), an archive
// request gets nothing, and it completes once the seeder stops. With a
// fair share (WaitN) it was served beside the seeder, within 0.3 s.
func TestWebSeedYieldsToSeeder(t *testing.T) {
	dir := t.TempDir()
	body := bytes.Repeat([]byte("distpac "), 16<<10) // 128 KiB
	if err := os.WriteFile(filepath.Join(dir, "a-1.0.0.tar.zst"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	lim := rate.NewLimiter(1<<20, 64<<10)
	s := New(Options{ArchivesDir: dir, UploadLimiter: lim})
	s.SetSnapshot([]byte("db"), []byte("sig"), 1, []string{"a-1.0.0.tar.zst"})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	const busy = 600 * time.Millisecond
	stop := make(chan struct{})
	seederDone := make(chan time.Time, 1)
	go func() { // the seeder: reserves half as much again as the rate gives, however late its ticks
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				seederDone <- time.Now()
				return
			case now := <-tick.C:
				lim.ReserveN(now, int(1.5*float64(lim.Limit())*now.Sub(last).Seconds()))
				last = now
			}
		}
	}()
	time.AfterFunc(busy, func() { close(stop) })
	time.Sleep(50 * time.Millisecond) // the seeder has taken the burst and more
	resp, err := http.Get(ts.URL + "/packages/a-1.0.0.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := time.Now()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GET: %d bytes (%v), want the archive", len(got), err)
	}
	if stopped := <-seederDone; served.Before(stopped) {
		t.Errorf("the archive was served %v before the seeder stopped using the whole rate", stopped.Sub(served))
	}
}

// An archive added to the snapshot served (a mirror's, as it comes in) is
// served from then on, until the next snapshot lists the archives anew.
func TestAddArchive(t *testing.T) {
	s, _, _ := newTestServer(t)
	get := func() int {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/packages/unlisted-1.0.0.tar.zst", nil))
		return w.Code
	}
	s.AddArchive("unlisted-1.0.0.tar.zst") // before any snapshot: nothing to add to
	s.SetSnapshot([]byte("db"), []byte("sig"), 1, []string{"foo-1.0.0.tar.zst"})
	if code := get(); code != http.StatusNotFound {
		t.Fatalf("an archive not listed: %d, want 404", code)
	}
	s.AddArchive("unlisted-1.0.0.tar.zst")
	if code := get(); code != http.StatusOK {
		t.Fatalf("an archive added: %d, want 200", code)
	}
	s.SetSnapshot([]byte("db2"), []byte("sig2"), 2, []string{"foo-1.0.0.tar.zst"})
	if code := get(); code != http.StatusNotFound {
		t.Fatalf("after a new snapshot that does not list it: %d, want 404", code)
	}
}
