package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/swarm"
)

// A request whose header is over maxHeaderBytes is refused (431) without
// the daemon keeping it: net/http's default of 1 MiB let 400 connections
// that each sent a megabyte of header lines hold 450 MB (an attacker's run).
func TestLargeHeaderRefused(t *testing.T) {
	dir := t.TempDir()
	writeCatalog(t, dir, "http://127.0.0.1:1/announce")
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	startDaemon(t, sock, dir)
	for _, tc := range []struct {
		name   string
		header int
		want   int
	}{
		{"small", 1 << 10, http.StatusOK},
		{"over the bound", 4 * maxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET /status?items=0 HTTP/1.1\r\nHost: daemon\r\nX-Pad: " + strings.Repeat("a", tc.header) + "\r\n\r\n"
			go c.Write([]byte(req)) // the daemon may answer before reading all of it
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestOverLimits(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ih := func(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 20) }
	ts := []swarm.TorrentStatus{
		{InfoHash: ih(1), Name: "fresh", State: "seeding", Ratio: 0.5, Seeding: now.Add(-time.Minute)},
		{InfoHash: ih(2), Name: "shared-a-lot", State: "seeding", Ratio: 3, Seeding: now.Add(-time.Minute)},
		{InfoHash: ih(3), Name: "old", State: "seeding", Ratio: 0.1, Seeding: now.Add(-100 * time.Hour)},
		{InfoHash: ih(4), Name: "downloading", State: "downloading", Ratio: 9},
	}
	tests := []struct {
		name  string
		cfg   config.Client
		drops []string
	}{
		{"no limits", config.Client{}, nil},
		{"ratio", config.Client{SeedRatioLimit: 2}, []string{ih(2)}},
		{"time", config.Client{SeedTimeLimit: config.Duration(72 * time.Hour)}, []string{ih(3)}},
		{"both", config.Client{SeedRatioLimit: 2, SeedTimeLimit: config.Duration(72 * time.Hour)}, []string{ih(2), ih(3)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, h := range overLimits(ts, &tc.cfg, now, slog.New(slog.DiscardHandler)) {
				got = append(got, h.HexString())
			}
			if !slices.Equal(got, tc.drops) {
				t.Errorf("dropped %v, want %v", got, tc.drops)
			}
		})
	}
}

func TestProgressPeriod(t *testing.T) {
	for _, c := range []struct {
		query string
		want  time.Duration
		bad   bool
	}{
		{"", progressEvery, false},
		{"?progress_ms=0", progressEvery, false},
		{"?progress_ms=50", progressEvery, false},
		{"?progress_ms=1000", time.Second, false},
		{"?progress_ms=999999999", maxProgressEvery, false},
		{"?progress_ms=9223372036855", maxProgressEvery, false}, // overflows a Duration in ms*Millisecond
		{"?progress_ms=-1", 0, true},
		{"?progress_ms=1s", 0, true},
		{"?progress_ms=99999999999999999999", 0, true},
	} {
		got, err := progressPeriod(httptest.NewRequest(http.MethodPost, "http://daemon/download"+c.query, nil))
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "progress_ms") {
				t.Errorf("%q: %v, %v; want an error naming progress_ms", c.query, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %v, %v; want %v", c.query, got, err, c.want)
		}
	}
}

// A caller that asks for progress every second gets it that often, not
// five times a second; one that asks for nothing gets the default.
func TestDownloadProgressEvery(t *testing.T) {
	dir := t.TempDir()
	// A tracker that never answers, and no peer: the download waits (one
	// that refuses the connection is given up after about 2 s).
	tracker, _ := nettest.Hanging(t)
	writeCatalog(t, dir, "http://"+tracker+"/announce")
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	startDaemon(t, sock, dir)
	events := func(every time.Duration) int {
		t.Helper()
		c := Dial(context.Background(), sock)
		if c == nil {
			t.Fatal("no daemon at the socket")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2200*time.Millisecond)
		defer cancel()
		n := 0
		err := c.Download(ctx, Request{Items: []Item{{Name: "foo", Version: "1.0.0"}}}, every, func(Event) { n++ })
		if !errors.Is(err, context.DeadlineExceeded) && (err == nil || !strings.Contains(err.Error(), "deadline exceeded")) {
			t.Fatalf("download with no source ended with %v; want the caller's deadline", err)
		}
		return n
	}
	// Upper bounds only for the slow caller (a slow machine sends fewer),
	// and a lower bound far under the default's 11 for the other.
	if n := events(time.Second); n > 3 {
		t.Errorf("asked for progress every second: %d events in 2.2 s", n)
	}
	if n := events(0); n < 5 {
		t.Errorf("default progress: %d events in 2.2 s; want about 11", n)
	}
}
