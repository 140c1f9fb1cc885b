package cli

// What a command records of itself when a variable asks: a CPU profile, an
// execution trace, a heap profile, its peak resident set size (peakrss.go),
// each into a file createRecord opens (recordfile.go).

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
)

// CPUProfileEnv names a file to write a CPU profile (pprof) of the whole
// command into, for any command of any binary: profiling a daemon or an
// install under a benchmark needs no rebuild and no flag on every command.
// "%p" in the name becomes the process id, so that many processes started
// with the same environment (a benchmark's daemons) write a file each.
const CPUProfileEnv = "DISTPAC_CPUPROFILE"

// MemProfileEnv names a file to write a heap profile (pprof) into when the
// command ends; "%p" becomes the process id.
const MemProfileEnv = "DISTPAC_MEMPROFILE"

// TraceEnv names a file to write an execution trace (go tool trace) of the
// whole command into; "%p" becomes the process id. A CPU profile says where
// the processors go; a trace says when a goroutine waits and for what (a
// lock, the network, the disk), which is what a transfer that uses one
// core of two needs.
const TraceEnv = "DISTPAC_TRACE"

func writeHeapProfile(path string, errOut io.Writer, prog string) {
	f, err := createRecord(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		fmt.Fprintf(errOut, "%s: %s: %v\n", prog, MemProfileEnv, err)
	}
}

// recorders are what a command records of itself from start to end when
// their variable names a file.
var recorders = []struct {
	env   string
	start func(io.Writer) error
	stop  func()
}{
	{CPUProfileEnv, pprof.StartCPUProfile, pprof.StopCPUProfile},
	{TraceEnv, trace.Start, trace.Stop},
}

// startRecording creates path ("%p" the process id) and starts recording
// into it; stop ends the recording and closes the file.
func startRecording(path string, start func(io.Writer) error, end func()) (stop func(), err error) {
	f, err := createRecord(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		end()
		f.Close()
	}, nil
}

// startRecorders starts every recording the environment asks for, saying
// on errOut the ones that cannot start; stop ends them, the last started
// first, and writes the heap profile and the peak RSS last asked for.
func startRecorders(prog string, errOut io.Writer) (stop func()) {
	var stops []func()
	for _, r := range recorders {
		if path := os.Getenv(r.env); path != "" {
			if stop, err := startRecording(path, r.start, r.stop); err != nil {
				fmt.Fprintf(errOut, "%s: %s: %v\n", prog, r.env, err)
			} else {
				stops = append(stops, stop)
			}
		}
	}
	if path := os.Getenv(MemProfileEnv); path != "" {
		stops = append(stops, func() {
			writeHeapProfile(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())), errOut, prog)
		})
	}
	if path := os.Getenv(PeakRSSEnv); path != "" {
		stops = append(stops, func() { writePeakRSS(path, errOut, prog) })
	}
	return func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}
