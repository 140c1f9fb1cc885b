//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// runHTTP serves the archive that the distpac row published from a plain
// HTTP server whose total upload is capped at U, and has N concurrent
// clients fetch it, as apt or pacman mirrors do.
func runHTTP(ctx context.Context, o Options, n int, distpacDir string) (Row, error) {
	var row Row
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	matches, _ := filepath.Glob(filepath.Join(distpacDir, "server", "distpac", "server", "archives", "*.tar.zst"))
	if len(matches) != 1 {
		return row, fmt.Errorf("archive of the distpac row not found under %s", distpacDir)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		return row, err
	}
	lim := rate.NewLimiter(rate.Limit(o.U), 64<<10)
	var sent atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		for off := 0; off < len(data); {
			chunk := min(16<<10, len(data)-off)
			if err := lim.WaitN(r.Context(), chunk); err != nil {
				return
			}
			if _, err := w.Write(data[off : off+chunk]); err != nil {
				return
			}
			sent.Add(int64(chunk))
			off += chunk
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return row, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/archive"

	t0 := time.Now()
	times := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			got, err := io.Copy(io.Discard, resp.Body)
			times[i] = time.Since(t0)
			if err == nil && got != int64(len(data)) {
				err = fmt.Errorf("client %d got %d of %d bytes", i, got, len(data))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return row, err
		}
	}
	summarise(&row, times)
	row.ServerUp = float64(sent.Load()) / float64(o.F)
	row.ClientDownMax = float64(len(data)) / float64(o.F)
	return row, nil
}
