package deathsig

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// spawn is a start the spawner makes.
type spawn struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawns    chan spawn
)

// spawner forks every child on its thread, which lives as long as this
// process: its goroutine locks itself to it and never returns.
func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as this process
	for s := range spawns {
		s.done <- s.cmd.Start()
	}
}

func start(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
	spawnOnce.Do(func() {
		spawns = make(chan spawn)
		go spawner()
	})
	done := make(chan error, 1)
	spawns <- spawn{cmd, done}
	return <-done
}
