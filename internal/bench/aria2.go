//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// peer is one aria2c process and the address of its JSON-RPC.
type peer struct {
	rpc  string // host:port
	proc *proc
	log  string // its stdout and stderr
}

func haveAria2() bool {
	_, err := exec.LookPath("aria2c")
	return err == nil
}

// aria2Stat asks an aria2c's JSON-RPC at rpc (host:port) for its one
// download's counters. One question waits at most aria2StatTimeout: the
// row polls every leecher in turn, and an aria2c slow to answer (under a
// CPU-bound N=32 row) held the whole poll until the row's deadline, so
// leechers that had finished were reported as not answering.
func aria2Stat(ctx context.Context, rpc string) (completed, total, uploaded int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, aria2StatTimeout)
	defer cancel()
	body := []byte(`{"jsonrpc":"2.0","id":"b","method":"aria2.tellActive","params":[["completedLength","totalLength","uploadLength"]]}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+rpc+"/jsonrpc", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Result []map[string]string `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, 0, 0, err
	}
	if len(out.Result) == 0 {
		return 0, 0, 0, fmt.Errorf("aria2 at %s has no active download", rpc)
	}
	r := out.Result[0]
	completed, _ = strconv.ParseInt(r["completedLength"], 10, 64)
	total, _ = strconv.ParseInt(r["totalLength"], 10, 64)
	uploaded, _ = strconv.ParseInt(r["uploadLength"], 10, 64)
	return completed, total, uploaded, nil
}

const aria2StatTimeout = 5 * time.Second

// aria2Unfinished says how far the leechers got when the row gave up, so a
// stalled row reads as more than "deadline exceeded".
func aria2Unfinished(err error, leechers []*peer, done []bool, f int64) error {
	ctx := context.Background() // each question has its own timeout
	var stuck []string
	for i, l := range leechers {
		if done[i] {
			continue
		}
		c, _, _, serr := aria2Stat(ctx, l.rpc)
		if serr != nil {
			why := serr.Error()
			if gone, werr := l.proc.exited(); gone {
				why = fmt.Sprintf("aria2c exited: %v; log %s: %s", werr, l.log, tail(l.log, 300))
			}
			stuck = append(stuck, fmt.Sprintf("leecher%02d (no answer: %s)", i, why))
			continue
		}
		stuck = append(stuck, fmt.Sprintf("leecher%02d at %.0f%%", i, 100*float64(c)/float64(f)))
	}
	return fmt.Errorf("%d of %d leechers done, then %w; still downloading: %s", len(leechers)-len(stuck), len(leechers), err, strings.Join(stuck, ", "))
}

// startSwarmTracker starts the tracker-only dist-server of a row whose
// seeder and leechers are another program (aria2, libtorrent) on lay's
// tracker host, and returns it, the package's .torrent file and the
// seeder's download directory, which holds the archive.
func startSwarmTracker(ctx context.Context, o Options, lay layout, pkg, dir string) (srv *proc, torrent, seedDir string, err error) {
	trackerPort, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	srv, meta, archive, err := startTracker(ctx, o.BinDir, pkg, dir, fmt.Sprintf("tracker_addr: \"%s:%d\"\n", lay.tracker.addr, trackerPort), lay.tracker)
	if err != nil {
		return nil, "", "", err
	}
	torrent = filepath.Join(dir, "pkg.torrent")
	seedDir = filepath.Join(dir, "seeder")
	err = os.WriteFile(torrent, meta.Torrent, 0o644)
	if err == nil {
		err = os.MkdirAll(seedDir, 0o755)
	}
	if err == nil {
		err = linkOrCopy(archive, filepath.Join(seedDir, meta.Archive))
	}
	if err != nil {
		srv.stop()
		return nil, "", "", err
	}
	return srv, torrent, seedDir, nil
}

