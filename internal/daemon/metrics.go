package daemon

// The daemon's Prometheus metrics: downloads by result and the torrents of
// its engine.

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/distpac/distpac/internal/swarm"
)

// metrics are the daemon's Prometheus metrics.
type metrics struct {
	reg       *prometheus.Registry
	downloads *prometheus.CounterVec
	bytes     *prometheus.CounterVec
}

func newMetrics(engine *swarm.Engine) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.downloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "distpac_client_downloads_total",
		Help: "Archives the daemon downloaded for installs, by result.",
	}, []string{"result"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "distpac_client_download_bytes_total",
		Help: "Payload bytes of completed downloads, by source (seeder, mirrors, peers, web_seed).",
	}, []string{"source"})
	m.reg.MustRegister(m.downloads, m.bytes,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_client_uploaded_bytes_total", Help: "Payload bytes the daemon's engine sent to peers."},
			func() float64 { return float64(engine.Stats().Uploaded) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_client_received_bytes_total", Help: "Payload bytes the daemon's engine received (peers and web seeds)."},
			func() float64 { return float64(engine.Stats().Downloaded) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distpac_client_peers", Help: "Peers connected, summed over torrents."},
			func() float64 { return float64(engine.Stats().Peers) }),
		newTorrentsCollector(engine),
	)
	// The counters with labels exist from the start, at 0.
	for _, r := range []string{"ok", "failed"} {
		m.downloads.WithLabelValues(r)
	}
	for _, s := range []string{"seeder", "mirrors", "peers", "web_seed"} {
		m.bytes.WithLabelValues(s)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) downloaded(rs []Report) {
	for _, r := range rs {
		m.downloads.WithLabelValues("ok").Inc()
		m.bytes.WithLabelValues("seeder").Add(float64(r.FromSeeder))
		m.bytes.WithLabelValues("mirrors").Add(float64(r.FromMirrors))
		m.bytes.WithLabelValues("peers").Add(float64(r.FromPeers))
		m.bytes.WithLabelValues("web_seed").Add(float64(r.FromWebSeed))
	}
}

func (m *metrics) failed(error) { m.downloads.WithLabelValues("failed").Inc() }

// torrentsCollector reports the torrents by state.
type torrentsCollector struct {
	engine *swarm.Engine
	desc   *prometheus.Desc
}

func newTorrentsCollector(engine *swarm.Engine) *torrentsCollector {
	return &torrentsCollector{engine: engine, desc: prometheus.NewDesc("distpac_client_torrents", "Torrents in the daemon's engine, by state.", []string{"state"}, nil)}
}

func (c *torrentsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *torrentsCollector) Collect(ch chan<- prometheus.Metric) {
	n := map[string]int{"downloading": 0, "seeding": 0}
	for _, t := range c.engine.Torrents() {
		n[t.State]++
	}
	for state, v := range n {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), state)
	}
}
