package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPublisherKilledMidTransfer: as TestPublisherStoppedMidTransfer, but
// the publisher is killed with kill -9. Each install fails with the hint a
// publisher down from the start gives (is dist-server running?): it had
// none, as its two clients were connected to each other, with nothing
// the other lacked (a tester's run, with three to six clients).
func TestPublisherKilledMidTransfer(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	_, _, installs, stopped := stopMidTransferBy(t, func(r *rig) {
		if err := syscall.Kill(r.serverPID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	})
	failedInstalls(t, installs, stopped, "the kill", func(i int, out string, _ time.Duration) {
		if !strings.Contains(out, "did not accept a connection") || !strings.Contains(out, "\nhint: is dist-server running?") {
			t.Errorf("client%d's error does not say the publisher refuses connections, with the hint is dist-server running?", i+1)
		}
		if strings.Contains(out, "installing shared") {
			t.Errorf("client%d said it was installing a package whose download then failed", i+1)
		}
	})
}

// TestPublisherFrozenMidTransfer: as TestPublisherStoppedMidTransfer, but
// the publisher is stopped with SIGSTOP: its kernel accepts connections
// that nothing answers, and the installs wait on its tracker, seeder and
// web seed until each times out, 25 to 47 s in a tester's runs. The
// error then said "no source for X in 8s", the give-up time alone; it
// says how long nothing came.
func TestPublisherFrozenMidTransfer(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	var pid int
	_, _, installs, stopped := stopMidTransferBy(t, func(r *rig) {
		pid = r.serverPID()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Before the rig's cleanup, which stops it politely.
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	})
	nothing := regexp.MustCompile(`no source for shared-1\.0\.0\.tar\.zst: nothing received for ([0-9]+)s: `)
	failedInstalls(t, installs, stopped, "the freeze", func(i int, out string, took time.Duration) {
		m := nothing.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("client%d's error does not say how long nothing came; want a line matching %s", i+1, nothing)
			return
		}
		// The clients trade what they have for a moment after the
		// freeze: nothing came for the wait less that moment.
		if n, _ := strconv.Atoi(m[1]); time.Duration(n)*time.Second < took-6*time.Second {
			t.Errorf("client%d's error says nothing came for %ss, of a wait of %v since the freeze", i+1, m[1], took.Round(time.Second))
		}
		if !strings.Contains(out, "(is dist-server stopped or hung?)") {
			t.Errorf("client%d's error does not ask whether dist-server is stopped", i+1)
		}
	})
}
