package daemon

// A download request: the archives of catalog packages fetched through the
// daemon's engine, with progress (bytes, peers, each archive's complete
// prefix for unpacking as it arrives) streamed back as JSON events.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
)

func (h *handler) download(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	engine, catalogDir, logger := h.engine, h.catalogDir, h.logger
	period, err := progressPeriod(r)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := decodeRequest(w, r)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rows, kept, err := lookup(ctx, catalogDir, req, logger)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		code := http.StatusNotFound
		if errors.Is(err, catalogclient.ErrNoCatalog) {
			code = http.StatusConflict
		}
		http.Error(w, err.Error(), code)
		return
	}
	if h.mirrorSeeds != nil {
		engine.SetMirrorWebSeeds(h.mirrorSeeds())
	}
	if h.requested != nil {
		archives := make([]string, len(rows))
		for i, row := range rows {
			archives[i] = row.Archive
		}
		archives = append(archives, kept...)
		defer h.requested.hold(archives)()
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	encode := func(ev Event) { // mu held
		enc.Encode(ev)
		if flusher != nil {
			flusher.Flush()
		}
	}
	send := func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		encode(ev)
	}
	var total int64
	for _, row := range rows {
		total += row.Size
	}
	// Progress goes out every period (progressEvery unless the caller
	// asked for less), whatever the number of archives (a thousand
	// torrents each reporting five times a second made thousands of events
	// a second); a completed archive at once.
	done := make([]int64, len(rows))
	sources := make([]swarm.Sources, len(rows))
	ran := make([]bool, len(rows)) // the download reported progress (stoppedOf)
	peers := 0
	// prefix is each archive's complete prefix, sent is what was last
	// sent of it; grew wakes the sender when one grew by a step.
	prefix, sent := make([]int64, len(rows)), make([]int64, len(rows))
	grew := make(chan struct{}, 1)
	snapshot := func() Event { // mu held
		var sum int64
		for _, d := range done {
			sum += d
		}
		merged := swarm.MergeSources(sources)
		ev := Event{Bytes: sum, Total: total, Peers: peers, Sources: &merged}
		for i, p := range prefix {
			if p > sent[i] {
				if ev.Prefix == nil {
					ev.Prefix = map[string]int64{}
				}
				ev.Prefix[rows[i].Archive] = p
				sent[i] = p
			}
		}
		return ev
	}
	// sendSnapshot sends the progress, with the prefixes that grew and what
	// set adds, in one hold of mu: a prefix marked sent is sent before any
	// later event (a Completed of its archive included).
	sendSnapshot := func(set func(*Event)) {
		mu.Lock()
		defer mu.Unlock()
		ev := snapshot()
		if set != nil {
			set(&ev)
		}
		encode(ev)
	}
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-t.C:
			case <-grew:
			}
			sendSnapshot(nil)
		}
	}()
	busySent := map[string]bool{} // the busy web seeds sent (Event.Busy); guarded by mu
	// reports holds each archive's report as its download returned (each
	// goroutine its own; read after Wait): the engine forgets it
	// transferKeep (a minute) later, and read again once the last archive
	// was in, an early one's said "already had", from no source.
	reports := make([]Report, len(rows))
	g, gctx := errgroup.WithContext(ctx)
	for i, row := range rows {
		g.Go(func() error {
			err := engine.Download(gctx, row.Torrent, torrentmeta.Seeders(row.Magnet), func(p swarm.Progress) {
				mu.Lock()
				var busy *swarm.BusySeed
				if p.Busy != nil && !busySent[p.Busy.Seed] {
					busySent[p.Busy.Seed], busy = true, p.Busy
				}
				done[i], sources[i], ran[i] = p.Done, p.Sources, true
				peers = max(peers, p.Peers)
				step := p.Prefix < row.Size && p.Prefix-sent[i] >= prefixStep(row.Size)
				if p.Prefix < row.Size { // the whole archive goes out as Completed
					prefix[i] = p.Prefix
				}
				mu.Unlock()
				if busy != nil {
					sendSnapshot(func(ev *Event) { ev.Busy = busy })
				}
				if step {
					select {
					case grew <- struct{}{}:
					default:
					}
				}
			})
			if err != nil {
				return &ArchiveError{Archive: row.Archive, Err: fmt.Errorf("download %s: %w", row.Archive, err)}
			}
			reports[i] = Report{Archive: row.Archive, InfoHash: row.InfoHash, Transfer: transferOf(engine, row)}
			rep := &reports[i]
			sendSnapshot(func(ev *Event) { ev.Completed = rep })
			return nil
		})
	}
	werr := g.Wait()
	close(stopTicker)
	<-tickerDone
	if err := werr; err != nil {
		stopping := errors.Is(context.Cause(ctx), ErrStopping)
		if stopping {
			// A daemon stopped on purpose (systemctl restart, an upgrade):
			// the install waits for a restarted daemon or downloads the
			// rest itself (internal/fetch), so the journal says so rather
			// than "daemon download failed ... (install again to finish)"
			// at WARN, which had an operator re-run installs that finished
			// (a newcomer's run). The words stay in the event: an install
			// that cannot hand over (its third handover) ends with them.
			logger.Info("download handed back to the install: the daemon is stopping; a restarted daemon or the install itself finishes it", "archives", len(rows), "err", err)
			err = fmt.Errorf("%w: %w (install again to finish)", ErrStopping, err)
		}
		if r.Context().Err() != nil && !errors.Is(err, ErrStopping) {
			// The CLI went away (Ctrl-C): not a failure of the daemon's.
			// The engine stops the downloads nobody else waits for.
			logger.Info("download stopped: the install that asked for it ended", "archives", len(rows))
			return
		}
		if !stopping {
			logger.Warn("daemon download failed", "err", err)
		}
		if h.failed != nil && !errors.Is(err, ErrStopping) {
			h.failed(err)
		}
		ev := Event{Total: total, Error: err.Error(), Unauthorized: errors.Is(err, httpbound.ErrUnauthorized) && !errors.Is(err, httpbound.ErrNotSent), Refused: refusalOf(err), Unreachable: errors.Is(err, swarm.ErrUnreachable), Stopped: stoppedOf(engine, rows, ran)}
		if ae := (*ArchiveError)(nil); errors.As(err, &ae) {
			ev.FailedArchive = ae.Archive
		}
		send(ev)
		return
	}
	for _, r := range reports {
		logger.Info("download complete", r.LogArgs(r.Archive)...)
	}
	if h.downloaded != nil && len(rows) > 0 { // a request only to hold its Keep downloaded nothing
		h.downloaded(reports)
	}
	send(Event{Bytes: total, Total: total, Peers: peers, Finished: true, Reports: reports})
}

