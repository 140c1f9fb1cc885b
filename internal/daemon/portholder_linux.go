package daemon

import (
	"fmt"
	"os"
	"strings"

	"github.com/distpac/distpac/internal/procnet"
)

// maxFDs bounds the descriptors of a process looked at: a process with
// more is past what a daemon's start looks through (it then cannot tell).
const maxFDs = 1 << 16

// holdsListener reports whether process pid holds a TCP socket listening
// on port (any address, IPv4 or IPv6), from the kernel's socket tables
// (procnet: each listener's inode) and the process's descriptors
// (/proc/PID/fd: "socket:[INODE]"). known is false when it cannot tell:
// no listener on the port is listed (the holder of a moment ago let it
// go, or is in another network namespace), or the tables or the
// process's descriptors cannot be read (another user's process, or one
// that ended).
func holdsListener(pid, port int) (holds, known bool) {
	ls, err := procnet.Listening(port)
	if err != nil || len(ls) == 0 {
		return false, false
	}
	inodes := map[string]bool{}
	for _, l := range ls {
		inodes[l.Inode] = true
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	f, err := os.Open(dir)
	if err != nil {
		return false, false
	}
	defer f.Close()
	names, err := f.Readdirnames(maxFDs)
	if err != nil && len(names) == 0 {
		return false, false
	}
	for _, n := range names {
		link, err := os.Readlink(dir + "/" + n)
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			return true, true
		}
	}
	return false, len(names) < maxFDs
}
