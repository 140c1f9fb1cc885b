package catalogclient_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/signing"
)

var discard = slog.New(slog.DiscardHandler)

func syncOpts(url, dir string, key signing.PublicKey) catalogclient.Options {
	return catalogclient.Options{ServerURL: url, Dir: dir, Key: key, Logger: discard}
}

// mustSync syncs and fails the test on error.
func mustSync(t *testing.T, opts catalogclient.Options) catalogclient.Result {
	t.Helper()
	res, err := catalogclient.Sync(context.Background(), opts)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// heldSerial opens the client's current catalog and returns its serial and
// package count, failing the test when it cannot be used.
func heldSerial(t *testing.T, dir string) (int64, int) {
	t.Helper()
	ctx := context.Background()
	db, err := catalogclient.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	m, err := db.Meta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m.Serial, len(pkgs)
}

// TestSyncAcceptsAnyLabel: a static server or object store may label the
// catalog with any Content-Type (nginx without a default_type sends
// text/plain, S3 binary/octet-stream); the bytes decide whether it is one.
func TestSyncAcceptsAnyLabel(t *testing.T) {
	key := newKey(t)
	db := buildCatalog(t, 7, "", "foo", "bar")
	sig := key.Sign(db)
	for _, ct := range []string{"", "text/plain", "text/plain; charset=utf-8", "binary/octet-stream", "application/octet-stream", "application/x-sqlite3", "application/vnd.sqlite3"} {
		t.Run(cmp.Or(ct, "none"), func(t *testing.T) {
			srv := httptest.NewServer(servePair(ct, db, sig))
			defer srv.Close()
			dir := t.TempDir()
			mustSync(t, syncOpts(srv.URL, dir, key.Public()))
			if serial, n := heldSerial(t, dir); serial != 7 || n != 2 {
				t.Errorf("held serial %d with %d packages; want 7 with 2", serial, n)
			}
		})
	}
}

// servePair answers every request for the catalog or its signature with
// fixed bytes, labelled ct (set even when empty: no sniffing).
func servePair(ct string, db, sig []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{ct}
		switch r.URL.Path {
		case "/packages.db":
			w.Write(db)
		case "/packages.db.sig":
			w.Write(sig)
		default:
			http.NotFound(w, r)
		}
	}
}