// transferOf is the engine's report of row's last download; an archive the
// engine already had complete counts as all already had.
func transferOf(engine *swarm.Engine, row catalog.Package) swarm.Transfer {
	if ih, err := swarm.ParseInfoHash(row.InfoHash); err == nil {
		if t, ok := engine.Transfer(ih); ok {
			return t
		}
	}
	return swarm.Transfer{Total: row.Size, AlreadyHad: row.Size}
}

// stoppedOf reports, of rows, the downloads of this request that ended
// before their archive was whole (ran: their progress was reported), with
// what each had received (swarm.Engine.Stopped). One that never ran (the
// request failed first, or it waited for a turn among the engine's
// downloads) has none: the engine's last download of it is an earlier
// request's, maybe hours old (a review).
func stoppedOf(engine *swarm.Engine, rows []catalog.Package, ran []bool) []Report {
	var out []Report
	for i, row := range rows {
		if !ran[i] {
			continue
		}
		ih, err := swarm.ParseInfoHash(row.InfoHash)
		if err != nil {
			continue
		}
		if t, ok := engine.Stopped(ih); ok {
			out = append(out, Report{Archive: row.Archive, InfoHash: row.InfoHash, Transfer: t})
		}
	}
	return out
}

// refusalOf is err's Refusal; nil when no web seed refused it.
func refusalOf(err error) *Refusal {
	r := Refusal{Unauthorized: errors.Is(err, httpbound.ErrUnauthorized), Forbidden: errors.Is(err, httpbound.ErrForbidden),
		NotSent: errors.Is(err, httpbound.ErrNotSent), URL: httpbound.RefusedURL(err, http.StatusForbidden),
		UnauthorizedURL: httpbound.RefusedURL(err, http.StatusUnauthorized)}
	if !r.Unauthorized && !r.Forbidden {
		return nil
	}
	return &r
}
