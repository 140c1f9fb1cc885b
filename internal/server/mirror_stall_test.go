package server

import (
	"context"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
)

// frontedPrimary is a primary's configuration and data home with alpha
// (size bytes) published, whose public_url (its torrents' web seed) is
// ln, a listener in front of it that the test serves.
func frontedPrimary(ctx context.Context, t *testing.T, size int) (*config.Server, paths.Server, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cfg := &config.Server{DatabaseAddr: freeAddr(t), TrackerAddr: freeAddr(t), PeerAddr: freeAddr(t), PublicURL: "http://" + ln.Addr().String(), WebSeed: true}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	primary := paths.Home{Root: t.TempDir()}.Server()
	if _, err := (&publish.Publisher{Paths: primary, Config: cfg}).Add(ctx, []string{writePackage(t, "alpha", size)}); err != nil {
		t.Fatal(err)
	}
	return cfg, primary, ln
}

// A mirror whose only source for an archive is a web seed that answers
// and then drips a byte a second gives the download up at its stall
// timeout and logs what each source did: it logged "no progress for 2m0s
// from any peer or web seed", naming none, and a web seed slower than a
// piece per timeout counted as none (a drip that counted each byte would
// have held the download until the round's deadline).
func TestMirrorStallNamesWebSeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, ln := frontedPrimary(ctx, t, 200<<10)
	front := ln.Addr().String()
	nettest.SlowSeed(t, ln, "http://"+cfg.DatabaseAddr, primary.Archives(), func(string) (int64, time.Duration) { return 1, time.Second })

	done := make(chan error, 2)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg, NoSeeder: true})
	mcfg := &config.Server{DatabaseAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	rec := &logRecorder{}
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: paths.Home{Root: t.TempDir()}.Server(), Config: mcfg, Primary: []string{"http://" + front},
			Interval: 100 * time.Millisecond, StallTimeout: 3 * time.Second, Logger: slog.New(rec)})
	})
	failed := func() []string {
		var out []string
		for _, l := range rec.lines(0, slog.LevelError) {
			if strings.Contains(l, "cannot mirror package") {
				out = append(out, l)
			}
		}
		return out
	}
	waitFor(t, "the dripping download to stall", func() bool { return len(failed()) > 0 })
	line := failed()[0]
	want := regexp.MustCompile(`only \d+ B received in 3s from all peers and web seeds, under 1\.0 KiB/s: web seed http://` + regexp.QuoteMeta(front) + `/packages/alpha-1\.0\.0\.tar\.zst answered HTTP 206 Partial Content and sent \d+ B`)
	if !want.MatchString(line) {
		t.Errorf("the stall's line does not say what the web seed did:\n%s", line)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}