// TestSyncRefusesHostileCatalogs serves, after a good serial-5 catalog,
// something wrong, and checks both the error and that the serial-5
// catalog is still in place, usable, with sync.json untouched and no
// temporary files left.
func TestSyncRefusesHostileCatalogs(t *testing.T) {
	key := newKey(t)
	otherKey := newKey(t)
	db5 := buildCatalog(t, 5, "", "foo", "bar")
	db6 := buildCatalog(t, 6, "", "foo", "bar", "baz")
	db5b := buildCatalog(t, 5, "other", "foo", "bar")
	flipped := slices.Clone(db6)
	flipped[len(flipped)/2] ^= 0x01
	sig6 := key.Sign(db6)
	badSig := slices.Clone(sig6)
	badSig[10] ^= 0x80
	inconsistent := corruptRow(t, db6)

	serve := func(db, sig []byte) http.HandlerFunc { return servePair("application/vnd.sqlite3", db, sig) }
	tests := []struct {
		name    string
		handler http.Handler
		maxSize int64
		want    string // in the error text; {url} is the server's URL
		is      error
	}{
		{
			name:    "one byte flipped in the catalog",
			handler: serve(flipped, sig6),
			want:    "bad catalog signature",
			is:      catalogclient.ErrBadSignature,
		},
		{
			name:    "one byte flipped in the signature",
			handler: serve(db6, badSig),
			want:    "bad catalog signature: signature does not match the catalog (wrong key, or the file was altered); if the server's key really changed, update server_key in client.yaml",
			is:      signing.ErrBadSignature,
		},
		{
			name:    "signature from another key",
			handler: serve(db6, otherKey.Sign(db6)),
			want:    "with key " + key.Public().String(),
			is:      catalogclient.ErrBadSignature,
		},
		{
			name:    "same serial, other content",
			handler: serve(db5b, key.Sign(db5b)),
			want:    "{url}/packages.db: catalog serial 5 is the one held but its bytes differ: same serial, different content; refusing it (two catalogs signed under one serial: a publisher restored from a backup while its clock was behind? A publication's serial is at least its UTC time as YYYYMMDDhhmmss, so what it publishes once its clock is past this serial is taken; 'dist-server republish --past 5' on the publisher publishes past it now)",
			is:      catalogclient.ErrSameSerial,
		},
		{
			name:    "signed catalog with an inconsistent row",
			handler: serve(inconsistent, key.Sign(inconsistent)),
			want:    "signed but inconsistent",
			is:      catalog.ErrInvalid,
		},
		{
			name:    "truncated download",
			handler: truncating(db6, sig6),
			want:    "GET {url}/packages.db: truncated download: got",
			is:      catalogclient.ErrTruncated,
		},
		// A Content-Length shorter than the body makes the HTTP client stop
		// at it: the bytes it read are a cut catalog or signature, which
		// must be named as such, not as a bad signature (whose hint sends
		// the user to change the key).
		{
			name:    "catalog Content-Length shorter than the body",
			handler: rawReply("/packages.db", db6, int64(len(db6)/2), sig6),
			want:    fmt.Sprintf("GET {url}/packages.db: truncated download: got %d bytes (its Content-Length), the catalog's header says %d", len(db6)/2, len(db6)),
			is:      catalogclient.ErrTruncated,
		},
		{
			name:    "signature Content-Length shorter than the body",
			handler: rawReply("/packages.db.sig", sig6, 32, db6),
			want:    "GET {url}/packages.db.sig: truncated download: got 32 bytes (its Content-Length), a signature has 64",
			is:      catalogclient.ErrTruncated,
		},
		{
			name:    "signature cut short of its Content-Length",
			handler: rawReply("/packages.db.sig", sig6[:32], 64, db6),
			want:    "GET {url}/packages.db.sig: truncated download: got 32 of 64 bytes",
			is:      catalogclient.ErrTruncated,
		},
		{
			name:    "short signature",
			handler: serve(db6, sig6[:20]),
			want:    "GET {url}/packages.db.sig: truncated download: got 20 bytes (its Content-Length), a signature has 64",
			is:      catalogclient.ErrTruncated,
		},
		{
			name:    "signature with a byte after it",
			handler: serve(db6, append(slices.Clone(sig6), '\n')),
			want:    "GET {url}/packages.db.sig: server sent something that is not a signature (65 bytes, a signature has 64)",
		},
		{
			name: "HTML error page with 200",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				io.WriteString(w, "<!DOCTYPE html><html><body>Sign in to the Wi-Fi</body></html>")
			}),
			want: `server sent something that is not a catalog (text/html; charset=utf-8, starting "<!DOCTYPE html>`,
			is:   catalogclient.ErrNotCatalog,
		},
		{
			name:    "not SQLite but labelled as SQLite",
			handler: serve([]byte("PK\x03\x04 a zip file, not a catalog"), sig6),
			want:    `server sent something that is not a catalog (application/vnd.sqlite3, starting "PK.. a zip file`,
			is:      catalogclient.ErrNotCatalog,
		},
		{
			name: "HTML page instead of the signature",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/packages.db" {
					w.Write(db6)
					return
				}
				w.Header().Set("Content-Type", "text/html")
				io.WriteString(w, "<html>moved</html>")
			}),
			want: "GET {url}/packages.db.sig: server sent something that is not a signature (text/html)",
		},
		{
			name: "server error",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "database on fire", http.StatusInternalServerError)
			}),
			want: "GET {url}/packages.db: 500 Internal Server Error: database on fire",
		},
		{
			name:    "catalog over the size limit",
			handler: serve(db6, sig6),
			maxSize: 4096,
			want:    "larger than the limit of 4096 bytes: too large",
			is:      catalogclient.ErrTooLarge,
		},
		{
			name: "catalog and signature never from the same publication",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// A distpac catalog server (it sends the serial header) whose
				// two files never carry the same ETag.
				w.Header().Set(catalogclient.HeaderSerial, "6")
				if r.URL.Path == "/packages.db" {
					w.Header().Set("ETag", `"6-aaaa"`)
					w.Write(db6)
					return
				}
				w.Header().Set("ETag", `"7-bbbb"`)
				w.Write(sig6)
			}),
			want: "catalog changed on the server while downloading 3 times",
			is:   catalogclient.ErrChanged,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := newPublisher(t, key, nil)
			good.publish(5, db5)
			dir := t.TempDir()
			if res := mustSync(t, syncOpts(good.ts.URL, dir, key.Public())); res.Serial != 5 || !res.Updated {
				t.Fatalf("first sync = %+v, want serial 5, updated", res)
			}
			state, err := os.ReadFile(filepath.Join(dir, "sync.json"))
			if err != nil {
				t.Fatal(err)
			}
			before := catalogclient.DirNames(t, dir)

			hostile := httptest.NewServer(tt.handler)
			defer hostile.Close()
			opts := syncOpts(hostile.URL, dir, key.Public())
			opts.MaxSize = tt.maxSize
			_, err = catalogclient.Sync(context.Background(), opts)
			if err == nil {
				t.Fatal("Sync succeeded, want an error")
			}
			t.Logf("error: %v", err)
			want := strings.ReplaceAll(tt.want, "{url}", hostile.URL)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\ndoes not contain %q", err, want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if tt.is != nil && tt.is != catalogclient.ErrBadSignature && tt.is != signing.ErrBadSignature && errors.Is(err, catalogclient.ErrBadSignature) {
				t.Errorf("error %v is a bad signature, want only %v", err, tt.is)
			}

			if serial, n := heldSerial(t, dir); serial != 5 || n != 2 {
				t.Errorf("after the refused sync the catalog has serial %d with %d packages, want 5 with 2", serial, n)
			}
			after, err := os.ReadFile(filepath.Join(dir, "sync.json"))
			if err != nil || string(after) != string(state) {
				t.Errorf("sync.json changed: %s (%v), was %s", after, err, state)
			}
			if got := catalogclient.DirNames(t, dir); !slices.Equal(got, before) {
				t.Errorf("client directory holds %q after the refused sync, want %q", got, before)
			}
		})
	}
}

