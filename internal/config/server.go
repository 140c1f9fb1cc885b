package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"

	"time"

	"github.com/distpac/distpac/internal/units"
)

// Server is server.yaml: where dist-server listens and how it presents
// itself to clients. Every key is optional; ApplyDefaults fills the gaps.
type Server struct {
	// AnnounceURL is the tracker URL written into every torrent, as clients
	// will reach it. Default: http://127.0.0.1:<port of TrackerAddr>/announce,
	// which only suits a single machine; set it when clients are elsewhere
	// or when an external HTTP tracker (opentracker) is used.
	AnnounceURL string `yaml:"announce_url"`

	// AnnounceURLs lists several trackers instead of AnnounceURL (set one
	// or the other): each becomes a tier of its own in the torrents'
	// announce-list (BEP 12), in this order, so every client announces to
	// the first that answers and the others are backups. Trackers returns
	// the list in force.
	AnnounceURLs []string `yaml:"announce_urls"`

	// TrackerWhitelist, when set, is a file that every publication
	// rewrites atomically with the infohashes of the catalog, in hex, one
	// a line: the whitelist (-w FILE) of an opentracker that replaces the
	// embedded tracker (it reads it again on SIGHUP). An absolute path.
	TrackerWhitelist string `yaml:"tracker_whitelist"`

	// PublicURL is the base URL clients use for the catalog and, with
	// WebSeed, for the archives. Default: http://127.0.0.1:<port of
	// DatabaseAddr>. A trailing slash is dropped so paths join cleanly.
	PublicURL string `yaml:"public_url"`

	// DatabaseAddr is the host:port the catalog HTTP server listens on.
	DatabaseAddr string `yaml:"database_addr"`

	// TrackerAddr is the host:port the embedded tracker listens on.
	TrackerAddr string `yaml:"tracker_addr"`

	// PeerAddr is the host:port the BitTorrent seeder listens on.
	PeerAddr string `yaml:"peer_addr"`

	// UploadRateLimit caps the upload of the seeder and the web seed
	// (/packages/) together, in bytes per second (e.g. "10MiB"); zero or
	// empty means unlimited.
	UploadRateLimit units.Size `yaml:"upload_rate_limit"`

	// WebSeed makes torrents carry PublicURL as a BEP 19 web seed, so
	// clients fall back to HTTP when no peer has a piece.
	WebSeed bool `yaml:"web_seed"`

	// OpenTracker makes the embedded tracker serve any infohash. By default
	// it serves only the catalog's packages (opentracker's whitelist mode),
	// so strangers cannot use it for their own swarms.
	OpenTracker bool `yaml:"open_tracker"`

	// MetricsAddr, when set, is the host:port where GET /metrics is served
	// instead of on the public catalog port (e.g. "10.0.0.5:9100"). When
	// empty, the catalog port answers /metrics to loopback clients only.
	MetricsAddr string `yaml:"metrics_addr"`

	// CatalogValidFor is how long each signed catalog is valid (its
	// valid_until, as apt's Valid-Until): clients refuse a catalog past it,
	// so a stale mirror or a man in the middle cannot replay an old one
	// forever. A running server re-signs the catalog when less than half
	// of it is left. Default: 7 days.
	CatalogValidFor Duration `yaml:"catalog_valid_for"`

	// lines is the line of each key the file LoadServer read sets, for
	// the mistakes and warnings said after it (KeyMistake, Where).
	lines map[string]int
}

// Server defaults (DESIGN.md §2).
const (
	DefaultDatabaseAddr = ":9090"
	DefaultTrackerAddr  = ":6969"
	DefaultServerPeer   = ":6881"

	DefaultCatalogValidFor = 7 * 24 * time.Hour
	// MinCatalogValidFor: validity stamps have second precision and the
	// server re-signs at half time, so under 2s there is no half to wait.
	MinCatalogValidFor = 2 * time.Second
	// MaxCatalogValidFor: a year. A longer validity protects from nothing.
	MaxCatalogValidFor = 366 * 24 * time.Hour
)

