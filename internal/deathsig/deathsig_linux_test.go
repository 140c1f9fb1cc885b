package deathsig_test

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/deathsig"
	"github.com/distpac/distpac/internal/proctest"
)

// TestStartOutlivesForkingThread: a child started from a goroutine locked
// to a thread that ends since runs on; forked on that thread, its
// parent-death signal was sent when the thread ended. That it is sent
// when the process ends, proctest's TestStartDiesWithTestBinary shows.
func TestStartOutlivesForkingThread(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command("sleep", "60")
			var err error
			if terr := proctest.OnEndingThread(func() { err = deathsig.Start(cmd, sig) }); terr != nil {
				t.Skip(terr)
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				t.Fatalf("the child ended when the thread that started it did: %v", err)
			case <-time.After(time.Second):
			}
			cmd.Process.Kill() // ours, by its PID
			<-done
		})
	}
}
