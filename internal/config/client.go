package config

import (
	"cmp"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distpac/distpac/internal/units"
)

// Client is client.yaml: which server dist-client trusts and how it moves
// bytes. Every key is optional; ApplyDefaults fills the gaps.
type Client struct {
	// ServerURL is the server's public_url: the catalog is fetched from
	// <ServerURL>/packages.db. A trailing slash is dropped.
	ServerURL string `yaml:"server_url"`

	// ServerURLs lists servers that serve the same signed catalog (the
	// publisher's and its mirrors, static ones too), tried in order: sync
	// takes the catalog from the first that gives a valid one, and each is
	// a web seed (<URL>/packages/) for torrents that name one. Set it or
	// ServerURL, not both. Servers returns the list in force.
	ServerURLs []string `yaml:"server_urls"`

	// ServerKey is the server's ed25519 public key in standard base64,
	// optionally prefixed "ed25519:" (as `dist-server key` prints it). Empty
	// means trust on first use: the first sync pins the key it sees.
	ServerKey string `yaml:"server_key"`

	// Prefix is where install scripts install to (DISTPAC_PREFIX). A
	// leading "~/" is expanded against $HOME when the file is loaded.
	Prefix string `yaml:"prefix"`

	// PeerAddr is the host:port the client's BitTorrent engine listens on.
	// The default ":0" takes any free port: the tracker tells peers which
	// one, and two clients on one machine never collide.
	PeerAddr string `yaml:"peer_addr"`

	// UploadRateLimit and DownloadRateLimit cap the client's BitTorrent
	// traffic in bytes per second (e.g. "2MiB"); zero or empty = unlimited.
	UploadRateLimit   units.Size `yaml:"upload_rate_limit"`
	DownloadRateLimit units.Size `yaml:"download_rate_limit"`

	// Seed says which archives `dist-client daemon` shares: "cached" (every
	// cached archive the catalog lists; the default), "installed" (only
	// those of installed packages) or "none" (it downloads for installs
	// and shares nothing once they are done).
	Seed string `yaml:"seed"`

	// SeedRatioLimit stops seeding an archive once the daemon has uploaded
	// this many times its size; 0 (the default) means no limit.
	SeedRatioLimit float64 `yaml:"seed_ratio_limit"`

	// SeedTimeLimit stops seeding an archive after it has been seeded this
	// long ("72h", "7d"); empty or 0 means no limit.
	SeedTimeLimit Duration `yaml:"seed_time_limit"`

	// CacheMaxSize bounds the archive cache: `clean` (and the daemon after
	// a download) removes the least recently used archives of packages
	// that are not installed until the cache fits. Empty or 0: no bound.
	CacheMaxSize units.Size `yaml:"cache_max_size"`

	// MetricsAddr, when set, is a host:port where the daemon serves
	// Prometheus metrics at /metrics (it always serves them over its
	// socket too).
	MetricsAddr string `yaml:"metrics_addr"`
}

// Seeding policies (Client.Seed).
const (
	SeedCached    = "cached"
	SeedInstalled = "installed"
	SeedNone      = "none"
)

// Client defaults (DESIGN.md §2).
const (
	DefaultServerURL  = "http://127.0.0.1:9090"
	DefaultPrefix     = "~/.local"
	DefaultClientPeer = ":0"
)

// serverKeyPrefix is the optional label in front of a base64 server key.
const serverKeyPrefix = "ed25519:"

// LoadClient reads client.yaml at path, applies defaults, expands "~/" in
// prefix against $HOME and validates. A missing file is fine when optional
// is set and an error otherwise (a path given with --config). Errors name
// the file and the key.
func LoadClient(path string, optional bool) (*Client, error) {
	c := &Client{}
	var p problems
	if err := load(path, optional, c, &p); err != nil {
		return nil, err
	}
	c.ApplyDefaults()
	home, _ := os.UserHomeDir() // "" is reported by ExpandPrefix when needed
	if err := c.ExpandPrefix(home); err != nil {
		p.key("prefix", err)
	}
	c.check(&p)
	if err := p.err(sourceName(path)); err != nil {
		return nil, err
	}
	return c, nil
}

