package fsutil

import "syscall"

func atimespec(st *syscall.Stat_t) syscall.Timespec { return st.Atim }

func ctimespec(st *syscall.Stat_t) syscall.Timespec { return st.Ctim }
