package server

import (
	"time"

	"github.com/distpac/distpac/internal/tracker"
)

// restorePeers gives the embedded tracker the peers it knew at the last
// clean stop (tracker.Restore), and each package's count of completed
// downloads (distpac_package_downloads_total), as soon as a reload has
// said which torrents it serves. Without them a newcomer was sent to this server's
// seeder alone until every client announced again (up to 33 s: the 30 s
// interval and its jitter), and the publisher's uplink carried what the
// clients should. A file it cannot use is one warning, and the tracker
// starts empty as before.
func (r *runner) restorePeers() {
	if r.tracker == nil {
		return
	}
	path := r.opts.Paths.TrackerPeers()
	res, err := r.tracker.Restore(path)
	r.peersRestored = true
	if err != nil {
		r.log.Warn("tracker starts with no peers", "err", err)
		return
	}
	if res != (tracker.Restored{}) {
		r.log.Info("tracker peers restored", "file", path, "peers", res.Peers, "swarms", res.Swarms,
			"expired", res.Expired, "not_served", res.NotServed, "over_bounds", res.Over, "completed_counts", res.Counts,
			"host_windows", res.Hosts, "host_windows_ended", res.HostsExpired)
	}
}

// savePeers writes the tracker's peers and counts for the next start, once its
// listener is closed; only a server that read the last file writes one,
// so that a start that failed early does not replace the peers of the
// stop before it with none.
func (r *runner) savePeers() {
	if r.tracker == nil || !r.peersRestored {
		return
	}
	path := r.opts.Paths.TrackerPeers()
	start := time.Now()
	n, err := r.tracker.Save(path)
	if err != nil {
		r.log.Warn("tracker peers not saved: the next start knows none until clients announce", "file", path, "err", err)
		return
	}
	r.log.Info("tracker peers saved", "file", path, "peers", n, "took", time.Since(start).Round(time.Millisecond))
}
