//go:build !linux

package proctest

import "os/exec"

// start is cmd.Start: only Linux has Pdeathsig.
func start(cmd *exec.Cmd) error { return cmd.Start() }
