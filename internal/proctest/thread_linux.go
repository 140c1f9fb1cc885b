package proctest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// OnEndingThread runs fn in a goroutine locked to a thread of its own and
// returns once that thread has ended: the goroutine returns still locked,
// and Go ends its thread then. A child fn forks is sent its parent-death
// signal at that moment (Pdeathsig counts from the forking thread) unless
// it was forked on a thread that lives on, as Start forks. The error says
// why the story could not be told: fn could only run on the main thread
// (which Go parks rather than ends), or the thread had not ended 5 s later.
func OnEndingThread(fn func()) error {
	tid := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked (but on the main thread): the thread ends with the goroutine
		for i := 0; syscall.Gettid() == os.Getpid() && i < 1000; i++ {
			runtime.UnlockOSThread()
			time.Sleep(time.Millisecond)
			runtime.LockOSThread()
		}
		if syscall.Gettid() == os.Getpid() {
			runtime.UnlockOSThread()
			tid <- 0
			return
		}
		fn()
		tid <- syscall.Gettid()
	}()
	id := <-tid
	if id == 0 {
		return errors.New("on an ending thread: the goroutine stayed on the main thread")
	}
	task := fmt.Sprintf("/proc/self/task/%d", id)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	return fmt.Errorf("on an ending thread: thread %d still runs 5 s after its goroutine returned", id)
}
