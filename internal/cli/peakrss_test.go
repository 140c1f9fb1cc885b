package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// A command run with PeakRSSEnv set leaves its own peak RSS in the named
// file when it ends: at least what it held on purpose, and no more than a
// small process holds.
func TestPeakRSSFile(t *testing.T) {
	if PeakRSS(0) == 0 {
		t.Skip("no VmHWM in /proc/self/status")
	}
	dir := t.TempDir()
	t.Setenv(PeakRSSEnv, filepath.Join(dir, "rss-%p"))
	const held = 32 << 20
	var keep []byte
	root := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error {
		keep = bytes.Repeat([]byte{1}, held) // touched, so resident
		return nil
	}}
	var errOut bytes.Buffer
	if code := Run(context.Background(), "x", root, nil, Stdio{In: strings.NewReader(""), Out: &errOut, Err: &errOut}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	_ = keep
	b, err := os.ReadFile(filepath.Join(dir, "rss-"+strconv.Itoa(os.Getpid())))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("file holds %q: %v", b, err)
	}
	if n < held || n > 4<<30 {
		t.Errorf("peak RSS written = %d bytes; want at least the %d held", n, held)
	}
}

func TestPeakRSSOfOtherProcess(t *testing.T) {
	if PeakRSS(0) == 0 {
		t.Skip("no VmHWM in /proc/self/status")
	}
	if got, self := PeakRSS(os.Getpid()), PeakRSS(0); got <= 0 || got > 2*self {
		t.Errorf("PeakRSS(own pid) = %d, PeakRSS(0) = %d", got, self)
	}
	if got := PeakRSS(1 << 30); got != 0 {
		t.Errorf("PeakRSS of no process = %d; want 0", got)
	}
}
