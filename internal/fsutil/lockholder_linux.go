package fsutil

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LockHolder returns the pid of the process that holds an exclusive
// flock(2) lock on the file at path, from the kernel's table of locks
// (/proc/locks), or 0 when none is listed or the table cannot be read:
// also when the holder is in another pid namespace (its lock is not
// listed), and on filesystems that list flock as POSIX (NFS) or whose
// files' device is not the superblock's (btrfs subvolumes). Callers fall
// back to what the holder wrote. Shared locks do not count: a process
// that checks whether the lock is free takes a shared one.
//
// A pid written into a file by the holder can be a dead process's: the
// one a server killed with -9 wrote, read while its successor holds the
// lock and has not written its own yet; the kernel's table names the
// holder itself.
func LockHolder(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	dev := uint64(st.Dev)
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), st.Ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pid := lockLineHolder(sc.Text(), want); pid > 0 {
			return pid
		}
	}
	return 0
}

// lockLineHolder reads one line of /proc/locks ("1: FLOCK  ADVISORY  WRITE
// 2061 fd:01:131090 0 EOF") and returns its pid when it is a granted
// exclusive flock on the file named by dev:ino ("fd:01:131090"); a
// waiter's line ("1: -> FLOCK ...") and a shared lock do not count.
func lockLineHolder(line, devIno string) int {
	f := strings.Fields(line)
	if len(f) < 6 || f[1] != "FLOCK" || f[3] != "WRITE" || f[5] != devIno {
		return 0
	}
	pid, err := strconv.Atoi(f[4])
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// lockTableKnown: LockHolder reads the kernel's lock table here.
const lockTableKnown = true
