package server

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
)

// TestMirrorOfProtectedPrimary: a primary behind basic auth names its
// public_url in its torrents' web seed, without the password, as no
// password belongs in a torrent. A mirror given the primary's URL with
// the password asked the torrent's web seed and got 401, so with the
// primary's seeder out of reach it had the archive from nowhere. Now the
// primaries it follows are its web seeds, whole, as a client's servers
// are. Here the primary runs no seeder: the archive comes over HTTP or
// not at all.
func TestMirrorOfProtectedPrimary(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, ln := frontedPrimary(ctx, t, 300<<10)
	front := ln.Addr().String()
	// The front asks for a user and password, as a private repository's
	// web server does, and passes what it lets in to the primary.
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: cfg.DatabaseAddr})
	var mu sync.Mutex
	refused := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "mirror" || p != "s3cret" {
			mu.Lock()
			refused++
			mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="distpac"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	done := make(chan error, 2)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg, NoSeeder: true})
	mcfg := &config.Server{DatabaseAddr: freeAddr(t), PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: paths.Home{Root: t.TempDir()}.Server(), Config: mcfg, Primary: []string{"http://mirror:s3cret@" + front},
			Interval: time.Second, Logger: testLogger(t, "mirror")})
	})
	mirror := "http://" + mcfg.DatabaseAddr
	waitFor(t, "the mirror to serve alpha's archive", func() bool {
		resp, err := http.Get(mirror + "/packages/alpha-1.0.0.tar.zst")
		if err != nil {
			return false // not listening yet
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	mu.Lock()
	if refused > 0 {
		t.Errorf("the front refused %d requests: the mirror asked without the password", refused)
	}
	mu.Unlock()
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}