// ApplyDefaults fills every empty field. Prefix keeps its "~/" form;
// ExpandPrefix resolves it.
func (c *Client) ApplyDefaults() {
	if c.ServerURL == "" && len(c.ServerURLs) == 0 {
		c.ServerURL = DefaultServerURL
	}
	if c.ServerURL != "" {
		c.ServerURL = trimSlash(c.ServerURL)
	}
	for i, u := range c.ServerURLs {
		c.ServerURLs[i] = trimSlash(u)
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.PeerAddr == "" {
		c.PeerAddr = DefaultClientPeer
	}
	if c.Seed == "" {
		c.Seed = SeedCached
	}
}

// ExpandPrefix replaces a leading "~" or "~/" in Prefix with home. Other
// forms ("~alice/") are left for Validate to refuse. Its error is that of
// the key prefix.
func (c *Client) ExpandPrefix(home string) error {
	if c.Prefix != "~" && !strings.HasPrefix(c.Prefix, "~/") {
		if filepath.IsAbs(c.Prefix) {
			// "/opt/p/" as given: install refused every file, staged
			// "outside $DISTPAC_DESTDIR$DISTPAC_PREFIX (/opt/p/)" (a review).
			c.Prefix = filepath.Clean(c.Prefix)
		}
		return nil
	}
	if home == "" {
		// A root service has no HOME (systemd gives it none): the error
		// says what to write, the default being no key in the file at all.
		what := fmt.Sprintf("%q", c.Prefix)
		if c.Prefix == DefaultPrefix {
			what += " (the default when the file sets none)"
		}
		return fmt.Errorf("cannot expand %s: $HOME is not set; set prefix to an absolute path, such as /opt/distpac", what)
	}
	c.Prefix = filepath.Join(home, strings.TrimPrefix(c.Prefix, "~"))
	return nil
}

// Validate reports every field that cannot work, each naming its key
// (Mistakes).
func (c *Client) Validate() error {
	var p problems
	c.check(&p)
	return p.err("")
}

// check adds to p each field that cannot work.
func (c *Client) check(p *problems) {
	if c.ServerURL != "" && len(c.ServerURLs) > 0 {
		p.both("server_url", "server_urls", fmt.Errorf("keys %q and %q are both set: keep one (%s lists every server, tried in order)", "server_url", "server_urls", "server_urls"))
	}
	if len(c.ServerURLs) == 0 {
		if err := cmp.Or(checkURL(c.ServerURL, "http", "https"), CheckBaseURL(c.ServerURL)); err != nil {
			p.key("server_url", err)
		}
	}
	if err := checkURLList(c.ServerURLs, MaxServers); err != nil {
		p.key("server_urls", err)
	}
	for i, u := range c.ServerURLs {
		if err := CheckBaseURL(u); err != nil {
			p.key("server_urls", fmt.Errorf("entry %d: %w", i+1, err))
		}
	}
	if _, err := c.PublicKey(); err != nil {
		p.key("server_key", err)
	}
	if !filepath.IsAbs(c.Prefix) {
		p.key("prefix", fmt.Errorf("want an absolute path or one starting with ~/, got %q", c.Prefix))
	}
	if err := checkAddr(c.PeerAddr); err != nil {
		p.key("peer_addr", err)
	}
	if err := c.UploadRateLimit.Validate(); err != nil {
		p.key("upload_rate_limit", err)
	}
	if err := c.DownloadRateLimit.Validate(); err != nil {
		p.key("download_rate_limit", err)
	}
	switch c.Seed {
	case SeedCached, SeedInstalled, SeedNone:
	default:
		p.key("seed", fmt.Errorf("%q: want %q, %q or %q", c.Seed, SeedInstalled, SeedCached, SeedNone))
	}
	if c.SeedRatioLimit < 0 {
		p.key("seed_ratio_limit", fmt.Errorf("%v: want 0 (no limit) or more", c.SeedRatioLimit))
	}
	if c.SeedTimeLimit < 0 {
		p.key("seed_time_limit", errors.New("want a duration of 0 (no limit) or more"))
	}
	if err := c.CacheMaxSize.Validate(); err != nil {
		p.key("cache_max_size", err)
	}
	if c.MetricsAddr != "" {
		if err := checkAddr(c.MetricsAddr); err != nil {
			p.key("metrics_addr", err)
		}
	}
}

// MaxServers bounds server_urls: each is tried in turn when the ones
// before fail, at a few seconds each.
const MaxServers = 16

// Servers returns the catalog servers in the order to try them:
// server_urls, or server_url alone.
func (c *Client) Servers() []string {
	if len(c.ServerURLs) > 0 {
		return c.ServerURLs
	}
	return []string{c.ServerURL}
}

// PublicKey decodes ServerKey. It returns nil and no error when the key is
// unset (trust on first use).
func (c *Client) PublicKey() (ed25519.PublicKey, error) {
	if c.ServerKey == "" {
		return nil, nil
	}
	return ParseServerKey(c.ServerKey)
}

// ParseServerKey decodes an ed25519 public key written as standard base64,
// optionally prefixed "ed25519:".
func ParseServerKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), serverKeyPrefix))
	if err != nil {
		return nil, errors.New("not an ed25519 public key: want standard base64 (as `dist-server key` prints)")
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not an ed25519 public key: %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}
