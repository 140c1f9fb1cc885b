package servercli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
)

type stopOptions struct {
	timeout time.Duration
}

func newStop(e *env) *cobra.Command {
	var o stopOptions
	c := &cobra.Command{
		Use:   "stop",
		Short: "Stop the running server gracefully",
		Long: `stop sends SIGTERM to the server (start) or mirror (mirror) running in this data
home, as systemctl stop does, and waits up to --timeout for it to exit: the embedded
tracker first writes the peers it knows to tracker-peers.jsonl, which the next start
reads (README: Restarting the server). With no server running it says so and exits 0,
and removes the pid file of one that died. A server under systemd is stopped through
systemctl, so that the unit knows.`,
		Example: `  dist-server stop
  dist-server stop --timeout 2m       # wait longer than the default 30s`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStop(cmd.Context(), e, o, args)
		},
	}
	c.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the server to exit")
	return c
}

func runStop(ctx context.Context, e *env, o stopOptions, _ []string) error {
	_, sp, err := e.inspect("stop", "")
	if errors.Is(err, errNoDataDir) {
		e.UI.Printf("no server running\n") // nor was one ever started here
		return nil
	}
	if err != nil {
		return err
	}
	pid, running := runningPID(sp)
	if !running {
		if _, err := os.Stat(sp.PIDFile()); err == nil {
			os.Remove(sp.PIDFile())
			e.UI.Printf("no server running (removed the stale %s of a server that died)\n", sp.PIDFile())
			return nil
		}
		e.UI.Printf("no server running\n")
		return nil
	}
	if pid <= 0 {
		return fmt.Errorf("stop: a server holds %s but its pid is unknown", sp.RunLock())
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop: signal pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(o.timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, still := runningPID(sp); !still {
			e.UI.Printf("dist-server stopped (pid %d)\n", pid)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("stop: pid %d still running after %s", pid, o.timeout)
}
