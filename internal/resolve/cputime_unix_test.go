//go:build unix

package resolve

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time. The benchmarks report it
// beside wall time because the shared machines they run on are often busy.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