// LoadServer reads server.yaml at path, applies defaults and validates. A
// missing file is fine when optional is set (the default location, which a
// fresh install lacks) and an error otherwise (a path given with --config).
// Errors name the file and the key.
func LoadServer(path string, optional bool) (*Server, error) {
	s := &Server{}
	var p problems
	if err := load(path, optional, s, &p); err != nil {
		return nil, err
	}
	s.ApplyDefaults()
	s.check(&p)
	if err := p.err(sourceName(path)); err != nil {
		return nil, err
	}
	s.lines = p.lines
	return s, nil
}

// KeyMistake is err as the mistake of key in the file s was read from,
// named source, said as LoadServer says one: "FILE:LINE: key "x": ...",
// for a mistake that shows only later (tracker_whitelist's directory, at
// add time). Without the line when the file does not set key.
func (s *Server) KeyMistake(source, key string, err error) error {
	p := problems{lines: s.lines}
	p.key(key, err)
	return p.err(source)
}

// Where is where the file s was read from, named source, sets key:
// "FILE:LINE", or FILE when it does not, for a warning about the key.
func (s *Server) Where(source, key string) string {
	if line := s.lines[key]; line > 0 {
		return fmt.Sprintf("%s:%d", source, line)
	}
	return source
}

// ApplyDefaults fills every empty field. The URLs are derived from the
// addresses after those have their defaults, so changing tracker_addr alone
// also moves the default announce_url.
func (s *Server) ApplyDefaults() {
	if s.DatabaseAddr == "" {
		s.DatabaseAddr = DefaultDatabaseAddr
	}
	if s.TrackerAddr == "" {
		s.TrackerAddr = DefaultTrackerAddr
	}
	if s.PeerAddr == "" {
		s.PeerAddr = DefaultServerPeer
	}
	if s.CatalogValidFor == 0 {
		s.CatalogValidFor = Duration(DefaultCatalogValidFor)
	}
	if s.AnnounceURL == "" && len(s.AnnounceURLs) == 0 {
		if hp, ok := localHostPort(s.TrackerAddr); ok && checkAddr(s.TrackerAddr) == nil {
			s.AnnounceURL = "http://" + hp + "/announce"
		}
	}
	if s.PublicURL == "" {
		if hp, ok := localHostPort(s.DatabaseAddr); ok && checkAddr(s.DatabaseAddr) == nil {
			s.PublicURL = "http://" + hp
		}
	}
	s.PublicURL = trimSlash(s.PublicURL)
}

// Validate reports every field that cannot work, each naming its key
// (Mistakes).
func (s *Server) Validate() error {
	var p problems
	s.check(&p)
	return p.err("")
}

// check adds to p each field that cannot work.
func (s *Server) check(p *problems) {
	for _, a := range []struct{ key, val string }{
		{"database_addr", s.DatabaseAddr},
		{"tracker_addr", s.TrackerAddr},
		{"peer_addr", s.PeerAddr},
		{"metrics_addr", s.MetricsAddr},
	} {
		if a.val == "" && a.key == "metrics_addr" {
			continue
		}
		if err := checkAddr(a.val); err != nil {
			p.key(a.key, err)
		}
	}
	// Only HTTP trackers: distpac announces with its own hardened client
	// (internal/trackerclient), which speaks BEP 3 over HTTP; opentracker
	// and other trackers answer HTTP as well as UDP.
	if s.AnnounceURL != "" && len(s.AnnounceURLs) > 0 {
		p.both("announce_url", "announce_urls", fmt.Errorf("keys %q and %q are both set: keep one (%s lists every tracker, the first tried first)", "announce_url", "announce_urls", "announce_urls"))
	}
	// An empty announce_url or public_url is one ApplyDefaults could not
	// derive, from a tracker_addr or database_addr whose mistake is said.
	if len(s.AnnounceURLs) == 0 && s.AnnounceURL != "" {
		if err := cmp.Or(checkURL(s.AnnounceURL, "http", "https"), checkPublished(s.AnnounceURL, "announce_url")); err != nil {
			p.key("announce_url", err)
		}
	}
	if err := checkURLList(s.AnnounceURLs, MaxTrackers); err != nil {
		p.key("announce_urls", err)
	}
	for i, u := range s.AnnounceURLs {
		if err := checkPublished(u, "announce_urls"); err != nil {
			p.key("announce_urls", fmt.Errorf("entry %d: %w", i+1, err))
		}
	}
	if s.TrackerWhitelist != "" && !filepath.IsAbs(s.TrackerWhitelist) {
		p.key("tracker_whitelist", fmt.Errorf("want an absolute path, got %q", s.TrackerWhitelist))
	}
	if s.PublicURL != "" {
		p.key("public_url", cmp.Or(checkURL(s.PublicURL, "http", "https"), CheckBaseURL(s.PublicURL), checkPublished(s.PublicURL, "public_url")))
	}
	if err := s.UploadRateLimit.Validate(); err != nil {
		p.key("upload_rate_limit", err)
	}
	if d := time.Duration(s.CatalogValidFor); d < MinCatalogValidFor || d > MaxCatalogValidFor {
		p.key("catalog_valid_for", fmt.Errorf("%s is out of range: want from %s to %s",
			writtenDuration(d), writtenDuration(MinCatalogValidFor), writtenDuration(MaxCatalogValidFor)))
	}
}

