package servercli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/units"
)

type addOptions struct{ json bool }

func newAdd(e *env) *cobra.Command {
	var o addOptions
	c := &cobra.Command{
		Use:        "add PATH...",
		SuggestFor: []string{"publish", "upload"}, // apt, pacman and dnf words
		Short:      "Publish package directories (all or nothing)",
		Long: `add checks every package directory given (manifest.yaml, assets/ and the optional
scripts/install.sh and scripts/uninstall.sh, which must parse with /bin/sh -n; a near
miss of assets/ or scripts/ beside them, such as script/, is refused), then builds a
reproducible NAME-VERSION.tar.zst and its torrent for each, records them in the
catalog in one transaction and publishes a new signed catalog, under a serial at least
its UTC time as YYYYMMDDhhmmss (a data home restored from a backup thus publishes past
every serial its mirrors and clients hold, if its clock is not behind; dist-server
republish --past SERIAL goes past one they hold otherwise). If any directory is bad,
nothing is published, and every problem found in it is named, one a line (up to 20,
then how many more); a manifest whose depends or conflicts names the package itself,
or holds a constraint no version can ever meet (lib >=2, <1), is bad, and so is a path
over 4095 bytes, a name over 255, a depth over 128 levels or more than 1,000,000
entries (the bounds install holds archives to). Adding the same content again changes
nothing; different content under a published name and version is refused. So is any
add while catalog.db, edited by hand, fails the check clients run at sync: the error
names the row and field.
A running server seeds new packages at once: add returns when it serves the new
catalog. Interrupted during that wait, add has published the packages all the same
(the catalog is committed); dist-server status shows the serial the server serves.

add warns (and still publishes) when a dependency is satisfied by no version published
or added with it, since clients cannot install the package until one is, when a
directory's name ends in a -VERSION other than the manifest's version, when scripts/
holds other files than those two (shipped for them to use, never run), when the
directory holds anything else beside manifest.yaml, assets/ and scripts/ (left out of
the archive), and when the torrents announce to this machine's loopback address
while there is no server.yaml, or one whose tracker_addr, database_addr or peer_addr
listens beyond loopback (set announce_url and public_url: the tracker URL is written
into each torrent when it is added), and when announce_url has no path (trackers
answer at /announce).`,
		Example: `  dist-server add ./examples/hello ./examples/libgreet`,
		Args:    cli.MinArgs(1, "package directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdd(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: cli.DirCompletion,
	}
	c.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	return c
}

func runAdd(ctx context.Context, e *env, o addOptions, dirs []string) error {
	cfg, sp, err := e.config()
	if err != nil {
		return err
	}
	if err := refuseInMirrorHome(sp, "add", "run dist-server add on the primary (the mirror follows its catalog)"); err != nil {
		return err
	}
	p := e.publisher(cfg, sp, "another add or remove is running; waiting for it...")
	results, err := p.Add(ctx, dirs)
	if err != nil {
		return unpublishable(err)
	}
	if err := printAdded(e, o, results); err != nil {
		return err
	}
	// Warnings come after what was published, where they are read.
	for _, w := range addWarnings(ctx, sp, results) {
		e.UI.Warnf("%s\n", w)
	}
	if path, exists := e.configFile(); path != "" {
		if w := loopbackWarning(path, exists, cfg, results); w != "" {
			e.UI.Warnf("%s\n", w)
		}
		for _, w := range announcePathWarnings(path, cfg, results) {
			e.UI.Warnf("%s\n", w)
		}
	}
	if w := portZeroWarning(cfg, results); w != "" {
		e.UI.Warnf("%s\n", w)
	}
	return waitServed(ctx, e, sp, "the packages above are published")
}

func printAdded(e *env, o addOptions, results []publish.Result) error {
	if o.json {
		type row struct {
			Name     string `json:"name"`
			Version  string `json:"version"`
			Archive  string `json:"archive"`
			Size     int64  `json:"size"`
			SHA256   string `json:"sha256"`
			InfoHash string `json:"infohash"`
			Added    bool   `json:"added"`
		}
		out := []row{}
		for _, r := range results {
			pk := r.Package
			out = append(out, row{pk.Name, pk.Version, pk.Archive, pk.Size, pk.SHA256, pk.InfoHash, r.Added})
		}
		return e.UI.JSON(out)
	}
	for _, r := range results {
		pk := r.Package
		if r.Added {
			e.UI.Printf("added %s %s (%s, infohash %s)\n", pk.Name, pk.Version, units.FormatBytes(pk.Size), pk.InfoHash)
		} else {
			e.UI.Printf("unchanged %s %s (already published with the same content, infohash %s)\n", pk.Name, pk.Version, pk.InfoHash)
		}
	}
	return nil
}
