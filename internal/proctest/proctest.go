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
//     when the test binary dies (Pdeathsig, through internal/deathsig,
//     which the benchmark's processes share).
//   - Watchdog for what Pdeathsig cannot reach: a process started by a
//     library that takes no SysProcAttr (testscript's exec), a server that
//     detaches into a session of its own (dist-server start), an install
//     script's background job. A second process waits for the test binary
//     to end, however it ends, and then kills every process that carries
//     the test binary's mark in its environment, with their descendants.
//
// OnEndingThread (Linux) runs code on a thread that then ends: the story
// of a test that shows a child outliving the thread that forked it.
package proctest

import (
	"os/exec"
	"syscall"

	"github.com/distpac/distpac/internal/deathsig"
)

// Start starts cmd so that it dies with this process: on Linux the kernel
// sends it SIGKILL when this process ends, however it ends, and not
// before (internal/deathsig). Elsewhere it is cmd.Start.
func Start(cmd *exec.Cmd) error { return deathsig.Start(cmd, syscall.SIGKILL) }

// Run is cmd.Run with Start's tie to this process.
func Run(cmd *exec.Cmd) error { return deathsig.Run(cmd, syscall.SIGKILL) }

// Output is cmd.Output with Start's tie to this process. cmd.Stderr, when
// nil, is kept in the *exec.ExitError as cmd.Output keeps it.
func Output(cmd *exec.Cmd) ([]byte, error) { return deathsig.Output(cmd, syscall.SIGKILL) }

// CombinedOutput is cmd.CombinedOutput with Start's tie to this process.
func CombinedOutput(cmd *exec.Cmd) ([]byte, error) {
	return deathsig.CombinedOutput(cmd, syscall.SIGKILL)
}
