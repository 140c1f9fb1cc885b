// Package deathsig starts child processes that the kernel signals when
// this process ends, however it ends (Linux's parent-death signal,
// Pdeathsig): a test's servers and daemons (through internal/proctest), a
// benchmark's seeders, daemons and other clients (internal/bench), which
// would otherwise outlive a process killed with SIGKILL, holding ports
// and files, or running on in a network namespace nobody can reach.
//
// The kernel sends the signal when the *thread* that forked the child
// ends, not the process: a child forked from a goroutine that was locked
// to its thread (runtime.LockOSThread) and returned, which ends that
// thread, is signalled at once though this process lives on. The Go
// runtime ends no other thread, but any goroutine may lock the thread a
// child was forked on and end it (a thread moved into a namespace, one
// given another uid or a real-time priority). So every fork happens on
// one thread that lives as long as the process. Elsewhere than Linux
// there is no such signal, and Start is cmd.Start.
package deathsig

import (
	"bytes"
	"os/exec"
	"syscall"
)

// Start starts cmd so that the kernel sends it sig when this process
// ends (sig 0: nothing). It sets cmd.SysProcAttr's parent-death signal.
func Start(cmd *exec.Cmd, sig syscall.Signal) error { return start(cmd, sig) }

// Run is cmd.Run with Start's tie to this process.
func Run(cmd *exec.Cmd, sig syscall.Signal) error {
	if err := Start(cmd, sig); err != nil {
		return err
	}
	return cmd.Wait()
}

// Output is cmd.Output with Start's tie to this process. cmd.Stderr, when
// nil, is kept in the *exec.ExitError as cmd.Output keeps it.
func Output(cmd *exec.Cmd, sig syscall.Signal) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	keep := cmd.Stderr == nil
	if keep {
		cmd.Stderr = &stderr
	}
	err := Run(cmd, sig)
	if ee, ok := err.(*exec.ExitError); ok && keep {
		ee.Stderr = stderr.Bytes()
	}
	return stdout.Bytes(), err
}

// CombinedOutput is cmd.CombinedOutput with Start's tie to this process.
func CombinedOutput(cmd *exec.Cmd, sig syscall.Signal) ([]byte, error) {
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := Run(cmd, sig)
	return b.Bytes(), err
}
