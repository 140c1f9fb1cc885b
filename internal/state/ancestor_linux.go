package state

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// isAncestor reports whether pid is this process's parent, or its
// parent's, and so on, from /proc (at most 64 generations).
func isAncestor(pid int) bool {
	for p, n := os.Getppid(), 0; p > 0 && n < 64; n++ {
		if p == pid {
			return true // pid 1 too: dist-client as a container's first process
		}
		if p == 1 {
			break
		}
		p = parentOf(p)
	}
	return false
}

// parentOf is the parent of process pid from /proc/PID/stat ("pid (comm)
// state ppid ..."; comm may hold spaces and parentheses, so the fields are
// read after its last ')'), or 0.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return 0
	}
	return ppid
}
