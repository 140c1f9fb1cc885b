package cli

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// here returns a pc inside this package, as a record logged from here has.
func here() uintptr {
	var pc [1]uintptr
	runtime.Callers(1, pc[:])
	return pc[0]
}

func TestFromPackage(t *testing.T) {
	pc := here()
	if !fromPackage(pc, "github.com/distpac/distpac/internal/cli.") {
		t.Errorf("a pc in internal/cli is not seen as internal/cli's")
	}
	if fromPackage(pc, libraryPrefix) {
		t.Errorf("a pc in internal/cli is seen as the library's")
	}
	if fromPackage(0, "") {
		t.Errorf("a record without a pc is seen as the library's")
	}
}

func TestSourceFilter(t *testing.T) {
	// Records "from the library" are made with a pc in this package and
	// the filter's prefix set to this package; distpac's have another pc.
	const self = "github.com/distpac/distpac/internal/cli."
	var ours [1]uintptr
	runtime.Callers(0, ours[:]) // a pc in package runtime
	lib := here()
	tests := []struct {
		name     string
		min      slog.Level
		level    slog.Level
		pc       uintptr
		wantSeen bool
	}{
		{"library debug dropped", slog.LevelInfo, slog.LevelDebug, lib, false},
		{"library info kept", slog.LevelInfo, slog.LevelInfo, lib, true},
		{"library warning kept", slog.LevelInfo, slog.LevelWarn, lib, true},
		{"library info dropped above", slog.LevelWarn, slog.LevelInfo, lib, false},
		{"library error kept", slog.LevelInfo, slog.LevelError, lib, true},
		{"our debug kept", slog.LevelInfo, slog.LevelDebug, ours[0], true},
		{"no pc kept", slog.LevelInfo, slog.LevelDebug, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			h := &sourceFilter{next: slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), prefix: self, min: tt.min}
			// Through WithAttrs and WithGroup too: the library's loggers
			// are derived with With(...).
			for _, h := range []slog.Handler{h, h.WithAttrs([]slog.Attr{slog.String("torrent", "x")}), h.WithGroup("g")} {
				out.Reset()
				if err := h.Handle(context.Background(), slog.NewRecord(time.Now(), tt.level, "msg", tt.pc)); err != nil {
					t.Fatal(err)
				}
				if seen := out.Len() > 0; seen != tt.wantSeen {
					t.Errorf("%T: printed %q, want printed = %v", h, out.String(), tt.wantSeen)
				}
			}
		})
	}
}

func TestNewLoggerLevels(t *testing.T) {
	tests := []struct {
		verbosity int
		quiet     bool
		floor     slog.Level
		wantLevel slog.Level
	}{
		{0, false, slog.LevelError, slog.LevelError},
		{1, false, slog.LevelError, slog.LevelDebug},
		{2, false, slog.LevelError, slog.LevelDebug},
		{3, false, slog.LevelError, slog.LevelDebug},
		{0, false, slog.LevelInfo, slog.LevelInfo}, // a foreground server
		{2, true, slog.LevelInfo, slog.LevelError}, // -q wins
	}
	for _, tt := range tests {
		var out bytes.Buffer
		l, level := newLogger(&out, tt.verbosity, tt.quiet, tt.floor)
		if level != tt.wantLevel {
			t.Errorf("verbosity %d quiet %v floor %v: level %v, want %v", tt.verbosity, tt.quiet, tt.floor, level, tt.wantLevel)
		}
		_, filtered := l.Handler().(*sourceFilter)
		// Below -vv the library's records go through the filter.
		if want := tt.verbosity < 2; filtered != want {
			t.Errorf("verbosity %d: library filter present = %v, want %v", tt.verbosity, filtered, want)
		}
		l.Debug("ours")
		if got, want := strings.Contains(out.String(), "msg=ours"), tt.wantLevel <= slog.LevelDebug; got != want {
			t.Errorf("verbosity %d quiet %v: our debug record printed = %v, want %v", tt.verbosity, tt.quiet, got, want)
		}
	}
}
