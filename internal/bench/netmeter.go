//go:build linux

package bench

// What the lab's links carry during a row, from the kernel's counters: the
// meter (bytes second by second), the tbf drops and the clients' TCP counters.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

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
// the publisher sent, and each client's.
type meterSeries struct {
	secs      []int64
	perClient [][]int64 // [second][client]
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
	m.readClients()
	lastTx := slices.Clone(m.clientTx)
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
		m.readClients()
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

// underHalf counts, for each second of perClient ([second][client] bytes
// sent), the clients that sent less than half of rate. A client whose
// counters could not be read that second counts as having sent nothing
// (and twice as much the next).
func underHalf(perClient [][]int64, rate int64) []int {
	out := make([]int, 0, len(perClient))
	for _, each := range perClient {
		n := 0
		for _, b := range each {
			if b < rate/2 {
				n++
			}
		}
		out = append(out, n)
	}
	return out
}

// readClients reads the clients' transmit counters into clientTx (a host
// whose counters cannot be read keeps its last reading).
func (m *meter) readClients() {
	for i, h := range m.lay.clients {
		if c, err := hostLinkBytes(h); err == nil {
			m.clientTx[i] = c.tx
		}
	}
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
	for _, each := range m.perClient {
		var b int64
		for _, n := range each {
			b += n
		}
		row.ClientsUse = append(row.ClientsUse, int(100*b/(clientRate*int64(len(m.clients)))))
	}
	row.ClientsIdle = underHalf(m.perClient, clientRate)
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

// drops sums the tbf drops of the publisher and of the clients since the
// lab began.
func (l *netLab) drops() (pub, clients int64, err error) {
	lay := l.layout()
	if pub, err = qdiscDrops(lay.publisher); err != nil {
		return 0, 0, err
	}
	for _, h := range lay.clients {
		d, err := qdiscDrops(h)
		if err != nil {
			return 0, 0, err
		}
		clients += d
	}
	return pub, clients, nil
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
	var snmp, netstat []byte
	err := inNetns(h.netns, func() (err error) {
		if snmp, err = os.ReadFile("/proc/thread-self/net/snmp"); err != nil {
			return err
		}
		netstat, err = os.ReadFile("/proc/thread-self/net/netstat")
		return err
	})
	if err != nil {
		return tcpCounters{}, fmt.Errorf("%s: %w", h.name, err)
	}
	c, err := tcpCountersOf(snmp, netstat)
	if err != nil {
		return c, fmt.Errorf("%s: %w", h.name, err)
	}
	return c, nil
}

// tcpCountersOf picks the counters out of the text of /proc/net/snmp and
// /proc/net/netstat.
func tcpCountersOf(snmp, netstat []byte) (tcpCounters, error) {
	var c tcpCounters
	for _, f := range []struct {
		name string
		text []byte
	}{{"/proc/net/snmp", snmp}, {"/proc/net/netstat", netstat}} {
		vals, err := parseProcNetStats(f.text)
		if err != nil {
			return c, fmt.Errorf("%s: %w", f.name, err)
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
				continue // not a number that fits in an int64; none of the fields read
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
