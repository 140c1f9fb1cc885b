//go:build linux

package bench

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The libtorrent rows: libtorrent-rasterbar (Debian's python3-libtorrent)
// as seeder and leechers under the same caps as the other rows, one
// process per peer, each a copy of libtorrent_peer.py run by
// /usr/bin/python3; a second row has the seeder super-seeding (BEP 16).
// Each peer binds an address of its own in 127/8, as distpac's clients
// do: to the tracker and to libtorrent (one connection per address) each
// is a host.
//
// libtorrent leaves peers on local networks, 127/8 among them, out of its
// rate limits by default; the script puts every address in the global
// peer class. The cap check (one leecher from a capped seeder, which must
// take about F/U) shows that the caps bind, and its row stands in the
// table.

//go:embed libtorrent_peer.py
var ltPeerScript []byte

// ltPython is Debian's interpreter, which has the libtorrent module; a
// python3 earlier on PATH (pyenv's) may not.
const ltPython = "/usr/bin/python3"

// Method names of the libtorrent rows.
const (
	methodLibtorrent      = "libtorrent"
	methodLibtorrentSuper = "libtorrent super-seed"
	methodLibtorrentCheck = "libtorrent cap check"
)

// ltCapCheckMin is the least share of F/U the cap check's one leecher may
// take: below it the seeder's cap did not bind (uncapped on loopback the
// leecher takes a few hundredths of F/U).
const ltCapCheckMin = 0.8

// ltCountersSettle is how long after the last leecher finished the byte
// counters are read: libtorrent's second tick plus the status file's
// 0.1 s (the seeder read 0.87 F uploaded to one leecher that had 1.0 F
// when read at once).
const ltCountersSettle = 1200 * time.Millisecond

// libtorrentUsable says why the libtorrent rows cannot run here, or nil.
func libtorrentUsable() error {
	out, err := exec.Command(ltPython, "-c", "import libtorrent").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -c 'import libtorrent': %v: %s (Debian: apt-get install python3-libtorrent)", ltPython, err, tailText(out, 200))
	}
	return nil
}

// ltPeerSpec is one peer's command line.
type ltPeerSpec struct {
	Script  string // libtorrent_peer.py
	Torrent string
	Dir     string // download directory; a seeder's holds the archive
	Listen  string // host:port
	UpCap   int64  // bytes/s, 0 for none
	Status  string // the status file the script keeps
	Seed    bool
	Super   bool // super-seeding (a seeder only)
}

func (s ltPeerSpec) argv() []string {
	args := []string{s.Script, "--torrent", s.Torrent, "--dir", s.Dir, "--listen", s.Listen,
		"--upload-limit", strconv.FormatInt(s.UpCap, 10), "--status", s.Status}
	if s.Seed {
		args = append(args, "--seed")
	}
	if s.Super {
		args = append(args, "--super-seed")
	}
	return args
}

// ltStatus is the script's status file.
type ltStatus struct {
	State        string `json:"state"` // ready, checking, downloading, finished, seeding
	Wanted       int64  `json:"wanted"`
	Done         int64  `json:"done"`
	Uploaded     int64  `json:"uploaded"`   // payload since the torrent was added
	Downloaded   int64  `json:"downloaded"` // payload, duplicates included
	Peers        int    `json:"peers"`
	SuperSeeding bool   `json:"super_seeding"`
	// FinishedNS is the wall clock, in Unix nanoseconds, when libtorrent
	// said the download finished (every piece checked); 0 before.
	FinishedNS int64  `json:"finished_ns"`
	Error      string `json:"error"` // the torrent stopped on a disk or data error
}

func (s ltStatus) complete() bool { return s.Wanted > 0 && s.Done >= s.Wanted }

// ltPeer is one running peer.
type ltPeer struct {
	name   string
	proc   *proc
	status string // its status file
	log    string
}

func startLtPeer(h host, dir, name string, spec ltPeerSpec) (*ltPeer, error) {
	spec.Status = filepath.Join(dir, name+".status")
	p := &ltPeer{name: name, status: spec.Status, log: filepath.Join(dir, name+".log")}
	var err error
	if p.proc, err = h.start(p.log, nil, ltPython, spec.argv()...); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// read returns the peer's last status; it fails when the peer has exited
// or its torrent has stopped on an error.
func (p *ltPeer) read() (ltStatus, bool, error) {
	if exited, err := p.proc.exited(); exited {
		return ltStatus{}, false, fmt.Errorf("%s exited: %v (log %s: %s)", p.name, err, p.log, tail(p.log, 300))
	}
	b, err := os.ReadFile(p.status)
	if errors.Is(err, os.ErrNotExist) {
		return ltStatus{}, false, nil
	}
	var st ltStatus
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		return ltStatus{}, false, fmt.Errorf("%s: status: %w", p.name, err)
	}
	if st.Error != "" {
		return st, true, fmt.Errorf("%s: %s", p.name, st.Error)
	}
	return st, true, nil
}

// waitState waits until the peer reports state.
func (p *ltPeer) waitState(ctx context.Context, d time.Duration, state string) (ltStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var st ltStatus
	err := trPoll(ctx, p.name+" to be "+state, func() (bool, error) {
		var ok bool
		var err error
		st, ok, err = p.read()
		return ok && st.State == state, err
	})
	return st, err
}

// runLibtorrent runs the swarm with libtorrent as seeder and leechers
// (the seeder super-seeding with super), under the caps of o, announcing
// to a tracker-only dist-server, each peer on its host of lay.
func runLibtorrent(ctx context.Context, o Options, lay layout, pkg, dir string, super bool) (Row, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	srv, torrent, seedDir, err := startSwarmTracker(ctx, o, lay, pkg, dir)
	if err != nil {
		return Row{}, err
	}
	defer srv.stop() // last: the peers say goodbye to it
	return ltSwarm(ctx, o, lay, torrent, seedDir, dir, super)
}