// runAria2 runs the same swarm with aria2c as seeder and leechers, under
// the same caps, announcing to a tracker-only dist-server, each on its
// host of lay.
func runAria2(ctx context.Context, o Options, lay layout, pkg, dir string) (Row, error) {
	var row Row
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	n := len(lay.clients)
	srv, torrent, seedDir, err := startSwarmTracker(ctx, o, lay, pkg, dir)
	if err != nil {
		return row, err
	}
	defer srv.stop()

	startAria := func(h host, name, dl string, upCap int64, seeder bool) (*peer, error) {
		rpc, err := freePort()
		if err != nil {
			return nil, err
		}
		listen, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--seed-ratio=0.0",
			"--dir=" + dl, "--listen-port=" + strconv.Itoa(listen), "--enable-rpc", "--rpc-listen-port=" + strconv.Itoa(rpc),
			"--max-overall-upload-limit=" + strconv.FormatInt(upCap, 10), "--summary-interval=0", "--console-log-level=warn",
			"--file-allocation=none", "--bt-tracker-connect-timeout=5", "--bt-tracker-interval=0", "--check-certificate=false"}
		if h.netns != "" {
			// The benchmark asks from the router namespace: the RPC must
			// listen on the host's address, not only its loopback.
			args = append(args, "--rpc-listen-all=true")
		}
		if seeder {
			args = append(args, "--bt-seed-unverified=true")
		}
		args = append(args, torrent)
		os.MkdirAll(dl, 0o755)
		log := filepath.Join(dir, name+".log")
		p, err := h.start(log, nil, "aria2c", args...)
		if err != nil {
			return nil, err
		}
		return &peer{rpc: net.JoinHostPort(h.addr, strconv.Itoa(rpc)), proc: p, log: log}, nil
	}
	seeder, err := startAria(lay.publisher, "seeder", seedDir, o.peerCap(o.U), true)
	if err != nil {
		return row, err
	}
	defer seeder.proc.stop()
	if err := waitUntil(ctx, 30*time.Second, "aria2 seeder", func() bool {
		_, _, _, err := aria2Stat(ctx, seeder.rpc)
		return err == nil
	}); err != nil {
		return row, err
	}
	_, _, up0, _ := aria2Stat(ctx, seeder.rpc)
	meter, err := lay.startMeter()
	if err != nil {
		return row, err
	}
	defer meter.stop()

	cpu := rowCPU{}
	cpu.start(seeder.proc)
	t0 := time.Now()
	leechers := make([]*peer, n)
	for i, h := range lay.clients {
		leechers[i], err = startAria(h, fmt.Sprintf("leecher%02d", i), filepath.Join(dir, fmt.Sprintf("l%02d", i)), o.peerCap(o.u), false)
		if err != nil {
			return row, err
		}
		defer leechers[i].proc.stop()
	}
	times := make([]time.Duration, n)
	doneAt := make([]bool, n)
	left := n
	var exited error // a leecher that ended before it finished: no use waiting
	err = waitUntil(ctx, o.Timeout, "aria2 leechers", func() bool {
		for i, l := range leechers {
			if doneAt[i] {
				continue
			}
			if gone, _ := l.proc.exited(); gone {
				exited = fmt.Errorf("leecher%02d exited", i)
				return true
			}
			c, t, _, err := aria2Stat(ctx, l.rpc)
			if err == nil && t > 0 && c == t {
				doneAt[i], times[i] = true, time.Since(t0)
				left--
			}
		}
		return left == 0
	})
	if err == nil {
		err = exited
	}
	if err != nil {
		return row, aria2Unfinished(err, leechers, doneAt, o.F)
	}
	summarise(&row, times)
	_, _, up1, err := aria2Stat(ctx, seeder.rpc)
	if err != nil {
		return row, err
	}
	row.ServerUp = float64(up1-up0) / float64(o.F)
	row.ServerPayload = row.ServerUp
	for _, l := range leechers {
		row.PeakRSS = max(row.PeakRSS, peakRSS(l.proc.cmd.Process.Pid))
		row.CPU += cpu.of(l.proc)
	}
	row.CPU += cpu.of(seeder.proc)
	return row, meter.finish(&row, o.F, o.U, o.u)
}
