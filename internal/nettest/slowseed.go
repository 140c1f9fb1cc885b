package nettest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Pace is how a SlowSeed sends an archive's body: chunk bytes every
// every.
type Pace func(archive string) (chunk int64, every time.Duration)

// SlowSeed serves on ln, until the test ends, a publisher's catalog as its
// server does (a proxy to backend, http://HOST:PORT) and, under
// /packages/, its archives from dir as a web seed that answers a range
// request at once with the right headers and then sends the body at
// pace's rate: a web seed that drips, or a slow link.
func SlowSeed(t testing.TB, ln net.Listener, backend, dir string, pace Pace) {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/packages/")
		if !ok {
			proxy.ServeHTTP(w, r)
			return
		}
		name = filepath.Base(name)
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		chunk, every := pace(name)
		start, end := int64(0), int64(len(data))-1
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &start, &end); err != nil || start > end || end >= int64(len(data)) {
			start, end = 0, int64(len(data))-1
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(end-start+1))
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush()
		for i := start; i <= end; i += chunk {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(every):
			}
			if _, err := w.Write(data[i:min(i+chunk, end+1)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
