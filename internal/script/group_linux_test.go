package script

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// startGroup starts sh -c body in a process group of its own, as run
// starts a script, and returns its pid; the group is killed at the end.
func startGroup(t *testing.T, body string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", body)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// waitFor polls cond for 5 s at most.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

// A group is killed only while its leader is still the process that was
// identified: a pid reused (another start time) or named in another boot
// is not the script's, and one whose leader is gone cannot be told.
func TestGroupState(t *testing.T) {
	if bootID() == "" {
		t.Skip("no /proc/sys/kernel/random/boot_id")
	}
	running := startGroup(t, "sleep 30")
	g := Identify(running.Process.Pid)
	if g.Start == 0 || g.Boot == "" {
		t.Fatalf("Identify(%d) = %+v: no start time or boot", g.PGID, g)
	}
	// The leader exits at once; its background job keeps the group.
	orphaned := startGroup(t, "sleep 30 & exit 0")
	if err := orphaned.Wait(); err != nil {
		t.Fatal(err)
	}
	alone := Group{PGID: orphaned.Process.Pid, Start: 1, Boot: bootID()}
	waitFor(t, "the background job runs", alone.alive)

	tests := []struct {
		name string
		g    Group
		want GroupState
	}{
		{"the script runs", g, GroupOurs},
		{"the pid reused", Group{PGID: g.PGID, Start: g.Start + 1, Boot: g.Boot}, GroupGone},
		{"another boot, leader's pid taken", Group{PGID: g.PGID, Start: g.Start, Boot: "another-boot"}, GroupGone},
		{"no start time known", Group{PGID: g.PGID}, GroupUnknown},
		{"leader gone, a member runs", alone, GroupUnknown},
		{"another boot, a group of that id runs", Group{PGID: alone.PGID, Start: 1, Boot: "another-boot"}, GroupGone},
		{"no such group", Group{PGID: 1 << 30, Start: 1, Boot: bootID()}, GroupGone},
		{"init", Group{PGID: 1}, GroupGone},
	}
	for _, tt := range tests {
		if got := tt.g.State(); got != tt.want {
			t.Errorf("%s: State() = %d, want %d", tt.name, got, tt.want)
		}
	}
	for _, tt := range tests[1:] {
		if err := tt.g.Kill(); !errors.Is(err, ErrNotOurs) {
			t.Errorf("%s: Kill() = %v, want ErrNotOurs", tt.name, err)
		}
	}
	if !g.alive() || !alone.alive() {
		t.Fatal("a refused Kill killed a process")
	}
}

// Kill ends every process of the script's group, background jobs too.
func TestGroupKill(t *testing.T) {
	if bootID() == "" {
		t.Skip("no /proc/sys/kernel/random/boot_id")
	}
	cmd := startGroup(t, "sleep 30 & sleep 30 & echo started; wait")
	out := make(chan struct{})
	g := Identify(cmd.Process.Pid)
	go func() { cmd.Wait(); close(out) }() // reaps the leader, as init would
	waitFor(t, "three processes in the group", func() bool { return members(g.PGID) == 3 })
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	<-out
	if n := members(g.PGID); n != 0 {
		t.Errorf("%d processes of the group left after Kill", n)
	}
	if s := g.State(); s != GroupGone {
		t.Errorf("State() after Kill = %d, want GroupGone", s)
	}
}

// members counts the processes of group pgid that have not exited.
func members(pgid int) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if st, ok := readStat(pid); ok && st.pgrp == pgid && st.state != "Z" {
				n++
			}
		}
	}
	return n
}

// TestGroupKillSparesItsOwnGroup: a dist-client that a script ran (in the
// script's process group) and that recovers after its parent was killed
// does not kill the group it runs in, which would kill itself.
func TestGroupKillSparesItsOwnGroup(t *testing.T) {
	g := Identify(syscall.Getpgrp())
	if err := g.Kill(); !errors.Is(err, ErrOwnGroup) {
		t.Fatalf("Kill of the caller's own group: %v, want ErrOwnGroup", err)
	}
}
