package servercli

// Warnings about what the published torrents carry: both their trackers
// and web seed are written into a torrent at add time (the infohash does
// not cover them, the signed catalog does), so they stay as they were made
// whatever server.yaml says now, until the package is removed and added
// again.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/ui"
)

// publishedTorrents sorts the working catalog's packages by what their
// torrents carry. credentials are those whose tracker or web seed URLs
// hold a user or password (example the first such URL, masked), which an
// older dist-server wrote from a public_url or announce_url holding them
// (server.yaml refuses such URLs now). stale are the others whose
// trackers or web seed are not those server.yaml names now: a web_seed
// turned on later does nothing for packages added before. Nothing when
// the catalog cannot be read (start and status report that themselves).
func publishedTorrents(ctx context.Context, cfg *config.Server, sp paths.Server) (stale, credentials []string, example string) {
	db, err := catalog.Open(ctx, sp.Catalog())
	if err != nil {
		return nil, nil, ""
	}
	defer db.Close()
	pkgs, err := db.All(ctx)
	if err != nil {
		return nil, nil, ""
	}
	webSeed := ""
	if cfg.WebSeed {
		webSeed = publish.WebSeedURL(cfg)
	}
	for _, p := range pkgs {
		mi, _, err := torrentmeta.Parse(p.Torrent, p.Archive, p.Size)
		if err != nil {
			continue
		}
		if urls := torrentmeta.Credentials(mi); len(urls) > 0 {
			if example == "" {
				example = urls[0]
			}
			credentials = append(credentials, p.ID())
			continue
		}
		hasSeed := webSeed == "" && len(mi.UrlList) == 0 || webSeed != "" && slices.Contains(mi.UrlList, webSeed)
		if !slices.Equal(slices.Concat(mi.UpvertedAnnounceList()...), cfg.Trackers()) || !hasSeed {
			stale = append(stale, p.ID())
		}
	}
	return stale, credentials, example
}

// warnTorrents says, at start, which published torrents carry a user or
// password and which another tracker or web seed than server.yaml names.
func warnTorrents(ctx context.Context, e *env, cfg *config.Server, sp paths.Server) {
	stale, credentials, example := publishedTorrents(ctx, cfg, sp)
	warnCredentials(e, credentials, example)
	if len(stale) > 0 {
		e.UI.Warnf("%s with another tracker or web seed than server.yaml names now (%s): these are written at add time; dist-server remove and add them again to change it\n",
			ui.Count(len(stale), "published package"), firstFew(stale))
	}
}

// warnCredentials says which published torrents carry a user or password
// (example: one of their URLs, masked): every client reads a torrent's
// trackers and web seeds, and anyone a torrent or magnet link is given to.
func warnCredentials(e *env, credentials []string, example string) {
	if len(credentials) == 0 {
		return
	}
	e.UI.Warnf("%s with a user or password in a torrent's tracker or web seed URL (%s; %s), written by an older dist-server from public_url or announce_url: every client can read them; dist-server remove and add them again to publish them without, and change that password\n",
		ui.Count(len(credentials), "published package"), firstFew(credentials), example)
}

// firstFew lists the first five of names, and how many more there are.
func firstFew(names []string) string {
	if len(names) > 5 {
		names = append(names[:5:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(names, ", ")
}
