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

// A command run with TraceEnv (CPUProfileEnv) set leaves an execution
// trace (a CPU profile) of itself in the named file ("%p" the process id);
// a file that cannot be made is reported and the command still runs.
func TestRecordingFiles(t *testing.T) {
	dir := t.TempDir()
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, env, path, file, errWant string
		magic                          []byte
	}{
		// The runtime's trace format starts "go 1.NN trace".
		{"trace", TraceEnv, filepath.Join(dir, "trace-%p"), filepath.Join(dir, "trace-"+pid), "", []byte("go 1.")},
		{"trace unwritable", TraceEnv, filepath.Join(dir, "missing", "trace"), "", "DISTPAC_TRACE: open " + filepath.Join(dir, "missing", "trace"), nil},
		// pprof profiles are gzip files.
		{"CPU profile", CPUProfileEnv, filepath.Join(dir, "cpu-%p"), filepath.Join(dir, "cpu-"+pid), "", []byte{0x1f, 0x8b}},
		{"CPU profile unwritable", CPUProfileEnv, filepath.Join(dir, "missing", "cpu"), "", "DISTPAC_CPUPROFILE: open " + filepath.Join(dir, "missing", "cpu"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.path)
			ran := false
			root := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error {
				done := make(chan struct{})
				go func() { close(done) }()
				<-done
				ran = true
				return nil
			}}
			var out, errOut bytes.Buffer
			if code := Run(context.Background(), "x", root, nil, Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != ExitOK || !ran {
				t.Fatalf("exit %d, ran %v: %s", code, ran, errOut.String())
			}
			if tt.errWant != "" {
				if !strings.Contains(errOut.String(), tt.errWant) {
					t.Errorf("stderr %q, want %q", errOut.String(), tt.errWant)
				}
				return
			}
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, tt.magic) {
				t.Errorf("%s file of %d bytes starts %q; want %q", tt.name, len(b), b[:min(len(b), 16)], tt.magic)
			}
		})
	}
}
