//go:build linux

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netLab is the network of bench-net: hosts as network namespaces, each
// with one veth link to a router, which is the namespace this process runs
// in (a fresh one: the benchmark re-executes itself under
// `unshare --net --mount`, netbench.go). Each host has one address in
// 198.18.0.0/15 (the benchmarking range) on its link, its upload rate
// enforced by a tbf qdisc on its end of the veth, and, when the row has a
// round-trip time, the router sends every packet between hosts through a
// delay line (delayline.go).
//
// The namespaces are files under dir/ns, bind mounts made by
// `unshare --net=FILE` in this process's own mount namespace: nothing of
// them is visible on the machine, and should this process die even by
// SIGKILL, the mounts, namespaces and links go with it (its programs die
// with it too, see host.start). close removes them by name all the same.
type netLab struct {
	dir string // holds ns/, the tmpfs of the namespace files
	// hosts are the publisher, the tracker, the clients, then the two
	// probe hosts (rowProbe), which take no part in the rows.
	hosts   []host
	clients int
	delay   *delayLine // nil at RTT 0
	rtt     time.Duration
	mtu     int
}

// labSpec sets up a lab.
type labSpec struct {
	Clients int
	U, u    int64 // upload rates of the publisher and of every other host, bytes/s
	RTT     time.Duration
	// MTU of every link and of the delay line: defaultLabMTU when 0.
	MTU int
}

// defaultLabMTU is bench-net's MTU: jumbo frames, as on a data-centre
// LAN. The lab's own work is per packet (each host's tbf, the router's
// forwarding, the delay line's read and write, which runs the receiving
// host's stack), and with 1,500-byte frames it took the two cores from the
// programs it measures: N=32 at 20 ms moved 370-383k packets a row, the
// machine was 0-1 % idle (vmstat: 54-67 % system time), the dist-bench
// process alone took 25 % of the samples (perf -a) and the publisher's
// 1 MiB/s link, which the bound needs full from the start, ran at 60-90 %.
// With 9,000 bytes, 145k packets and 94-99 %: the row went from 1.51 to
// 1.30 x the bound in the same hour. -mtu 1500 measures the other way.
const defaultLabMTU = 9000

// Bounds of the MTU: IPv4's least a link must carry, and what a TUN and a
// veth take.
const (
	minLabMTU = 576
	maxLabMTU = 65535
)

// Addresses. Hosts route everything through the router at routerAddr,
// which has it on each of its veth ends; labPublisherAddr and the client
// addresses match the Transmission row's (transmission.go).
const (
	routerAddr       = "169.254.0.1"
	labPublisherAddr = trSeederAddr
	labTrackerAddr   = trTrackerAddr
	labProbeAddrA    = "198.18.0.252"
	labProbeAddrB    = "198.18.0.253"
	delayDev         = "dly0"
	delayTable       = "100"
)

// tbfMinQueue is the least a link queues, in time at its rate. A client's
// uplink carries data to up to eight peers, their requests and the ACKs:
// with 10 ms, the clients' links dropped 297,000 packets in a 13 s row
// (N=32, 2 MiB/s, zero round trip), with 100 ms 7,300; 50 ms is well
// within what home routers queue.
const tbfMinQueue = 50 * time.Millisecond

// labLayout places a row on the lab's hosts.
func (l *netLab) layout() layout {
	return layout{publisher: l.hosts[0], tracker: l.hosts[1], clients: l.hosts[2 : 2+l.clients], lab: l}
}

// probes are the two hosts that take no part in the rows.
func (l *netLab) probes() (a, b host) {
	return l.hosts[2+l.clients], l.hosts[3+l.clients]
}

// tbfArgs is the qdisc that makes a link of rate bytes/s: a bucket of
// 10 ms of data (at least 16 KiB and two frames of the link's MTU, with
// room for small GSO packets), and a queue of one round trip's worth of data, at
// least tbfMinQueue: a drop-tail bottleneck needs about one bandwidth-delay
// product of buffer for TCP to keep it busy.
func tbfArgs(dev string, rate int64, rtt time.Duration, mtu int) []string {
	burst := max(rate/100, 16<<10, 2*int64(mtu+14))
	limit := burst + int64(float64(rate)*max(rtt, tbfMinQueue).Seconds())
	return []string{"qdisc", "add", "dev", dev, "root", "tbf", "rate", fmt.Sprintf("%dbit", rate*8),
		"burst", fmt.Sprint(burst), "limit", fmt.Sprint(limit)}
}

