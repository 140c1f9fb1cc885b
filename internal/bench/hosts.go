//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// host is where programs of a row run: the address they bind and the
// network namespace they run in. On loopback (bench-swarm) every host is
// an address in 127/8 of this process's namespace; in bench-net each host
// is a network namespace of its own behind a rate-limited link (netlab.go).
type host struct {
	name string
	addr string
	// netns is the file of the host's network namespace; "" runs programs
	// in this process's namespace.
	netns string
}

// layout places a row's programs.
type layout struct {
	publisher host // the seeder (and distpac's server, with its tracker)
	tracker   host // the tracker-only dist-server of the aria2 and Transmission rows
	clients   []host
	// lab is the network of namespaces the hosts live in; nil on loopback.
	lab *netLab
}

// loopbackLayout is the bench-swarm placement: everything on 127.0.0.1,
// except that with ownAddrs each client binds an address of its own in
// 127/8, as separate hosts would (the tracker keeps at most 16 peers of
// one address per package).
func loopbackLayout(n int, ownAddrs bool) layout {
	l := layout{publisher: host{name: "publisher", addr: "127.0.0.1"}, tracker: host{name: "tracker", addr: "127.0.0.1"}, clients: make([]host, n)}
	for i := range l.clients {
		l.clients[i] = host{name: fmt.Sprintf("c%02d", i), addr: "127.0.0.1"}
		if ownAddrs {
			l.clients[i].addr = fmt.Sprintf("127.0.1.%d", i+1)
		}
	}
	return l
}

// argv returns the command line that runs name with args on h: in another
// namespace through nsenter, which execs the program in place, so the PID
// of the process started is the program's own (for CPU, RSS and stopping
// it by PID).
func (h host) argv(name string, args ...string) (string, []string) {
	if h.netns == "" {
		return name, args
	}
	return "nsenter", append([]string{"--net=" + h.netns, "--", name}, args...)
}

// start runs a long-lived program on h (see startProc). The program dies
// with this process (SIGKILL), so none outlives the row (in a namespace,
// in a network nobody could reach).
func (h host) start(logPath string, env []string, name string, args ...string) (*proc, error) {
	name, args = h.argv(name, args...)
	return startProc(logPath, env, syscall.SIGKILL, name, args...)
}

// command is exec.CommandContext on h, with env added to this process's.
// Run it with deathsig and SIGKILL, as start runs its programs, so that it
// dies with this process.
func (h host) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	name, args = h.argv(name, args...)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
