package catalogserver

// The web seed: the archives of the current snapshot under /packages/
// (BEP 19), paced by the uplink's limiter and counted for /metrics.

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/distpac/distpac/internal/connlimit"
	"github.com/distpac/distpac/internal/torrentmeta"
)

func (s *Server) serveArchive(w http.ResponseWriter, r *http.Request, name string) {
	sn := s.snap.Load()
	if sn == nil || !validArchiveName(name) {
		http.NotFound(w, r)
		return
	}
	if _, ok := sn.archives[name]; !ok {
		if _, later := sn.later.Load(name); !later {
			http.NotFound(w, r)
			return
		}
	}
	if _, no := s.withheld.Load(name); no {
		w.Header().Set(torrentmeta.HeaderWithheld, "damaged")
		http.Error(w, "this server's copy of the archive no longer matches its torrent; its operator must repair it", http.StatusServiceUnavailable)
		return
	}
	release, ok := connlimit.HoldFile(w, r) // the archive's descriptor, beside the socket's
	if !ok {
		return
	}
	defer release()
	path := filepath.Join(s.archivesDir, name)
	f, err := os.Open(path)
	if err != nil {
		// Listed but missing: the store and the catalog disagree, which the
		// publisher must hear about.
		s.log.Warn("archive listed in the catalog cannot be served", "path", path, "err", err)
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
		} else {
			http.Error(w, "archive unreadable", http.StatusInternalServerError)
		}
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		s.log.Warn("archive listed in the catalog is not a regular file", "path", path, "err", err)
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentTypeArchive)
	cw := &countingWriter{ResponseWriter: w}
	if s.upload != nil {
		// Through Write alone (no sendfile): each write waits for its
		// tokens.
		http.ServeContent(&pacedWriter{w: cw, rc: http.NewResponseController(cw), lim: s.upload, ctx: r.Context()}, r, name, fi.ModTime(), f)
	} else {
		http.ServeContent(cw, r, name, fi.ModTime(), f)
	}
	s.archiveBytes.Add(float64(cw.n))
	s.archiveSent.Add(cw.n)
}

// pacedWriter writes to w out of the tokens of lim that the seeder leaves:
// a part (a quarter of the burst at most) goes out once the bucket holds
// its tokens, and is never reserved ahead. The seeder reserves its chunks
// ahead (it goes into debt), so while it uses the whole rate the web seed
// waits, and takes the rest when it does not. A fair share would have let
// anyone fetching /packages/ take the seeder's rate: with 64 requests at
// once (one address may hold 256 connections), a seeder capped at 1 MiB/s
// kept 76 KiB/s of it (a review's measurement); the web seed is the last
// resort. It stops when ctx ends (the client went away).
//
// Each part moves the response's write deadline a minute on: http.Server's
// WriteTimeout (30 minutes) is one deadline for the whole response, which
// a large archive at a low rate outlasts.
type pacedWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController // of w, for its write deadline
	lim *rate.Limiter
	ctx context.Context
}

func (p *pacedWriter) Header() http.Header         { return p.w.Header() }
func (p *pacedWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }
func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.w }

// pacedPartWait bounds how long a part waits before it looks again for
// the tokens the seeder left.
const pacedPartWait = 50 * time.Millisecond

func (p *pacedWriter) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n := min(len(b)-done, max(p.lim.Burst()/4, 1)) // a quarter: tokens the seeder left need not fill the bucket
		for !p.lim.AllowN(time.Now(), n) {
			short := float64(n) - p.lim.Tokens()
			wait := min(pacedPartWait, max(time.Millisecond, time.Duration(short/float64(p.lim.Limit())*float64(time.Second))))
			t := time.NewTimer(wait)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return done, p.ctx.Err()
			case <-t.C:
			}
		}
		p.rc.SetWriteDeadline(time.Now().Add(time.Minute)) // not every writer has one (tests' recorders)
		m, err := p.w.Write(b[done : done+n])
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// validArchiveName refuses anything that could name a path rather than a
// file. The set lookup alone would already refuse such names; this keeps the
// guarantee independent of what the publisher puts in the set.
func validArchiveName(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsAny(name, "/\\\x00") && filepath.Base(name) == name
}

// countingWriter counts body bytes for distpac_archive_bytes_served_total.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadFrom hands the copy to the ResponseWriter's own ReadFrom, which
// http.ServeContent reaches through it: down to the connection's, where
// the kernel sends the file (sendfile) without a copy through user space.
// Without it every archive byte went through a 32 KiB buffer.
func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(c.ResponseWriter, r)
	c.n += n
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
