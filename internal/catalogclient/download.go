package catalogclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sync"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/signing"
)

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// download is a catalog and signature fetched but not yet trusted.
type download struct {
	tmp     string // the catalog, in a temporary file in the client directory
	sum     [sha256.Size]byte
	sig     []byte
	dbETag  string
	sigETag string
	// pairedETags: the catalog came from a distpac catalog server, which
	// gives both files one ETag. Static mirrors and CDNs give each file its
	// own, so there different ETags mean nothing.
	pairedETags bool
	endpoint    string // the catalog's URL, for messages
	// rotation is the server's key rotation statements, kept with the
	// catalog (Options.KeepRotation); nil when it publishes none.
	rotation []byte
}

// mismatched reports that the two files come from different publications
// of a distpac catalog server. A mirror cannot be checked this way; the
// signature check still catches a mismatched pair, as a bad signature.
func (d *download) mismatched() bool {
	return d.pairedETags && d.dbETag != "" && d.sigETag != "" && d.dbETag != d.sigETag
}

func (d *download) remove() { os.Remove(d.tmp) }

// fetchPair downloads the catalog (conditionally on etag when not empty)
// and its signature. It returns nil, nil when the server answers 304.
func (s *syncer) fetchPair(ctx context.Context, etag string) (_ *download, err error) {
	dbURL := s.url(PathCatalog)
	resp, err := s.get(ctx, PathCatalog, etag)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		if err := trackerAnswered(dbURL, resp); err != nil {
			return nil, err
		}
		err, said := httpErrorSaid(dbURL, resp)
		if resp.StatusCode == http.StatusNotFound && !said {
			// Not a distpac server's answer (which says why), but a wrong
			// path: the commonest mistake is a URL beside the base one.
			err = fmt.Errorf("%w (%w: the server URL must be the base URL under which dist-server, a mirror or a web server serves %s)", err, ErrNoCatalogHere, PathCatalog)
		}
		return nil, err
	}
	if resp.ContentLength > s.maxSize {
		return nil, fmt.Errorf("GET %s: catalog is %d bytes, the limit is %d: %w", dbURL, resp.ContentLength, s.maxSize, ErrTooLarge)
	}

	f, err := os.CreateTemp(s.dir, tmpPrefix+dbFile+"-*")
	if err != nil {
		return nil, fmt.Errorf("download catalog: %w", err)
	}
	dl := &download{tmp: f.Name(), endpoint: dbURL, dbETag: resp.Header.Get("ETag"), pairedETags: resp.Header.Get(HeaderSerial) != ""}
	defer func() {
		if err != nil {
			f.Close()
			dl.remove()
		}
	}()
	h := sha256.New()
	limit, slow := catalogTimeLimit, errTooSlow
	if s.hurry {
		limit, slow = hurryLimit, errSlow
	}
	var body io.Reader = &hurriedBody{r: resp.Body, total: resp.ContentLength, start: time.Now(), limit: limit, slow: slow}
	if body, err = checkMagic(dbURL, resp, body); err != nil {
		return nil, err
	}
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, s.maxSize+1))
	if err != nil {
		return nil, readError(dbURL, resp, n, err)
	}
	if n > s.maxSize {
		return nil, fmt.Errorf("GET %s: catalog is larger than the limit of %d bytes: %w", dbURL, s.maxSize, ErrTooLarge)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, fmt.Errorf("GET %s: %w: got %d of %d bytes", dbURL, ErrTruncated, n, resp.ContentLength)
	}
	if err := checkCatalogLength(dbURL, resp, f, n); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("download catalog: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("download catalog: %w", err)
	}
	sumInto(&dl.sum, h)

	dl.sig, dl.sigETag, err = s.fetchSignature(ctx)
	if err != nil {
		return nil, err
	}
	return dl, nil
}

func sumInto(dst *[sha256.Size]byte, h hash.Hash) { copy(dst[:], h.Sum(nil)) }

