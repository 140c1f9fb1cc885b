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

// A command run with TraceEnv set leaves an execution trace of itself in
// the named file ("%p" the process id); a file that cannot be made is
// reported and the command still runs.
func TestTraceFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, env, file, errWant string
	}{
		{"written", filepath.Join(dir, "trace-%p"), filepath.Join(dir, "trace-"+strconv.Itoa(os.Getpid())), ""},
		{"unwritable", filepath.Join(dir, "missing", "trace"), "", "DISTPAC_TRACE: open " + filepath.Join(dir, "missing", "trace")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(TraceEnv, tt.env)
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
			// The runtime's trace format starts "go 1.NN trace".
			if !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:min(len(b), 16)], []byte(" trace")) || len(b) < 1024 {
				t.Errorf("trace file of %d bytes starts %q; want a Go execution trace", len(b), b[:min(len(b), 16)])
			}
		})
	}
}
