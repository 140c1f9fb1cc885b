package proctest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Pdeathsig is sent when the *thread* that forked the child ends, not the
// process: a child started from a goroutine that was locked to its
// thread (runtime.LockOSThread) and returned, which ends that thread, is
// killed at once, though the test binary lives on. The Go runtime ends no
// other thread. So every fork happens on one thread that lives as long as
// the process: spawner's goroutine locks itself to it and never returns.

type spawn struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawns    chan spawn
)

func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as this process
	for s := range spawns {
		s.done <- s.cmd.Start()
	}
}

func start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawnOnce.Do(func() {
		spawns = make(chan spawn)
		go spawner()
	})
	done := make(chan error, 1)
	spawns <- spawn{cmd, done}
	return <-done
}
