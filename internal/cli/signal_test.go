package cli

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/proctest"
)

// TestHangup: SIGHUP stops a command as Ctrl-C does (exit 130), unless it
// was started with SIGHUP ignored (nohup dist-client daemon): then it runs
// on, as before SIGHUP was caught. A child of this test (through sh, which
// sets the disposition) runs a command that waits for its context or 2 s.
func TestHangup(t *testing.T) {
	if os.Getenv("DISTPAC_TEST_HANGUP") != "" {
		root := &cobra.Command{Use: "t", RunE: func(cmd *cobra.Command, _ []string) error {
			os.Stdout.WriteString("ready\n")
			select {
			case <-cmd.Context().Done():
				return cmd.Context().Err()
			case <-time.After(2 * time.Second):
				return nil
			}
		}}
		os.Exit(Run(context.Background(), "t", root, nil, Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	}
	tests := []struct {
		name     string
		shell    string
		wantCode int
	}{
		{"caught", `exec "$0" -test.run='^TestHangup$'`, ExitInterrupted},
		{"nohup", `trap "" HUP; exec "$0" -test.run='^TestHangup$'`, ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", tt.shell, os.Args[0])
			cmd.Env = append(os.Environ(), "DISTPAC_TEST_HANGUP=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := proctest.Start(cmd); err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("the child did not start: %q, %v", line, err)
			}
			if err := cmd.Process.Signal(syscall.SIGHUP); err != nil { // our child, by its PID
				t.Fatal(err)
			}
			err = cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.wantCode)
			}
		})
	}
}
