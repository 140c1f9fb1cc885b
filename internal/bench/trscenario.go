//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// trScenario runs the row on the hosts of lay, with the caps of s (a cap
// of 0 leaves a daemon uncapped, for links whose rate the kernel sets).
func trScenario(ctx context.Context, s trSpec, lay layout, dir string, logw io.Writer) (Row, error) {
	var row Row
	// The daemons stop first, all at once, then the tracker they say
	// goodbye to.
	var procs []*proc
	var srv *proc
	defer func() {
		stopAll(procs)
		if srv != nil {
			srv.stop()
		}
	}()

	// The tracker: a tracker-only dist-server inside the namespace, whose
	// torrents announce to it.
	yaml := fmt.Sprintf("tracker_addr: \"%s:%d\"\nannounce_url: \"http://%[1]s:%[2]d/announce\"\n", lay.tracker.addr, trTrackerPort)
	p, meta, archive, err := startTracker(ctx, s.BinDir, s.Pkg, dir, yaml, lay.tracker)
	if err != nil {
		return row, err
	}
	srv = p
	metainfo := meta.Torrent

	// The seeder, with the archive in its download directory, verified
	// before any leecher starts.
	seeder, err := startTrDaemon(dir, "seeder", lay.publisher, trPeerPort, s.upKB(s.U))
	if err != nil {
		return row, err
	}
	procs = append(procs, seeder.proc)
	if err := linkOrCopy(archive, filepath.Join(dir, "seeder", "download", meta.Archive)); err != nil {
		return row, err
	}
	if err := trWaitRPC(ctx, seeder); err != nil {
		return row, err
	}
	if err := seeder.add(ctx, metainfo); err != nil {
		return row, err
	}
	verifyAsked := false
	var st trTorrent
	if err := trPoll(ctx, "the Transmission seeder to verify the archive", func() (bool, error) {
		st, err = seeder.torrent(ctx)
		if err != nil {
			return false, err
		}
		if st.Error == trErrorLocal {
			return false, fmt.Errorf("seeder: %s", st.ErrorString)
		}
		// Should it have started without checking, ask once.
		if !verifyAsked && st.Status == trStatusStopped && !st.complete() {
			verifyAsked = true
			return false, seeder.rpc.call(ctx, "torrent-verify", map[string]any{}, nil)
		}
		return st.complete() && st.Status == trStatusSeed, nil
	}); err != nil {
		return row, err
	}
	up0 := st.UploadedEver

	// The leechers: daemons up first, then every torrent added at once.
	leechers := make([]*trDaemon, s.N)
	for i := range leechers {
		leechers[i], err = startTrDaemon(dir, fmt.Sprintf("leecher%02d", i), lay.clients[i], trPeerPort+1+i, s.upKB(s.UC))
		if err != nil {
			return row, err
		}
		procs = append(procs, leechers[i].proc)
	}
	for _, l := range leechers {
		if err := trWaitRPC(ctx, l); err != nil {
			return row, err
		}
	}
	meter, err := lay.startMeter()
	if err != nil {
		return row, err
	}
	defer meter.stop()
	fmt.Fprintf(logw, "%d leechers ready; starting\n", s.N)
	cpu := rowCPU{}
	cpu.start(procs...)
	t0 := time.Now()
	addErrs := make([]error, s.N)
	var wg sync.WaitGroup
	for i, l := range leechers {
		wg.Add(1)
		go func() { defer wg.Done(); addErrs[i] = l.add(ctx, metainfo) }()
	}
	wg.Wait()
	if err := errors.Join(addErrs...); err != nil {
		return row, err
	}
	times := make([]time.Duration, s.N)
	done := make([]bool, s.N)
	left := s.N
	nextLog := t0
	if err := trPoll(ctx, "the Transmission leechers", func() (bool, error) {
		// Every few seconds, a line per daemon in the row's log, so a
		// slow row can be told apart from a badly connected swarm.
		logNow := time.Now().After(nextLog)
		if logNow {
			nextLog = nextLog.Add(trLogEvery)
			if st, err := seeder.torrent(ctx); err == nil {
				fmt.Fprintf(logw, "%6.1fs %s\n", time.Since(t0).Seconds(), st.progress("seeder"))
			}
		}
		for i, l := range leechers {
			if done[i] {
				continue
			}
			st, err := l.torrent(ctx)
			if err != nil {
				return false, err
			}
			if logNow {
				fmt.Fprintf(logw, "%6.1fs %s\n", time.Since(t0).Seconds(), st.progress(l.name))
			}
			if st.Error == trErrorLocal {
				return false, fmt.Errorf("%s: %s", l.name, st.ErrorString)
			}
			if st.complete() {
				done[i], times[i] = true, time.Since(t0)
				left--
			}
		}
		return left == 0, nil
	}); err != nil {
		return row, fmt.Errorf("%w (%d of %d leechers done)", err, s.N-left, s.N)
	}
	summarise(&row, times)
	st, err = seeder.torrent(ctx)
	if err != nil {
		return row, err
	}
	row.ServerUp = float64(st.UploadedEver-up0) / float64(s.F)
	row.ServerPayload = row.ServerUp
	for _, l := range leechers {
		if st, err := l.torrent(ctx); err == nil {
			row.ClientDownMax = max(row.ClientDownMax, float64(st.DownloadedEver)/float64(s.F))
		}
		row.PeakRSS = max(row.PeakRSS, peakRSS(l.proc.cmd.Process.Pid))
		row.CPU += cpu.of(l.proc)
	}
	row.CPU += cpu.of(seeder.proc)
	return row, meter.finish(&row, s.F, s.U, s.UC)
}

// trPollEvery is how often the leechers are asked for their progress: a
// tenth of a second is fine next to row times of seconds, and polling N
// daemons faster would add their RPC work to the CPU column.
const trPollEvery = 100 * time.Millisecond

// trLogEvery is how often the row's log gets a progress line per daemon.
const trLogEvery = 5 * time.Second

// trPoll calls check until it reports done or fails, or ctx ends.
func trPoll(ctx context.Context, what string, check func() (bool, error)) error {
	for {
		ok, err := check()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
			}
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(trPollEvery):
		}
	}
}

// trWaitRPC waits until a daemon answers its RPC, and fails at once if it
// exits instead.
func trWaitRPC(ctx context.Context, d *trDaemon) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return trPoll(ctx, d.name+"'s RPC", func() (bool, error) {
		if exited, err := d.proc.exited(); exited {
			return false, fmt.Errorf("transmission-daemon exited: %v (see %s.log)", err, d.name)
		}
		return d.rpc.call(ctx, "session-get", nil, nil) == nil, nil
	})
}

func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
