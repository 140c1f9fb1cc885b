// Package proctest ties the processes a test starts to the test binary's
// life: a `go test` killed with SIGKILL (by hand, or the go command's own
// kill after a timeout) runs no cleanup, and the servers, daemons and
// helpers it had started went on running, holding ports and writing into
// removed temporary directories. It is never linked into the binaries.
//
// Two tools, for two kinds of process:
//
//   - Start (and Run, Output, CombinedOutput) for a process the test
//     starts itself and that stays its child: on Linux the kernel kills it
//     when the test binary dies (Pdeathsig).
//   - Watchdog for what Pdeathsig cannot reach: a process started by a
//     library that takes no SysProcAttr (testscript's exec), a server that
//     detaches into a session of its own (dist-server start), an install
//     script's background job. A second process waits for the test binary
//     to end, however it ends, and then kills every process that carries
//     the test binary's mark in its environment, with their descendants.
package proctest

import (
	"bytes"
	"os/exec"
)

// Start starts cmd so that it dies with this process: on Linux the kernel
// sends it SIGKILL when this process ends, however it ends. Elsewhere it
// is cmd.Start.
func Start(cmd *exec.Cmd) error { return start(cmd) }

// Run is cmd.Run with Start's tie to this process.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

// Output is cmd.Output with Start's tie to this process. cmd.Stderr, when
// nil, is kept in the *exec.ExitError as cmd.Output keeps it.
func Output(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	keep := cmd.Stderr == nil
	if keep {
		cmd.Stderr = &stderr
	}
	err := Run(cmd)
	if ee, ok := err.(*exec.ExitError); ok && keep {
		ee.Stderr = stderr.Bytes()
	}
	return stdout.Bytes(), err
}

// CombinedOutput is cmd.CombinedOutput with Start's tie to this process.
func CombinedOutput(cmd *exec.Cmd) ([]byte, error) {
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := Run(cmd)
	return b.Bytes(), err
}