// fetchSignature downloads packages.db.sig, at most maxSigSize bytes.
func (s *syncer) fetchSignature(ctx context.Context) ([]byte, string, error) {
	sigURL := s.url(PathSignature)
	resp, err := s.get(ctx, PathSignature, "")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", httpError(sigURL, resp)
	}
	// Only an HTML page is refused by type: static servers label a .sig
	// file in many ways (Go's sniffing even calls some signatures text).
	if ct := mediaType(resp); ct == "text/html" || ct == "application/xhtml+xml" {
		return nil, "", fmt.Errorf("GET %s: server sent something that is not a signature (%s)", sigURL, resp.Header.Get("Content-Type"))
	}
	sig, err := readLimited(sigURL, resp, maxSigSize, "signature")
	if err != nil {
		return nil, "", err
	}
	// A signature has one size: any other is a cut or wrong reply (a
	// Content-Length shorter than the body makes the HTTP client stop at
	// it), not a signature that fails to verify, whose hint would send the
	// user to change the key.
	if len(sig) < ed25519.SignatureSize {
		return nil, "", shortReply(sigURL, resp, int64(len(sig)), "a signature has", ed25519.SignatureSize)
	}
	if len(sig) > ed25519.SignatureSize {
		return nil, "", fmt.Errorf("GET %s: server sent something that is not a signature (%d bytes, a signature has %d)", sigURL, len(sig), ed25519.SignatureSize)
	}
	return sig, resp.Header.Get("ETag"), nil
}

// fetchKey fetches the server's public key for trust on first use.
func (s *syncer) fetchKey(ctx context.Context) (signing.PublicKey, error) {
	keyURL := s.url(PathKey)
	wrap := func(err error) error {
		return withAdvice(fmt.Errorf("sync: no server key configured and fetching it for trust on first use failed: %w", err),
			fmt.Sprintf("set %s to the output of `dist-server key`", s.keySetting()))
	}
	// Root pins no key of another local user's server (localowner.go).
	// The server is the far end of the connection the key came over, as
	// the transport reports it (after redirects, the last one; a
	// connection kept alive from the catalog's fetch too), looked at as
	// the connection is had, before the request goes, and again once the
	// key is read.
	var mu sync.Mutex
	var far, near *net.TCPAddr
	var lookErr error
	foreign := func(to, from *net.TCPAddr) error {
		err := foreignLocalServer(to, from, os.Geteuid(), kernelTables)
		if err == nil {
			return nil
		}
		advice := fmt.Sprintf("if that server is the one you mean to trust, set %s to the output of its `dist-server key`", s.keySetting())
		if s.keySource == "" { // a client's; a mirror's key is its --key alone
			advice += " (or run `dist-client trust set KEY`)"
		}
		return withAdvice(fmt.Errorf("sync: no server key configured, and the key of %s is not trusted on first use: %w", s.server(), err), advice)
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		remote, _ := info.Conn.RemoteAddr().(*net.TCPAddr)
		local, _ := info.Conn.LocalAddr().(*net.TCPAddr)
		err := foreign(remote, local)
		mu.Lock()
		defer mu.Unlock()
		far, near, lookErr = remote, local, err
	}})
	resp, err := s.get(ctx, PathKey, "")
	if err != nil {
		return nil, wrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		// A web server serving the catalog pair (a static mirror, a CDN)
		// has no /key: the advice alone did not say why the key must be
		// given by hand.
		return nil, withAdvice(fmt.Errorf("sync: no server key configured and fetching it for trust on first use failed: %w", httpError(keyURL, resp)),
			fmt.Sprintf("a static mirror (a web server serving %s and %s) serves no %s, so the key must be given: set %s to the output of `dist-server key` on the publishing server",
				PathCatalog, PathSignature, PathKey, s.keySetting()))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, wrap(httpError(keyURL, resp))
	}
	b, err := readLimited(keyURL, resp, maxSigSize, "key")
	if err != nil {
		return nil, wrap(err)
	}
	k, err := signing.ParsePublicKey(string(b))
	if err != nil {
		return nil, wrap(fmt.Errorf("GET %s: %w", keyURL, err))
	}
	mu.Lock()
	lastFar, lastNear, err := far, near, lookErr
	mu.Unlock()
	if err == nil {
		err = foreign(lastFar, lastNear)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// readLimited reads a small body completely, refusing more than limit bytes
// and fewer than Content-Length.
func readLimited(u string, resp *http.Response, limit int64, what string) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("GET %s: %s is %d bytes, the limit is %d: %w", u, what, resp.ContentLength, limit, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, readError(u, resp, int64(len(b)), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: %s is larger than the limit of %d bytes: %w", u, what, limit, ErrTooLarge)
	}
	if resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
		return nil, fmt.Errorf("GET %s: %w: got %d of %d bytes", u, ErrTruncated, len(b), resp.ContentLength)
	}
	return b, nil
}

