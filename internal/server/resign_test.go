package server

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
)

// TestResignFailureLoggedOnce: a running server whose catalog cannot be
// re-signed (its serial at math.MaxInt64: catalog.ErrLastSerial) tries
// again every poll, and logged the failure every poll, twice a second
// (an operator's run). The first failure is logged; the next ones are
// counted (distpac_errors_total{component="publish"}) and not logged
// until resignLogEvery has passed.
func TestResignFailureLoggedOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, pub := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	if _, err := pub.Republish(ctx, math.MaxInt64-1); err != nil {
		t.Fatal(err)
	}
	// Published valid for 7 days, served by a server that signs for an
	// hour: valid longer than it would sign for, so re-signing is due.
	cfg.CatalogValidFor = config.Duration(time.Hour)
	rec := &logRecorder{}
	done := make(chan error, 1)
	ready := make(chan Info, 1)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	servers.Go(func() {
		done <- Run(ctx, Options{Paths: primary, Config: cfg, Logger: slog.New(rec), PollInterval: 10 * time.Millisecond, Ready: func(i Info) { ready <- i }})
	})
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	}
	waitFor(t, "50 failed re-signings", func() bool { return errorsTotal(t, info, "publish") >= 50 })
	var logged []string
	for _, l := range rec.lines(0, slog.LevelWarn) {
		if strings.Contains(l, "re-sign") {
			logged = append(logged, l)
		}
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "the serial cannot grow") {
		t.Errorf("50 failed re-signings logged:\n%s\nwant one line, naming the serial", strings.Join(logged, "\n"))
	}
	// status says it too: it was seen only in the log.
	if st := statusOf(t, info); st.ResignFailingSince.IsZero() || !strings.Contains(st.ResignError, "the serial cannot grow") || st.ResignValidUntil.IsZero() {
		t.Errorf("status while re-signing fails: since %v, %q, valid until %v; want the failure and when the catalog expires", st.ResignFailingSince, st.ResignError, st.ResignValidUntil)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server: %v", err)
	}
}
