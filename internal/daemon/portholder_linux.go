package daemon

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// maxProcLines bounds the lines read of /proc/net/tcp and tcp6, and the
// descriptors of a process looked at: a host with more sockets than that
// is past what a daemon's start looks through (it then cannot tell).
const maxProcLines = 1 << 16

// holdsListener reports whether process pid holds a TCP socket listening
// on port (any address, IPv4 or IPv6), from the kernel's socket tables
// (/proc/net/tcp, tcp6: each listener's inode) and the process's
// descriptors (/proc/PID/fd: "socket:[INODE]"). known is false when it
// cannot tell: no listener on the port is listed (the holder of a moment
// ago let it go, or is in another network namespace), or a table or the
// process's descriptors cannot be read (another user's process, or one
// that ended).
func holdsListener(pid, port int) (holds, known bool) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeners(table, port, inodes); err != nil && !os.IsNotExist(err) {
			return false, false // tcp6 is absent without IPv6
		}
	}
	if len(inodes) == 0 {
		return false, false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	f, err := os.Open(dir)
	if err != nil {
		return false, false
	}
	defer f.Close()
	names, err := f.Readdirnames(maxProcLines)
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
	return false, len(names) < maxProcLines
}

// listeners adds to inodes the inode of each socket of table (the
// format of /proc/net/tcp) listening on port.
func listeners(table string, port int, inodes map[string]bool) error {
	f, err := os.Open(table)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan() && n < maxProcLines; n++ {
		if ino := listenerLine(sc.Text(), port); ino != "" {
			inodes[ino] = true
		}
	}
	return sc.Err()
}

// listenerLine reads one line of /proc/net/tcp or tcp6 ("0: 0100007F:1AE1
// 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000 0 41532 1
// ...") and returns its socket's inode when it listens (state 0A) on
// port; "" otherwise (the header line included).
func listenerLine(line string, port int) string {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != "0A" {
		return ""
	}
	i := strings.LastIndexByte(f[1], ':')
	if i < 0 {
		return ""
	}
	p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
	if err != nil || int(p) != port || f[9] == "0" {
		return ""
	}
	return f[9]
}