// newNetLab builds the lab under dir. It refuses to run unless this
// process has a network namespace and a mount namespace other than
// parentNet's and parentMnt's (it would change the machine's network
// otherwise).
func newNetLab(dir string, spec labSpec, parentNet, parentMnt string) (_ *netLab, err error) {
	for _, ns := range []struct{ kind, parent string }{{"net", parentNet}, {"mnt", parentMnt}} {
		self, err := os.Readlink("/proc/self/ns/" + ns.kind)
		if err != nil {
			return nil, fmt.Errorf("net lab: %w", err)
		}
		if ns.parent == "" || self == ns.parent {
			return nil, fmt.Errorf("net lab: must run under unshare --net --mount, not in the machine's %s namespace", ns.kind)
		}
	}
	if spec.MTU == 0 {
		spec.MTU = defaultLabMTU
	}
	if spec.Clients < 1 || spec.U <= 0 || spec.u <= 0 || spec.RTT < 0 || spec.MTU < minLabMTU || spec.MTU > maxLabMTU {
		return nil, fmt.Errorf("net lab: want clients ≥ 1, positive rates, RTT ≥ 0 and an MTU of %d-%d, have %+v", minLabMTU, maxLabMTU, spec)
	}
	nsDir := filepath.Join(dir, "ns")
	if err := os.MkdirAll(nsDir, 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mount("distpac-bench-ns", nsDir, "tmpfs", 0, "size=1m,mode=0755"); err != nil {
		return nil, fmt.Errorf("net lab: mount tmpfs on %s: %w", nsDir, err)
	}
	l := &netLab{dir: dir, rtt: spec.RTT, mtu: spec.MTU, clients: spec.Clients}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if err := routerSysctls(); err != nil {
		return nil, err
	}
	l.hosts = append(l.hosts, host{name: "publisher", addr: labPublisherAddr}, host{name: "tracker", addr: labTrackerAddr})
	for i := range spec.Clients {
		l.hosts = append(l.hosts, host{name: fmt.Sprintf("c%02d", i), addr: trLeecherAddr(i)})
	}
	l.hosts = append(l.hosts, host{name: "probe-a", addr: labProbeAddrA}, host{name: "probe-b", addr: labProbeAddrB})
	var router strings.Builder
	router.WriteString("link set lo up\n")
	for i := range l.hosts {
		h := &l.hosts[i]
		h.netns = filepath.Join(nsDir, h.name)
		rate := spec.u
		if i == 0 {
			rate = spec.U
		}
		if err := l.addHost(*h, rate); err != nil {
			return nil, err
		}
		fmt.Fprintf(&router, "link set %[1]s mtu %[4]d up\naddr add %[2]s/32 dev %[1]s\nroute add %[3]s/32 dev %[1]s\n", vethName(*h), routerAddr, h.addr, l.mtu)
	}
	if err := ipBatch("", router.String()); err != nil {
		return nil, err
	}
	if spec.RTT > 0 {
		if err := l.startDelay(spec.RTT); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// routerSysctls makes this namespace forward between the hosts, and
// switches off the reverse-path filter: packets come back from the delay
// line with sources that are routed out of other devices.
func routerSysctls() error {
	for _, kv := range [][2]string{
		{"net/ipv4/conf/all/rp_filter", "0"},
		{"net/ipv4/conf/default/rp_filter", "0"},
		{"net/ipv4/ip_forward", "1"},
	} {
		if err := os.WriteFile("/proc/sys/"+kv[0], []byte(kv[1]), 0o644); err != nil {
			return fmt.Errorf("net lab: sysctl %s: %w", kv[0], err)
		}
	}
	return nil
}

func vethName(h host) string { return "v-" + h.name }

// addHost makes h's namespace, its link to the router (eth0 inside, v-NAME
// here) and its address and routes, and caps its upload with tbf.
func (l *netLab) addHost(h host, rate int64) error {
	if err := os.WriteFile(h.netns, nil, 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("unshare", "--net="+h.netns, "true").CombinedOutput(); err != nil {
		return fmt.Errorf("net lab: unshare --net=%s: %v: %s", h.netns, err, bytes.TrimSpace(out))
	}
	cmds := fmt.Sprintf("link add eth0 type veth peer name %s netns %d\n", vethName(h), os.Getpid()) +
		fmt.Sprintf("link set lo up\nlink set eth0 mtu %d up\n", l.mtu) +
		fmt.Sprintf("addr add %s/32 dev eth0\nroute add %s dev eth0\nroute add default via %[2]s dev eth0\n", h.addr, routerAddr)
	if err := ipBatch(h.netns, cmds); err != nil {
		return err
	}
	name, args := h.argv("tc", tbfArgs("eth0", rate, l.rtt, l.mtu)...)
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("net lab: %s: tc: %v: %s", h.name, err, bytes.TrimSpace(out))
	}
	return nil
}

// ipBatch runs ip commands, one a line, in netns ("" for this namespace).
func ipBatch(netns, cmds string) error {
	name, args := host{netns: netns}.argv("ip", "-batch", "-")
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(cmds)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("net lab: ip -batch in %q: %v: %s", netns, err, bytes.TrimSpace(out))
	}
	return nil
}

// startDelay sends every packet that a host sends to another through the
// delay line, rtt/2 each way. Packets the router itself sends or receives
// (the benchmark's control traffic to the programs: RPC, status) do not
// pass through it.
func (l *netLab) startDelay(rtt time.Duration) error {
	d, err := openDelayLine(delayDev, rtt/2)
	if err != nil {
		return err
	}
	l.delay = d
	return ipBatch("", fmt.Sprintf("link set %s mtu %d up\n", delayDev, l.mtu)+
		fmt.Sprintf("route add default dev %s table %s\n", delayDev, delayTable)+
		fmt.Sprintf("rule add pref 100 iif %s lookup main\n", delayDev)+
		"rule add pref 101 iif lo lookup main\n"+
		fmt.Sprintf("rule add pref 102 lookup %s\n", delayTable))
}

// close stops the delay line and removes the hosts' namespaces, by the
// names this lab gave them; their links go with them.
func (l *netLab) close() error {
	var errs []error
	if l.delay != nil {
		errs = append(errs, l.delay.close())
	}
	var links strings.Builder
	for _, h := range l.hosts {
		if h.netns != "" {
			fmt.Fprintf(&links, "link del %s\n", vethName(h))
		}
	}
	// Deleting one end of a veth deletes the pair; -force goes on past the
	// links that are gone already.
	del := exec.Command("ip", "-force", "-batch", "-")
	del.Stdin = strings.NewReader(links.String())
	del.Run()
	for _, h := range l.hosts {
		if h.netns == "" {
			continue
		}
		if err := unix.Unmount(h.netns, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("net lab: unmount %s: %w", h.netns, err))
		}
	}
	if err := unix.Unmount(filepath.Join(l.dir, "ns"), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		errs = append(errs, fmt.Errorf("net lab: unmount %s: %w", filepath.Join(l.dir, "ns"), err))
	}
	return errors.Join(errs...)
}

// netUsable says why bench-net cannot run here, or nil: it needs root, the
// ip, tc, unshare and nsenter commands and the TUN device.
func netUsable() error {
	if os.Geteuid() != 0 {
		return errors.New("not root (network namespaces, veth links and tbf need CAP_NET_ADMIN and CAP_SYS_ADMIN)")
	}
	for _, c := range []string{"ip", "tc", "unshare", "nsenter"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%s is not on PATH (iproute2, util-linux)", c)
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no TUN device for the delay line: %w", err)
	}
	if out, err := exec.Command("unshare", "--net", "--mount", "--", "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("cannot create network and mount namespaces: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
