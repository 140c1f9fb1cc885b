package server

import (
	"context"

	"github.com/distpac/distpac/internal/swarm"
	"github.com/prometheus/client_golang/prometheus"
)

func (r *runner) registerMetrics(reg *prometheus.Registry) {
	registerSeederMetrics(reg, r.status, func() map[swarm.InfoHash]string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.names
	}, r.engine)
	gauge := func(name, help string, f func(Status) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(r.status()) }))
	}
	gauge("distpac_tracker_peers", "Peers known to the embedded tracker.", func(s Status) float64 { return float64(zeroIfNil(s.TrackedPeers)) })
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_tracker_announces_total", Help: "Announces the embedded tracker received, refused ones included."},
		func() float64 { return float64(zeroIfNil(r.status().Announces)) }))
	r.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "distpac_errors_total", Help: "Failures by component: seeder (a package could not be seeded), reload (the catalog could not be reloaded), publish (the working catalog was not signed: clients would refuse it, or re-signing it before it expires failed)."}, []string{"component"})
	for _, c := range []string{"seeder", "reload", "publish"} {
		r.errors.WithLabelValues(c)
	}
	reg.MustRegister(r.errors, &trackerCollector{r: r,
		downloads: prometheus.NewDesc("distpac_package_downloads_total", "Completed downloads of each package the tracker was told of (BEP 3 completed events, one per peer it knew as a leecher).", []string{"package"}, nil),
		refused:   prometheus.NewDesc("distpac_tracker_refused_total", "Announces the embedded tracker refused, by reason.", []string{"reason"}, nil),
	})
}

// registerSeederMetrics registers what a publisher and a mirror both
// have: the catalog's packages and the seeder's torrents, peers and
// uploads (a mirror's /metrics had none of them, so its share of a
// release's traffic showed only in dist-server status). names gives
// each seeded package's name@version by infohash.
func registerSeederMetrics(reg *prometheus.Registry, status func() Status, names func() map[swarm.InfoHash]string, engine *swarm.Engine) {
	gauge := func(name, help string, f func(Status) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(status()) }))
	}
	gauge("distpac_packages", "Package versions in the published catalog.", func(s Status) float64 { return float64(s.Packages) })
	gauge("distpac_seeding_torrents", "Torrents the seeder shares.", func(s Status) float64 { return float64(s.Seeding) })
	gauge("distpac_seeder_connected_peers", "Peers connected to the seeder.", func(s Status) float64 { return float64(s.Connected) })
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_seeder_uploaded_bytes_total", Help: "Payload bytes the seeder sent."},
		func() float64 { return float64(status().Uploaded) }))
	reg.MustRegister(&uploadCollector{names: names, engine: engine,
		uploaded: prometheus.NewDesc("distpac_package_seeder_uploaded_bytes_total", "Payload bytes the seeder sent of each package.", []string{"package"}, nil)})
}

// uploadCollector reports the seeder's upload of each package, read from
// the engine at scrape time.
type uploadCollector struct {
	names    func() map[swarm.InfoHash]string
	engine   *swarm.Engine
	uploaded *prometheus.Desc
}

func (c *uploadCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.uploaded }

func (c *uploadCollector) Collect(ch chan<- prometheus.Metric) {
	if c.engine == nil {
		return
	}
	names := c.names()
	for _, t := range c.engine.Torrents() {
		ih, err := swarm.ParseInfoHash(t.InfoHash)
		if name, ok := names[ih]; err == nil && ok {
			ch <- prometheus.MustNewConstMetric(c.uploaded, prometheus.CounterValue, float64(t.Uploaded), name)
		}
	}
}

// trackerCollector reports per-package and per-reason counters, computed
// at scrape time from the embedded tracker.
type trackerCollector struct {
	r                  *runner
	downloads, refused *prometheus.Desc
}

func (c *trackerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.downloads
	ch <- c.refused
}

func (c *trackerCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	if r.tracker == nil {
		return
	}
	r.mu.Lock()
	names := r.names
	r.mu.Unlock()
	ihs := make([][20]byte, 0, len(names))
	for ih := range names {
		ihs = append(ihs, ih)
	}
	res, _ := r.tracker.Scrape(context.Background(), ihs)
	for i, ih := range ihs {
		ch <- prometheus.MustNewConstMetric(c.downloads, prometheus.CounterValue, float64(res[i].Completed), names[ih])
	}
	for reason, n := range r.tracker.Refused() {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), reason)
	}
}

// connCollector reports the connections each HTTP listener of g closed
// (internal/connlimit), by reason.
type connCollector struct {
	g    *httpGroup
	desc *prometheus.Desc
}

func (g *httpGroup) connCollector() prometheus.Collector {
	return connCollector{g: g, desc: prometheus.NewDesc("distpac_http_connections_closed_total",
		"Connections an HTTP listener closed, and files it refused, to stay within its bounds, by listener and reason: address (refused: its IP address, or IPv6 /64, held the most it may and none idle), total (refused: the listener held the most it may and none idle), idle (an idle keep-alive connection closed to make room), fair_share (a silent or stalled connection of the address holding the most closed for another address), file (a file asked for, a web seed's archive, answered 503: the total full and nothing to close; the connection stays).",
		[]string{"listener", "reason"}, nil)}
}

func (c connCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c connCollector) Collect(ch chan<- prometheus.Metric) {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	for name, l := range c.g.limits {
		n := l.Counts()
		for reason, v := range map[string]uint64{"address": n.RefusedPerIP, "total": n.RefusedTotal, "idle": n.IdleClosed, "fair_share": n.FairClosed, "file": n.RefusedFile} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), name, reason)
		}
	}
}

// registerMetrics registers a mirror's metrics: the seeder's, as a
// publisher's, and how its sync from the primary stands, so a scraper can
// alert on a mirror that fell behind (its catalog is the primary's as of
// the last sync) or holds fewer archives than its catalog lists
// (distpac_packages above distpac_seeding_torrents).
func (m *mirror) registerMetrics(reg *prometheus.Registry) {
	registerSeederMetrics(reg, m.status, func() map[swarm.InfoHash]string {
		m.mu.Lock()
		defer m.mu.Unlock()
		names := make(map[swarm.InfoHash]string, len(m.seeding))
		for ih, p := range m.seeding {
			names[ih] = p.ID()
		}
		return names
	}, m.engine)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distpac_mirror_synced_timestamp_seconds",
		Help: "Unix time of the mirror's last sync from its primary that succeeded (0: none yet, in this run or an earlier one)."},
		func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.sync.ok.IsZero() {
				return 0
			}
			return float64(m.sync.ok.UnixMilli()) / 1e3
		}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distpac_mirror_sync_failing",
		Help: "1 while the mirror's last sync from its primary failed (it serves the catalog it holds), else 0. A primary behind the catalog held has not failed (distpac_mirror_primary_behind)."},
		func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.sync.err != "" {
				return 1
			}
			return 0
		}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distpac_mirror_primary_behind",
		Help: "1 while every primary that answered the mirror's last sync served a catalog older than the one it holds (restored from an older backup, or a mirror not caught up): it serves the catalog it holds, and distpac_mirror_synced_timestamp_seconds does not move; else 0."},
		m.behindGauge))
}

// zeroIfNil is *p, or 0 for nil: a tracker that is off counts nothing.
func zeroIfNil[T int | uint64](p *T) T {
	if p == nil {
		return 0
	}
	return *p
}