// TestSyncVerifiesInSmallMemory serves a catalog as large as the client
// accepts whose signature does not match, as an attacker would to make
// every client hold it in memory, and checks that the sync refuses it
// without allocating anything near its size (before, the whole file was
// read into memory to verify it: 64 MiB allocated here, 283 MB of RSS
// for a 256 MiB one).
func TestSyncVerifiesInSmallMemory(t *testing.T) {
	key := newKey(t)
	db := buildCatalog(t, 6, "", "foo")
	const size = 64 << 20
	body := make([]byte, size) // a real catalog's start, so it is not refused as a web page
	copy(body, db)
	sig := key.Sign(db)
	hostile := httptest.NewServer(servePair("application/vnd.sqlite3", body, sig))
	defer hostile.Close()
	opts := syncOpts(hostile.URL, t.TempDir(), key.Public())
	opts.MaxSize = size

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := catalogclient.Sync(context.Background(), opts)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, catalogclient.ErrBadSignature) {
		t.Fatalf("Sync: %v, want ErrBadSignature", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > size/4 {
		t.Errorf("the sync allocated %d MiB to refuse a %d MiB catalog, want under %d MiB", got>>20, size>>20, size>>22)
	}
}

// truncating announces the full catalog length, sends half of it and
// closes the connection.
func truncating(db, sig []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/packages.db" {
			w.Write(sig)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.sqlite3\r\nContent-Length: %d\r\n\r\n", len(db))
		buf.Write(db[:len(db)/2])
		buf.Flush()
	}
}

// rawReply answers path with body under the given Content-Length, which
// may be shorter than the body (the client reads only that much) or
// longer (the connection is closed after the body); other paths get
// other, whole.
func rawReply(path string, body []byte, length int64, other []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			w.Write(other)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", length)
		buf.Write(body)
		buf.Flush()
	}
}