// ltSwarm runs the row's peers on the torrent whose archive is in seedDir
// (its tracker already up) and measures them.
func ltSwarm(ctx context.Context, o Options, lay layout, torrent, seedDir, dir string, super bool) (Row, error) {
	var row Row
	var procs []*proc
	defer func() { stopAll(procs) }() // at once: each says goodbye to the tracker
	script := filepath.Join(dir, "libtorrent_peer.py")
	if err := os.WriteFile(script, ltPeerScript, 0o644); err != nil {
		return row, err
	}
	start := func(h host, name, dl string, upCap int64, seed bool) (*ltPeer, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dl, 0o755); err != nil {
			return nil, err
		}
		p, err := startLtPeer(h, dir, name, ltPeerSpec{Script: script, Torrent: torrent, Dir: dl,
			Listen: fmt.Sprintf("%s:%d", h.addr, port), UpCap: upCap, Seed: seed, Super: super && seed})
		if err == nil {
			procs = append(procs, p.proc)
		}
		return p, err
	}

	seeder, err := start(lay.publisher, "seeder", seedDir, o.peerCap(o.U), true)
	if err != nil {
		return row, err
	}
	if _, err := seeder.waitState(ctx, 30*time.Second, "seeding"); err != nil {
		return row, err
	}
	if super {
		// The script sets the flag once the torrent seeds; see it set.
		if err := trPoll(ctx, "the seeder to super-seed", func() (bool, error) {
			st, _, err := seeder.read()
			return st.SuperSeeding, err
		}); err != nil {
			return row, err
		}
	}
	n := len(lay.clients)
	leechers := make([]*ltPeer, n)
	for i, h := range lay.clients {
		name := fmt.Sprintf("leecher%02d", i)
		if leechers[i], err = start(h, name, filepath.Join(dir, name), o.peerCap(o.u), false); err != nil {
			return row, err
		}
	}
	for _, l := range leechers {
		if _, err := l.waitState(ctx, 30*time.Second, "ready"); err != nil {
			return row, err
		}
	}
	st, _, err := seeder.read()
	if err != nil {
		return row, err
	}
	up0 := st.Uploaded
	// CPU from the start on: the interpreter's start (about 0.09 s a
	// process) and the seeder's check of the archive are not the swarm's.
	cpu := rowCPU{}
	cpu.start(procs...)
	meter, err := lay.startMeter()
	if err != nil {
		return row, err
	}
	defer meter.stop()

	// Every leecher adds the torrent on SIGUSR1: one start for all.
	t0 := time.Now()
	for _, l := range leechers {
		if err := l.proc.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			return row, fmt.Errorf("start %s: %w", l.name, err)
		}
	}
	times := make([]time.Duration, n)
	done := make([]bool, n)
	left := n
	if err := trPoll(ctx, "the libtorrent leechers", func() (bool, error) {
		for i, l := range leechers {
			if done[i] {
				continue
			}
			st, _, err := l.read()
			if err != nil {
				return false, err
			}
			if st.complete() && st.FinishedNS > 0 {
				done[i], times[i] = true, time.Unix(0, st.FinishedNS).Sub(t0)
				left--
			}
		}
		return left == 0, nil
	}); err != nil {
		var stuck []string
		for i, l := range leechers {
			if done[i] {
				continue
			}
			switch st, _, rerr := l.read(); {
			case rerr != nil:
				stuck = append(stuck, rerr.Error())
			case st.Wanted == 0:
				stuck = append(stuck, fmt.Sprintf("%s %s", l.name, cmp.Or(st.State, "without a status")))
			default:
				stuck = append(stuck, fmt.Sprintf("%s %s at %.0f%% with %d peers", l.name, st.State, 100*float64(st.Done)/float64(st.Wanted), st.Peers))
			}
		}
		return row, fmt.Errorf("%w (%d of %d leechers done; %s)", err, n-left, n, strings.Join(stuck, ", "))
	}
	summarise(&row, times)
	// libtorrent adds its peers' byte counts to a torrent's once a second:
	// read them after the next tick.
	select {
	case <-ctx.Done():
		return row, ctx.Err()
	case <-time.After(ltCountersSettle):
	}
	if st, _, err = seeder.read(); err != nil {
		return row, err
	}
	row.ServerUp = float64(st.Uploaded-up0) / float64(o.F)
	row.ServerPayload = row.ServerUp
	for _, l := range leechers {
		st, _, err := l.read()
		if err != nil {
			return row, err
		}
		row.ClientDownMax = max(row.ClientDownMax, float64(st.Downloaded)/float64(o.F))
		row.PeakRSS = max(row.PeakRSS, peakRSS(l.proc.cmd.Process.Pid))
	}
	for _, p := range procs {
		row.CPU += cpu.of(p)
	}
	return row, meter.finish(&row, o.F, o.U, o.u)
}

// ltCapCheck runs one leecher from the capped seeder: it must take about
// F/U. It returns the row (its last/T_min is that share) and an error
// when the cap did not bind.
func ltCapCheck(ctx context.Context, o Options, pkg, dir string) (Row, error) {
	r, err := runLibtorrent(ctx, o, loopbackLayout(1, true), pkg, dir, false)
	if err != nil {
		return r, err
	}
	fu := Bound(1, o.F, o.U, o.u)
	if share := r.Last.Seconds() / fu.Seconds(); share < ltCapCheckMin {
		return r, fmt.Errorf("the upload cap did not bind: one leecher took %.2fs, %.2f of F/U = %.2fs", r.Last.Seconds(), share, fu.Seconds())
	}
	return r, nil
}
