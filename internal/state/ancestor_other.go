//go:build !linux

package state

import "os"

// isAncestor reports whether pid is this process's parent; its parent's
// parent is not known here.
func isAncestor(pid int) bool { return pid == os.Getppid() }