func TestSyncTrustOnFirstUse(t *testing.T) {
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	pub.publish(1, buildCatalog(t, 1, "", "foo"))
	dir := t.TempDir()

	// The pin is the caller's to say (Result.Pinned): a warning of the
	// sync's own made it two lines of a mirror's log, neither naming the
	// server.
	var logged bytes.Buffer
	opts := syncOpts(pub.ts.URL, dir, nil)
	opts.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res := mustSync(t, opts)
	if !res.Pinned.Equal(key.Public()) || !res.Updated || res.Serial != 1 || res.Packages != 1 {
		t.Fatalf("first sync = %+v, want the server's key pinned, serial 1, 1 package", res)
	}
	if strings.Contains(logged.String(), "first use") {
		t.Fatalf("the sync logged the pin itself:\n%s", logged.String())
	}
	// server.key holds the key alone, as every version reads it (one
	// before the origin refused a second line: "not base64"); the server
	// it was pinned from is beside it.
	pinned, err := os.ReadFile(filepath.Join(dir, "server.key"))
	if want := key.Public().String() + "\n"; err != nil || string(pinned) != want {
		t.Fatalf("server.key = %q (%v), want %q: the key alone", pinned, err, want)
	}
	origin, err := os.ReadFile(filepath.Join(dir, "server.key.origin"))
	if want := key.Public().String() + "\nfirst-use-from: " + pub.ts.URL + "\n"; err != nil || string(origin) != want {
		t.Fatalf("server.key.origin = %q (%v), want %q: the key and the server it was pinned from", origin, err, want)
	}

	// The same server again: the pinned key verifies; nothing new is pinned.
	pub.publish(2, buildCatalog(t, 2, "", "foo", "bar"))
	res = mustSync(t, syncOpts(pub.ts.URL, dir, nil))
	if res.Pinned != nil || res.Serial != 2 {
		t.Fatalf("second sync = %+v, want serial 2 and no new pin", res)
	}

	// An impostor with its own key, publishing a newer serial, is refused.
	impostor := newPublisher(t, newKey(t), nil)
	impostor.publish(9, buildCatalog(t, 9, "", "evil"))
	_, err = catalogclient.Sync(context.Background(), syncOpts(impostor.ts.URL, dir, nil))
	if !errors.Is(err, catalogclient.ErrBadSignature) || !strings.Contains(err.Error(), "server.key") {
		t.Fatalf("sync from another key = %v, want ErrBadSignature naming server.key", err)
	}
	if serial, _ := heldSerial(t, dir); serial != 2 {
		t.Fatalf("serial %d after the impostor, want 2", serial)
	}
}

func TestSyncTrustOnFirstUseWithoutKeyEndpoint(t *testing.T) {
	key := newKey(t)
	db := buildCatalog(t, 1, "", "foo")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/packages.db":
			w.Write(db)
		case "/packages.db.sig":
			w.Write(key.Sign(db))
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	dir := t.TempDir()
	_, err := catalogclient.Sync(context.Background(), syncOpts(ts.URL, dir, nil))
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), "server_key") {
		t.Fatalf("Sync = %v, want a 404 for /key and a hint about server_key", err)
	}
	if _, err := catalogclient.Path(dir); !errors.Is(err, catalogclient.ErrNoCatalog) {
		t.Fatalf("Path after the failed first sync = %v, want ErrNoCatalog", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("server.key exists after a failed first sync (%v)", err)
	}
}

