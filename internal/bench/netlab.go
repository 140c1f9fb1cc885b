package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// meter counts with the kernel's counters what the lab's links carry
// during a row: the publisher's egress and each client's ingress, and the
// publisher's and the clients' egress second by second (where the time
// goes); and it probes the round trip meanwhile.
type meter struct {
	lay      layout
	pub      linkBytes
	clients  []linkBytes // at the start
	clientTx []int64     // the clients' last transmit counts; the sampler's
	probe    *rowProbe
	stopOnce sync.Once
	stopC    chan struct{}
	done     chan meterSeries
	// set by stop
	meterSeries
	rttMed, rttP90 time.Duration
	probes         int
}

// meterSeries is what the meter gathered in each second of a row: bytes
// the publisher and the clients together sent, and each client's.
type meterSeries struct {
	secs, clientSecs []int64
	perClient        [][]int64 // [second][client]
}

// startMeter reads the counters at the start of a row; on loopback it
// returns nil, whose methods do nothing. The caller defers stop.
func (l layout) startMeter() (*meter, error) {
	if l.lab == nil {
		return nil, nil
	}
	m := &meter{lay: l, clients: make([]linkBytes, len(l.clients)), stopC: make(chan struct{}), done: make(chan meterSeries, 1)}
	var err error
	m.clientTx = make([]int64, len(l.clients))
	for i, h := range l.clients {
		if m.clients[i], err = hostLinkBytes(h); err != nil {
			return nil, err
		}
		m.clientTx[i] = m.clients[i].tx
	}
	a, b := l.lab.probes()
	if m.probe, err = startRowProbe(context.Background(), a, b); err != nil {
		return nil, err
	}
	if m.pub, err = hostLinkBytes(l.publisher); err != nil {
		m.probe.finish()
		return nil, err
	}
	go m.sample()
	return m, nil
}

// sample reads the publisher's and the clients' counters every second
// until stopped, at most an hour.
func (m *meter) sample() {
	var ms meterSeries
	last := m.pub.tx
	lastTx := slices.Clone(m.clientTx)
	lastClients := m.clientsSent()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range 3600 {
		select {
		case <-m.stopC:
			m.done <- ms
			return
		case <-tick.C:
		}
		if c, err := hostLinkBytes(m.lay.publisher); err == nil {
			ms.secs = append(ms.secs, c.tx-last)
			last = c.tx
		} else {
			ms.secs = append(ms.secs, 0) // counted with the next second's; the two series stay aligned
		}
		sent := m.clientsSent()
		ms.clientSecs = append(ms.clientSecs, sent-lastClients)
		lastClients = sent
		each := make([]int64, len(m.clientTx))
		for i, tx := range m.clientTx {
			each[i] = tx - lastTx[i]
		}
		copy(lastTx, m.clientTx)
		ms.perClient = append(ms.perClient, each)
	}
	<-m.stopC
	m.done <- ms
}

// clientsSent is what the clients' links have sent, together (a host
// whose counters cannot be read counts as its last reading).
func (m *meter) clientsSent() int64 {
	var n int64
	for i, h := range m.lay.clients {
		if c, err := hostLinkBytes(h); err == nil {
			m.clientTx[i] = c.tx
		}
		n += m.clientTx[i]
	}
	return n
}

// stop ends the sampling and the probe; it may be called more than once.
func (m *meter) stop() {
	if m == nil {
		return
	}
	m.stopOnce.Do(func() {
		close(m.stopC)
		m.meterSeries = <-m.done
		m.rttMed, m.rttP90, m.probes = m.probe.finish()
	})
}

// finish sets the row's publisher egress and its largest client download,
// in units of F, from what the counters grew by since startMeter: every
// byte on the wire, TCP/IP and BitTorrent headers and other peers'
// requests included; the publisher's link use second by second, in
// percent of rate, and the clients' together, in percent of theirs
// (clientRate each); and the round trip measured during the row.
func (m *meter) finish(row *Row, f, rate, clientRate int64) error {
	if m == nil {
		return nil
	}
	m.stop()
	for _, b := range m.secs {
		row.PublisherUse = append(row.PublisherUse, int(100*b/rate))
	}
	for _, b := range m.clientSecs {
		row.ClientsUse = append(row.ClientsUse, int(100*b/(clientRate*int64(len(m.clients)))))
	}
	for _, each := range m.perClient {
		idle := 0
		for _, b := range each {
			if b < clientRate/2 {
				idle++
			}
		}
		row.ClientsIdle = append(row.ClientsIdle, idle)
	}
	row.MeasuredRTT, row.MeasuredRTT90, row.RTTProbes = m.rttMed, m.rttP90, m.probes
	pub, err := hostLinkBytes(m.lay.publisher)
	if err != nil {
		return err
	}
	row.ServerUp = float64(pub.tx-m.pub.tx) / float64(f)
	row.ClientDownMax = 0
	for i, h := range m.lay.clients {
		c, err := hostLinkBytes(h)
		if err != nil {
			return err
		}
		row.ClientDownMax = max(row.ClientDownMax, float64(c.rx-m.clients[i].rx)/float64(f))
	}
	return nil
}

