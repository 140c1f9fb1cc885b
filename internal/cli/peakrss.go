package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// PeakRSSEnv names a file that the command writes its peak resident set
// size into when it ends (bytes, in decimal); "%p" becomes the process id.
// A benchmark that runs 32 installs at once reads their peaks from these
// files: polling /proc/PID/status of each every 5 ms while they ran cost
// the benchmark itself 4 % of the machine at N=16, taken from the swarm it
// measures. ru_maxrss cannot stand in for it: a child started with vfork
// (Go's os/exec) is charged its parent's high-water mark at exec.
const PeakRSSEnv = "DISTPAC_PEAKRSS"

// PeakRSS reads the high-water resident set size (VmHWM) of process pid,
// or of this process when pid is 0; 0 when it cannot be read.
func PeakRSS(pid int) int64 {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func writePeakRSS(path string, errOut io.Writer, prog string) {
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	f, err := createRecord(path)
	if err == nil {
		_, err = f.WriteString(strconv.FormatInt(PeakRSS(0), 10) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(errOut, "%s: %s: %v\n", prog, PeakRSSEnv, err)
	}
}