func TestSyncNotModifiedAndUpdate(t *testing.T) {
	key := newKey(t)
	var (
		mu    sync.Mutex
		codes []int // status of every /packages.db answer
	)
	record := func(_ *publisher, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if r.URL.Path == "/packages.db" {
				mu.Lock()
				codes = append(codes, rec.Code)
				mu.Unlock()
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	}
	pub := newPublisher(t, key, record)
	pub.publish(5, buildCatalog(t, 5, "", "foo", "bar"))
	dir := t.TempDir()
	opts := syncOpts(pub.ts.URL, dir, key.Public())

	if res := mustSync(t, opts); !res.Updated || res.Serial != 5 || res.Packages != 2 {
		t.Fatalf("first sync = %+v", res)
	}
	if res := mustSync(t, opts); res.Updated || res.Serial != 5 || res.Packages != 2 {
		t.Fatalf("unchanged sync = %+v, want not updated, serial 5, 2 packages", res)
	}
	if !slices.Equal(codes, []int{200, 304}) {
		t.Fatalf("catalog answers %v, want [200 304]", codes)
	}

	pub.publish(6, buildCatalog(t, 6, "", "foo", "bar", "baz"))
	if res := mustSync(t, opts); !res.Updated || res.Serial != 6 || res.Packages != 3 {
		t.Fatalf("update = %+v, want updated to serial 6 with 3 packages", res)
	}
	if serial, n := heldSerial(t, dir); serial != 6 || n != 3 {
		t.Fatalf("held serial %d with %d packages, want 6 with 3", serial, n)
	}
	if got, want := catalogclient.DirNames(t, dir), []string{"catalog", "catalog-6", "sync.json"}; !slices.Equal(got, want) {
		t.Fatalf("client directory holds %q, want %q (old catalog removed)", got, want)
	}
	link, err := os.Readlink(filepath.Join(dir, "catalog"))
	if err != nil || link != "catalog-6" {
		t.Fatalf("catalog link -> %q (%v), want catalog-6", link, err)
	}
	for _, f := range []string{"packages.db", "packages.db.sig"} {
		if _, err := os.Stat(filepath.Join(dir, "catalog", f)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := catalogclient.Path(dir)
	if err != nil || p != filepath.Join(dir, "catalog", "packages.db") {
		t.Fatalf("Path = %q, %v", p, err)
	}
}

// TestSyncSameBytesFromMirror: a mirror (another URL, so no If-None-Match)
// serving the catalog held is not an update and not an error.
func TestSyncSameBytesFromMirror(t *testing.T) {
	key := newKey(t)
	db := buildCatalog(t, 3, "", "foo")
	a, b := newPublisher(t, key, nil), newPublisher(t, key, nil)
	a.publish(3, db)
	b.publish(3, db)
	dir := t.TempDir()
	mustSync(t, syncOpts(a.ts.URL, dir, key.Public()))
	res := mustSync(t, syncOpts(b.ts.URL, dir, key.Public()))
	if res.Updated || res.Serial != 3 {
		t.Fatalf("sync from the mirror = %+v, want not updated, serial 3", res)
	}
}

// TestSyncRetriesPublicationBetweenRequests publishes a new catalog right
// after the client has fetched packages.db, so the signature it fetches next
// belongs to another publication; the client must notice by ETag and
// fetch the pair again.
func TestSyncRetriesPublicationBetweenRequests(t *testing.T) {
	key := newKey(t)
	db7 := buildCatalog(t, 7, "", "foo", "bar")
	var dbRequests atomic.Int32
	publishMidway := func(p *publisher, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.URL.Path == "/packages.db" && dbRequests.Add(1) == 1 {
				p.publish(7, db7)
			}
		})
	}
	pub := newPublisher(t, key, publishMidway)
	pub.publish(6, buildCatalog(t, 6, "", "foo"))
	dir := t.TempDir()
	res := mustSync(t, syncOpts(pub.ts.URL, dir, key.Public()))
	if res.Serial != 7 || res.Packages != 2 || !res.Updated {
		t.Fatalf("Sync = %+v, want serial 7 with 2 packages", res)
	}
	if n := dbRequests.Load(); n != 2 {
		t.Fatalf("%d catalog requests, want 2 (one retry)", n)
	}
}

func TestPathAndOpenBeforeSync(t *testing.T) {
	dir := t.TempDir()
	if _, err := catalogclient.Path(dir); !errors.Is(err, catalogclient.ErrNoCatalog) {
		t.Fatalf("Path = %v, want ErrNoCatalog", err)
	}
	if _, err := catalogclient.Open(context.Background(), dir); !errors.Is(err, catalogclient.ErrNoCatalog) {
		t.Fatalf("Open = %v, want ErrNoCatalog", err)
	}
}

// TestSyncRemovesStrays: leftovers of an interrupted sync disappear.
func TestSyncRemovesStrays(t *testing.T) {
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	pub.publish(1, buildCatalog(t, 1, "", "foo"))
	dir := t.TempDir()
	for _, name := range []string{".sync-tmp-packages.db-123", ".sync-tmp-catalog-456"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustSync(t, syncOpts(pub.ts.URL, dir, key.Public()))
	if got, want := catalogclient.DirNames(t, dir), []string{"catalog", "catalog-1", "sync.json"}; !slices.Equal(got, want) {
		t.Fatalf("client directory holds %q, want %q", got, want)
	}
}

func TestSyncBadOptions(t *testing.T) {
	tests := []struct {
		opts catalogclient.Options
		want string
	}{
		{catalogclient.Options{ServerURL: "http://127.0.0.1:1"}, "no client directory"},
		{catalogclient.Options{Dir: t.TempDir()}, "no server URL"},
		{catalogclient.Options{Dir: t.TempDir(), ServerURL: "ftp://x"}, `server URL "ftp://x"`},
	}
	for _, tt := range tests {
		_, err := catalogclient.Sync(context.Background(), tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Sync(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
}

// A sync with its own HTTP client leaves no connection open behind it: a
// long-running process (a mirror syncs every minute) kept one idling for
// 90 s per sync.
func TestSyncLeavesNoIdleConnection(t *testing.T) {
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	var open atomic.Int64
	count := func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	pub.connState.Store(&count)
	pub.publish(1, buildCatalog(t, 1, "", "foo"))
	dir := t.TempDir()
	for range 3 {
		mustSync(t, syncOpts(pub.ts.URL, dir, key.Public()))
	}
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != 0 {
		t.Fatalf("%d connections still open after three syncs", n)
	}
}

// config.CheckBaseURL refuses a server_url that names one of the files a
// catalog server serves; it keeps its own list, config being a leaf.
func TestConfigKnowsServedFiles(t *testing.T) {
	want := []string{catalogclient.PathCatalog, catalogclient.PathSignature, catalogclient.PathRotation, catalogclient.PathKey}
	if !slices.Equal(config.ServedFiles, want) {
		t.Errorf("config.ServedFiles = %q, want %q", config.ServedFiles, want)
	}
}

// TestSyncNotFoundHint: a 404 that says nothing more (a web server's, for a
// path that is not the base URL) adds a hint at server_url; a server that
// says why (dist-server with nothing published) is shown as it is.
func TestSyncNotFoundHint(t *testing.T) {
	const hint = "no catalog at this URL: the server URL must be the base URL"
	for _, tt := range []struct {
		name     string
		handler  http.HandlerFunc
		wantHint bool
	}{
		{"a wrong path", http.NotFound, true},
		{"an HTML 404", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(404)
			io.WriteString(w, "<h1>Not Found</h1>")
		}, true},
		{"the server says why", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no catalog published yet", 404)
		}, false},
		{"another status", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Forbidden", 403)
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := catalogclient.Sync(context.Background(), syncOpts(srv.URL+"/dist", t.TempDir(), newKey(t).Public()))
			if err == nil {
				t.Fatal("Sync succeeded")
			}
			if got := strings.Contains(err.Error(), hint); got != tt.wantHint {
				t.Errorf("error %q: hint %v, want %v", err, got, tt.wantHint)
			}
			if got := errors.Is(err, catalogclient.ErrNoCatalogHere); got != tt.wantHint {
				t.Errorf("error %q: errors.Is ErrNoCatalogHere = %v, want %v", err, got, tt.wantHint)
			}
			if !strings.Contains(err.Error(), srv.URL+"/dist/packages.db") {
				t.Errorf("error %q does not name the URL", err)
			}
		})
	}
}