// shortReply reports a body of n bytes, all its Content-Length promised
// (or sent without one), that is shorter than what it holds says it must
// be (want): a server whose Content-Length is short of the body it sends.
func shortReply(u string, resp *http.Response, n int64, says string, want int64) error {
	given := "its Content-Length"
	if resp.ContentLength < 0 {
		given = "sent without a Content-Length"
	}
	return fmt.Errorf("GET %s: %w: got %d bytes (%s), %s %d", u, ErrTruncated, n, given, says, want)
}

// checkCatalogLength refuses a catalog of n bytes, downloaded into f,
// shorter than its SQLite header says the database is (page size × page
// count): cut short, it could only fail the signature check, and be
// reported as a bad signature. A header whose page count SQLite would not
// trust itself (written by a version that did not keep it) is not
// checked.
func checkCatalogLength(u string, resp *http.Response, f *os.File, n int64) error {
	var hdr [100]byte
	if n < int64(len(hdr)) {
		return shortReply(u, resp, n, "a SQLite header has", int64(len(hdr)))
	}
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("download catalog: %w", err)
	}
	want, ok := sqliteLength(hdr[:])
	if ok && n < want {
		return shortReply(u, resp, n, "the catalog's header says", want)
	}
	return nil
}

// sqliteLength is the length of a SQLite database file by its 100-byte
// header (https://www.sqlite.org/fileformat2.html#the_database_header):
// the page size at offset 16 (1 means 65536) times the page count at 28,
// which is valid only when the change counter at 24 equals the
// version-valid-for number at 92.
func sqliteLength(hdr []byte) (int64, bool) {
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	if pages == 0 || pageSize < 512 || binary.BigEndian.Uint32(hdr[24:28]) != binary.BigEndian.Uint32(hdr[92:96]) {
		return 0, false
	}
	return pageSize * pages, true
}

// readError names a body that ended early as a truncated download.
func readError(u string, resp *http.Response, n int64, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		if resp.ContentLength >= 0 {
			return fmt.Errorf("GET %s: %w: got %d of %d bytes", u, ErrTruncated, n, resp.ContentLength)
		}
		return fmt.Errorf("GET %s: %w after %d bytes", u, ErrTruncated, n)
	}
	return fmt.Errorf("GET %s: after %d bytes: %w", u, n, err)
}

// checkMagic reads the start of a catalog body and refuses one that is not
// a SQLite database, such as the HTML page of a proxy or a captive portal
// answering 200, before any more of it is read; it returns the body whole
// again. The bytes decide, not the Content-Type: static servers and object
// stores label a .db file in many ways (nginx without a default_type sends
// text/plain, S3 binary/octet-stream), and all of them may mirror the
// catalog.
func checkMagic(u string, resp *http.Response, body io.Reader) (io.Reader, error) {
	head := make([]byte, 32)
	n, err := io.ReadFull(body, head[:len(sqliteMagic)])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, readError(u, resp, int64(n), err)
	}
	if !bytes.Equal(head[:n], sqliteMagic) {
		more, _ := io.ReadFull(body, head[n:]) // the rest of a short excerpt, for the message
		ct := resp.Header.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		return nil, fmt.Errorf("GET %s: %w (%s, starting %q)", u, ErrNotCatalog, ct, catalog.Printable(head[:n+more]))
	}
	return io.MultiReader(bytes.NewReader(head[:n]), body), nil
}
