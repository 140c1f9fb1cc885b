package install

// Where a transaction stages, and how it gets a package version ready to
// stage or to run its scripts.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/safedir"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
)

// newWork makes a transaction's work directory on prefix's filesystem: in
// the data home when it is there too, else in the prefix itself. An empty
// prefix means the data home (a removal stages nothing).
func (c *Client) newWork(prefix string) (string, error) {
	root := c.Paths.Staging()
	if prefix != "" {
		// Before the mkdir too: nothing is made in a directory others
		// control (a recorded prefix was not checked before).
		if err := safedir.New().Check("prefix", prefix); err != nil {
			return "", err
		}
		if err := os.MkdirAll(prefix, 0o755); err != nil {
			return "", fmt.Errorf("prefix: %w", err)
		}
		if !sameFS(c.Paths.Dir, prefix) {
			root = filepath.Join(prefix, state.StagingDirName)
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	// Again after the mkdirs: a prefix made now, in a shared directory,
	// could be someone else's by the time it was made.
	if err := checkDirs(root, prefix); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(root, c.txnPrefix())
	if err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	return work, nil
}

// checkDirs refuses a staging root or prefix another user can change
// (safedir): what moves into the prefix, as this user, goes where they say.
func checkDirs(root, prefix string) error {
	c := safedir.New()
	if prefix != "" {
		if err := c.Check("prefix", prefix); err != nil {
			return err
		}
	}
	role := "data directory"
	if prefix != "" && filepath.Dir(root) == prefix {
		role = "prefix"
	}
	return c.Check(role, root)
}

func sameFS(a, b string) bool {
	da, oka := fsutil.Device(a)
	db, okb := fsutil.Device(b)
	return oka && okb && da == db
}

func (c *Client) stageOptions(name, version string, w *stage.Watch) stage.Options {
	return stage.Options{
		Name: name, Version: version, Prefix: c.Config.Prefix, Out: c.UI.ScriptOutput(), Log: c.scriptLog(),
		Watch: w, ScriptTimeout: c.ScriptTimeout,
	}
}

// newWatch watches prefix for files scripts write straight into it,
// skipping the data home and the staging areas.
func (c *Client) newWatch(prefix string) *stage.Watch {
	return &stage.Watch{Prefix: prefix, Exclude: append([]string{filepath.Dir(c.Paths.Dir)}, c.stagingRoots()...)}
}

// extract streams the archive of row into dir, from the cache or as it
// arrives (fetch.Arriving), checking its SHA-256 in the same read. A cached
// archive that fails the check, or that is gone since the plan found it
// cached (a daemon's cache_max_size trimmed it when another archive of the
// plan came in, or dist-client clean ran), is downloaded again, once.
func (r *run) extract(ctx context.Context, row catalog.Package, dir string) (*archive.Digests, error) {
	a := stage.Archive{Path: filepath.Join(r.c.Paths.Cache(), row.Archive), Size: row.Size, SHA256: row.SHA256, MaxInstalled: row.InstalledSize, Digests: true}
	var digests *archive.Digests
	err := r.c.step("extract " + row.Archive)
	if err == nil {
		start := time.Now()
		complete := r.fetch.Complete(row.Archive)
		if complete {
			digests, err = stage.Extract(ctx, a, dir)
		} else {
			digests, err = r.extractArriving(ctx, row, a, dir)
		}
		if err == nil {
			r.c.logger().Debug("extracted", "archive", row.Archive, "to", dir, "as_it_arrived", !complete, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	if err == nil {
		return digests, nil
	}
	if ctx.Err() != nil || r.fetch.Failure() != nil {
		return nil, err // the command or the download ended: nothing to fetch again
	}
	switch _, serr := os.Lstat(a.Path); {
	case errors.Is(err, stage.ErrCorrupt):
		r.c.UI.Warnf("%v; downloading it again\n", err)
		os.Remove(a.Path)
	case errors.Is(serr, fs.ErrNotExist):
		r.c.UI.Warnf("%s: no longer in the cache (removed while this command ran); downloading it again\n", a.Path)
	default:
		return nil, err
	}
	if err := r.fetch.Again(ctx, row); err != nil {
		return nil, err
	}
	r.tx.downloaded += row.Size
	return stage.Extract(ctx, a, dir)
}

// extractArriving unpacks an archive as it downloads (fetch.Arriving). When
// that fails for any reason but the command's end or the download's
// failure, it waits for the whole archive and unpacks it again from the
// cache, as it would have without streaming.
func (r *run) extractArriving(ctx context.Context, row catalog.Package, a stage.Archive, dir string) (*archive.Digests, error) {
	src := r.fetch.Arriving(ctx, row.Archive, a.Path, a.Size)
	digests, err := stage.ExtractArriving(ctx, src, a, dir)
	src.Close()
	if err == nil || ctx.Err() != nil {
		return digests, err
	}
	if werr := r.fetch.Wait(ctx, row.Archive); werr != nil {
		return nil, werr
	}
	r.c.logger().Debug("unpacking the archive as it arrived failed; unpacking the complete archive", "archive", row.Archive, "err", err)
	return stage.Extract(ctx, a, dir)
}

// unpack makes an installed version's package available to run its
// scripts: extracted from the cached archive (checked), or the extracted
// copy an older dist-client kept in pkgs/.
func (c *Client) unpack(ctx context.Context, rec state.Record, dir string) (string, error) {
	path := filepath.Join(c.Paths.Cache(), rec.Archive)
	fi, err := os.Stat(path)
	if err == nil {
		a := stage.Archive{Path: path, Size: fi.Size(), SHA256: rec.SHA256, MaxInstalled: rec.Size}
		_, err = stage.Extract(ctx, a, dir)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, stage.ErrCorrupt) {
			return "", err
		}
	}
	// Name and version are validated, so this stays inside pkgs/.
	legacy := filepath.Join(c.Paths.Packages(), rec.Name+"-"+rec.Version)
	if fi, lerr := os.Stat(filepath.Join(legacy, "scripts")); lerr == nil && fi.IsDir() {
		return legacy, nil
	}
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("%s %s: cached archive: %w", rec.Name, rec.Version, err)
	}
	return "", fmt.Errorf("%s %s: its archive %s is not in the cache (removed outside dist-client?), so its scripts cannot run", rec.Name, rec.Version, path)
}

// runScript runs an installed version's script with its recorded prefix.
// started, when set, is told its process group before it runs, and mark
// is where its process marks its start (script.Env.Started, Mark).
func (c *Client) runScript(ctx context.Context, name string, rec state.Record, pkgDir, destDir string, started func(script.Group) (string, error), mark *os.File) error {
	env := script.Env{Name: rec.Name, Version: rec.Version, PkgDir: pkgDir, Prefix: rec.Prefix, DestDir: destDir, Timeout: c.ScriptTimeout, Log: c.scriptLog(), Started: started, Mark: mark}
	return script.Run(ctx, name, env, c.UI.ScriptOutput())
}

// scriptLog is where every script's output is kept, shown or not (-q):
// one Log for the Client, so that a log it cannot write is warned of once.
// Scripts run one at a time, from the goroutine of the command.
func (c *Client) scriptLog() *script.Log {
	if c.scripts == nil {
		c.scripts = &script.Log{Path: c.Paths.ScriptLog(), Warn: c.UI.Warnf}
	}
	return c.scripts
}
