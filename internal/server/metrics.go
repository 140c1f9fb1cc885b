package server

import (
	"context"

	"github.com/distpac/distpac/internal/swarm"
	"github.com/prometheus/client_golang/prometheus"
)

func (r *runner) registerMetrics(reg *prometheus.Registry) {
	gauge := func(name, help string, f func(Status) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(r.status()) }))
	}
	gauge("distpac_packages", "Package versions in the published catalog.", func(s Status) float64 { return float64(s.Packages) })
	gauge("distpac_seeding_torrents", "Torrents the seeder shares.", func(s Status) float64 { return float64(s.Seeding) })
	gauge("distpac_tracker_peers", "Peers known to the embedded tracker.", func(s Status) float64 { return float64(s.TrackedPeers) })
	gauge("distpac_seeder_connected_peers", "Peers connected to the seeder.", func(s Status) float64 { return float64(s.Connected) })
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_seeder_uploaded_bytes_total", Help: "Payload bytes the seeder sent."},
		func() float64 { return float64(r.status().Uploaded) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_tracker_announces_total", Help: "Announces the embedded tracker received, refused ones included."},
		func() float64 { return float64(r.status().Announces) }))
	r.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "distpac_errors_total", Help: "Failures by component: seeder (a package could not be seeded), reload (the catalog could not be reloaded), publish (the working catalog was not signed: clients would refuse it)."}, []string{"component"})
	for _, c := range []string{"seeder", "reload", "publish"} {
		r.errors.WithLabelValues(c)
	}
	reg.MustRegister(r.errors, &packageCollector{r: r,
		downloads: prometheus.NewDesc("distpac_package_downloads_total", "Completed downloads of each package the tracker was told of (BEP 3 completed events, one per peer it knew as a leecher).", []string{"package"}, nil),
		uploaded:  prometheus.NewDesc("distpac_package_seeder_uploaded_bytes_total", "Payload bytes the seeder sent of each package.", []string{"package"}, nil),
		refused:   prometheus.NewDesc("distpac_tracker_refused_total", "Announces the embedded tracker refused, by reason.", []string{"reason"}, nil),
	})
}

// packageCollector reports per-package and per-reason counters, computed
// at scrape time from the tracker and the seeder.
type packageCollector struct {
	r                            *runner
	downloads, uploaded, refused *prometheus.Desc
}

func (c *packageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.downloads
	ch <- c.uploaded
	ch <- c.refused
}

func (c *packageCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	r.mu.Lock()
	names := r.names
	r.mu.Unlock()
	if r.tracker != nil {
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
	if r.engine != nil {
		for _, t := range r.engine.Torrents() {
			ih, err := swarm.ParseInfoHash(t.InfoHash)
			if name, ok := names[ih]; err == nil && ok {
				ch <- prometheus.MustNewConstMetric(c.uploaded, prometheus.CounterValue, float64(t.Uploaded), name)
			}
		}
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
