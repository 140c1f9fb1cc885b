//go:build !linux

package deathsig

import (
	"os/exec"
	"syscall"
)

// start is cmd.Start: only Linux has a parent-death signal here.
func start(cmd *exec.Cmd, sig syscall.Signal) error { return cmd.Start() }
