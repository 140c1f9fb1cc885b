package swarm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/swarm/peertest"
)

// An extended handshake the library cannot parse was logged whole, five log
// bytes for each byte a peer sent: 100 such messages of 256 KiB grew
// dist-server's log by 131 MB (an attacker's run). Each record of the
// library is now cut, and their rate bounded.
func TestHostilePeerCannotFloodTheLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var log buftest.Buffer
	seeder, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	_, ih := seedRandom(t, context.Background(), seeder, dir, "pkg-1.0.0.tar.zst", 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const conns, junk = 20, 200 << 10
	for range conns {
		w, err := peertest.Dial(ctx, seeder.Addr().String(), ih)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Send(append([]byte{20, 0}, bytes.Repeat([]byte{0xff}, junk)...)); err != nil {
			t.Fatal(err)
		}
		w.Closed(2 * time.Second)
		w.Close()
	}
	time.Sleep(100 * time.Millisecond) // the last record's write
	if n := log.Len(); n > conns*2*libraryLogMessage+4096 {
		t.Fatalf("%d KiB of log for %d messages of %d KiB from peers", n>>10, conns, junk>>10)
	}
}

func TestLibraryHandler(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2 bytes a rune: a cut must not split one
	tests := []struct {
		name  string
		log   func(l *slog.Logger)
		want  []string // in the output
		avoid []string // not in it
	}{
		{"long message", func(l *slog.Logger) { l.Warn("bad message " + long) }, []string{"… (2012 bytes)"}, []string{long}},
		{"long string value", func(l *slog.Logger) { l.Info("m", "payload", long) }, []string{"payload=", "… (2000 bytes)"}, []string{long}},
		{"long error value", func(l *slog.Logger) { l.Info("m", "err", errors.New(long)) }, []string{"… (2000 bytes)"}, []string{long}},
		{"in a group", func(l *slog.Logger) { l.Info("m", slog.Group("peer", "said", long)) }, []string{"peer.said=", "… (2000 bytes)"}, []string{long}},
		{"with attrs", func(l *slog.Logger) { l.With("said", long).Info("m") }, []string{"said=", "… (2000 bytes)"}, []string{long}},
		{"short and other kinds", func(l *slog.Logger) { l.Info("fine", "n", 7, "d", time.Second) }, []string{`msg=fine n=7 d=1s`}, []string{"…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.log(slog.New(newLibraryHandler(slog.NewTextHandler(&b, nil))))
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %.300q lacks %q", out, w)
				}
			}
			for _, a := range tt.avoid {
				if strings.Contains(out, a) {
					t.Errorf("output has %.40q…", a)
				}
			}
			if len(out) > 2*libraryLogMessage {
				t.Errorf("%d bytes of output", len(out))
			}
		})
	}
}

// Past its burst the handler lets libraryLogRate records a second through,
// and the next one it lets through counts those it dropped.
func TestLibraryHandlerRate(t *testing.T) {
	var b bytes.Buffer
	l := slog.New(newLibraryHandler(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for range libraryLogBurst + 50 {
		l.Info("flood")
	}
	if n := strings.Count(b.String(), "msg=flood"); n < libraryLogBurst || n > libraryLogBurst+5 {
		t.Fatalf("%d records of %d let through at once, want the burst of %d", n, libraryLogBurst+50, libraryLogBurst)
	}
	// Debug records, asked for with -v, are not counted nor dropped.
	for range 50 {
		l.Debug("chatter")
	}
	time.Sleep(time.Second / libraryLogRate * 2)
	l.Info("later")
	if n := strings.Count(b.String(), "msg=chatter"); n != 50 {
		t.Errorf("%d of 50 debug records let through", n)
	}
	if !strings.Contains(b.String(), "msg=later library_records_dropped=") {
		t.Fatalf("the record after the drops does not count them:\n%s", b.String()[max(0, b.Len()-300):])
	}
}

// TestLibraryWriteErrorsAreDistpacs: the library's error line for a chunk
// it could not write (a full disk: one per chunk, before distpac's own
// error naming the file) is a debug record, shown with -v only.
func TestLibraryWriteErrorsAreDistpacs(t *testing.T) {
	const line = "c3712b: *torrent.PeerConn 0x1bc3bb9d1508: writing received chunk 0: write x.part: no space left on device"
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var b bytes.Buffer
		l := slog.New(newLibraryHandler(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: level})))
		l.Error(line)
		out := b.String()
		switch {
		case level == slog.LevelInfo && out != "":
			t.Errorf("without -v: %q, want nothing", out)
		case level == slog.LevelDebug && !(strings.Contains(out, "level=DEBUG") && strings.Contains(out, "no space left")):
			t.Errorf("with -v: %q, want the line at debug level", out)
		}
	}
}
