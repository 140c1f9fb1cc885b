package deathsig_test

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/deathsig"
)

// TestOutputs: Output, CombinedOutput and Run give what os/exec's do.
func TestOutputs(t *testing.T) {
	const script = "echo out; echo err >&2; exit 3"
	sh := func() *exec.Cmd { return exec.Command("/bin/sh", "-c", script) }

	out, err := deathsig.Output(sh(), syscall.SIGKILL)
	var ee *exec.ExitError
	if string(out) != "out\n" || !errors.As(err, &ee) || ee.ExitCode() != 3 || string(ee.Stderr) != "err\n" {
		t.Errorf("Output: %q, %v (want \"out\\n\" and exit status 3 with its stderr \"err\\n\" kept)", out, err)
	}
	out, err = deathsig.CombinedOutput(sh(), syscall.SIGKILL)
	if string(out) != "out\nerr\n" || !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("CombinedOutput: %q, %v", out, err)
	}
	if err := deathsig.Run(exec.Command("/bin/sh", "-c", "exit 0"), syscall.SIGTERM); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := deathsig.Start(exec.Command("/nonexistent/program"), syscall.SIGKILL); err == nil {
		t.Error("Start of a missing program: no error")
	}
}