// MaxTrackers bounds announce_urls: a client tries them in turn, and a
// dead one costs it seconds.
const MaxTrackers = 8

// Trackers returns the announce URLs written into torrents, in order:
// announce_urls, or announce_url alone.
func (s *Server) Trackers() []string {
	if len(s.AnnounceURLs) > 0 {
		return s.AnnounceURLs
	}
	return []string{s.AnnounceURL}
}

// localHostPort turns a listen address into one a local client can dial:
// an unspecified host (all interfaces) becomes 127.0.0.1.
func localHostPort(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), true
}

// sourceName names where a configuration came from in an error.
func sourceName(path string) string {
	if path == "" {
		return "default configuration"
	}
	return path
}

// SeederAddr is the address clients reach the seeder at: the peer_addr
// host when it names one, else the public URL's host (resolved when it is a
// name), else 127.0.0.1; with peer_addr's port. ok is false when that port
// is 0 (a random port is not known before the server starts).
func (s *Server) SeederAddr() (addr netip.AddrPort, ok bool) {
	_, portText, err := net.SplitHostPort(s.PeerAddr)
	if err != nil {
		return addr, false
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return addr, false
	}
	return netip.AddrPortFrom(s.SeederIP(), uint16(port)), true
}

// SeederIP is the host part of SeederAddr.
func (s *Server) SeederIP() netip.Addr {
	if host, _, err := net.SplitHostPort(s.PeerAddr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			return a.Unmap()
		}
	}
	if u, err := url.Parse(s.PublicURL); err == nil {
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && !a.IsUnspecified() {
			return a.Unmap()
		}
		if ips, err := net.LookupIP(u.Hostname()); err == nil {
			for _, ip := range ips {
				if a, ok := netip.AddrFromSlice(ip.To4()); ok {
					return a
				}
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// AnnouncePathWarnings names each http(s) tracker URL of announce_url or
// announce_urls whose path is empty or "/": the embedded tracker answers
// announces at /announce only, and so do opentracker (any path starting
// with "a"), chihaya, qBittorrent's and webtorrent's bittorrent-tracker;
// at "/" they answer 404 or nothing a client reads as a tracker's reply.
// It warns rather than refuses: a tracker may answer at a path of its own
// (private trackers' /announce.php, /PASSKEY/announce), and "/" is a
// route like any other to a tracker behind a proxy. A newcomer's
// announce_url of http://127.0.0.1:19169 went into every torrent, and
// every client's announce was a 404. Each warning starts with where
// source, the file s was read from, sets the key (Where).
func (s *Server) AnnouncePathWarnings(source string) []string {
	var warns []string
	for i, t := range s.Trackers() {
		u, err := url.Parse(t)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Path != "" && u.Path != "/" {
			continue
		}
		key, what := "announce_url", "announce_url"
		if len(s.AnnounceURLs) > 0 {
			key, what = "announce_urls", fmt.Sprintf("announce_urls entry %d", i+1)
		}
		fixed := *u
		fixed.Path = "/announce"
		warns = append(warns, fmt.Sprintf("%s: %s %q has no path: trackers answer announces at /announce (the embedded one and opentracker do), and at / they answer 404; set %s, unless your tracker answers at %s",
			s.Where(source, key), what, t, fixed.String(), t))
	}
	return warns
}