// qdiscDrops is how many packets h's tbf has dropped since the lab began:
// the queue of a link full, TCP then backs off.
func qdiscDrops(h host) (int64, error) {
	name, args := h.argv("tc", "-s", "-j", "qdisc", "show", "dev", "eth0")
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return 0, fmt.Errorf("%s: tc -s qdisc: %w", h.name, err)
	}
	var qs []struct {
		Kind  string `json:"kind"`
		Drops int64  `json:"drops"`
	}
	if err := json.Unmarshal(out, &qs); err != nil {
		return 0, fmt.Errorf("%s: tc -s qdisc: %w", h.name, err)
	}
	var drops int64
	for _, q := range qs {
		drops += q.Drops
	}
	return drops, nil
}

// dropsText sums the tbf drops of the publisher and of the clients.
func (l *netLab) dropsText() string {
	lay := l.layout()
	pub, err := qdiscDrops(lay.publisher)
	if err != nil {
		return err.Error()
	}
	var cl int64
	for _, h := range lay.clients {
		d, err := qdiscDrops(h)
		if err != nil {
			return err.Error()
		}
		cl += d
	}
	return fmt.Sprintf("publisher %d, clients %d", pub, cl)
}

// tcpCounters are the TCP counters of a host's namespace that tell why a
// link is not full: segments sent again, and retransmission timeouts (a
// flow with a few jumbo frames in flight cannot fast-retransmit and waits
// for its timer).
type tcpCounters struct {
	OutSegs, RetransSegs, Timeouts int64
}

func (c tcpCounters) add(o tcpCounters) tcpCounters {
	return tcpCounters{c.OutSegs + o.OutSegs, c.RetransSegs + o.RetransSegs, c.Timeouts + o.Timeouts}
}

func (c tcpCounters) sub(o tcpCounters) tcpCounters {
	return tcpCounters{c.OutSegs - o.OutSegs, c.RetransSegs - o.RetransSegs, c.Timeouts - o.Timeouts}
}

// readTCPCounters reads h's counters from /proc/net/snmp and
// /proc/net/netstat as seen in its namespace.
func readTCPCounters(h host) (tcpCounters, error) {
	var c tcpCounters
	for _, file := range []string{"/proc/net/snmp", "/proc/net/netstat"} {
		name, args := h.argv("cat", file)
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return c, fmt.Errorf("%s: %s: %w", h.name, file, err)
		}
		vals, err := parseProcNetStats(out)
		if err != nil {
			return c, fmt.Errorf("%s: %s: %w", h.name, file, err)
		}
		for k, v := range vals {
			switch k {
			case "Tcp:OutSegs":
				c.OutSegs = v
			case "Tcp:RetransSegs":
				c.RetransSegs = v
			case "TcpExt:TCPTimeouts":
				c.Timeouts = v
			}
		}
	}
	return c, nil
}

// parseProcNetStats reads the pairs of lines of /proc/net/snmp or
// /proc/net/netstat ("Tcp: names..." then "Tcp: values...") into
// "Tcp:Name" → value.
func parseProcNetStats(b []byte) (map[string]int64, error) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines)%2 != 0 {
		return nil, fmt.Errorf("%d lines, want pairs", len(lines))
	}
	out := map[string]int64{}
	for i := 0; i < len(lines); i += 2 {
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(vals) || len(names) == 0 || names[0] != vals[0] {
			return nil, fmt.Errorf("line %d: names and values do not pair", i+1)
		}
		prefix := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseInt(vals[j], 10, 64)
			if err != nil {
				continue // a signed or odd field; none of the ones read
			}
			out[prefix+":"+names[j]] = v
		}
	}
	return out, nil
}

// clientsTCP sums the clients' TCP counters.
func (l *netLab) clientsTCP() (tcpCounters, error) {
	var sum tcpCounters
	for _, h := range l.layout().clients {
		c, err := readTCPCounters(h)
		if err != nil {
			return sum, err
		}
		sum = sum.add(c)
	}
	return sum, nil
}
