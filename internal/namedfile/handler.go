// Package namedfile is the named-file-server: a tiny HTTP server that serves
// exactly the files named on its command line, each at /<basename>, and
// nothing else. It is the catalog server of distpac's original design kept
// as a standalone tool (DESIGN.md §1), handy for mirroring packages.db and
// packages.db.sig from any machine.
//
// Safety comes from the shape of the handler rather than from path
// sanitising: the set of URLs is a fixed map built at start-up, and a
// request path is only ever looked up in it, never joined to a directory. So
// "/", "/../x", "/%2e%2e/etc/passwd", "//file" and encoded slashes all miss
// the map and get 404.
package namedfile

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/distpac/distpac/internal/connlimit"
	"github.com/distpac/distpac/internal/httprange"
)

// Handler serves a fixed set of files at /<basename>.
type Handler struct {
	files map[string]string // request path "/<basename>" -> absolute file path; read-only after New
	log   *slog.Logger
}

// New checks every path and maps /<basename> to it. Each must be an
// existing regular file (a symlink to one is fine) and no two may share a
// basename; anything else is an error naming the path, found before the
// server starts rather than as a 404 later. log receives warnings about
// files that disappear or turn unreadable; nil discards them.
func New(paths []string, log *slog.Logger) (*Handler, error) {
	if len(paths) == 0 {
		return nil, errors.New("no files to serve")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files := make(map[string]string, len(paths))
	given := make(map[string]string, len(paths)) // URL path -> path as given, for messages
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("check %q: %w", p, unwrapPath(err))
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("check %q: is a directory; name the files to serve", p)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("check %q: not a regular file (%s)", p, fi.Mode().Type())
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("check %q: %w", p, err)
		}
		urlPath := "/" + filepath.Base(abs)
		if prev, dup := given[urlPath]; dup {
			return nil, fmt.Errorf("check %q: same name as %q; both would be served at %s", p, prev, urlPath)
		}
		files[urlPath] = abs
		given[urlPath] = p
	}
	return &Handler{files: files, log: log}, nil
}

// unwrapPath drops the "stat <path>: " framing of a *fs.PathError, since the
// caller's message already names the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Len reports how many files are served.
func (h *Handler) Len() int { return len(h.files) }

// ServeHTTP implements http.Handler. The file is opened for each request,
// so a file replaced by rename (how distpac publishes its catalog) is served
// fresh, never as a mix of old and new.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// r.URL.Path is the decoded path, exactly as the client sent it: no
	// cleaning happens on the way here, and none is wanted.
	path, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	release, ok := connlimit.HoldFile(w, r) // the file's descriptor, beside the socket's
	if !ok {
		return
	}
	defer release()
	f, err := os.Open(path)
	if err != nil {
		h.fail(w, r, path, err)
		return
	}
	defer f.Close()
	// Stat the open file, not the path, so size and time match the bytes
	// sent even if the path is renamed over right now.
	fi, err := f.Stat()
	if err != nil {
		h.fail(w, r, path, err)
		return
	}
	if !fi.Mode().IsRegular() {
		h.fail(w, r, path, errors.New("no longer a regular file"))
		return
	}

	hdr := w.Header()
	hdr.Set("ETag", etag(fi.Size(), fi.ModTime()))
	// Files can change under the same name: make caches revalidate, which
	// costs a 304 when nothing changed.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, httprange.Limit(r), fi.Name(), fi.ModTime(), f)
}

// fail answers a request whose file cannot be served now: 404 when it is
// gone, 500 otherwise. Either way the operator hears of it, because the file
// was fine at start-up.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, path string, err error) {
	h.log.Warn("cannot serve file", "path", path, "url", r.URL.Path, "err", err)
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	http.Error(w, "cannot read file", http.StatusInternalServerError)
}

// etag derives a strong validator from size and modification time, which
// change whenever the file is rewritten or replaced, without hashing it.
func etag(size int64, mod time.Time) string {
	return `"` + strconv.FormatInt(size, 16) + "-" + strconv.FormatInt(mod.UnixNano(), 16) + `"`
}
