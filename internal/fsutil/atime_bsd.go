//go:build darwin || freebsd || netbsd

package fsutil

import "syscall"

func atimespec(st *syscall.Stat_t) syscall.Timespec { return st.Atimespec }

func ctimespec(st *syscall.Stat_t) syscall.Timespec { return st.Ctimespec }
