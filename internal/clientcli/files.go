package clientcli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/installed"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

func newFiles(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "files NAME",
		Short: "List the files an installed package placed (as pacman -Ql)",
		Long: `files lists every file, directory and symlink the installed package placed, with
absolute paths under the prefix it was installed to. Paths its install.sh wrote straight
into the prefix (outside $DISTPAC_DESTDIR) are not tracked and listed apart.`,
		Example: "  dist-client files hello\n  dist-client files --json hello",
		Args:    installedArgs(1, 1, "installed package name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := e.reader()
			if err != nil {
				return err
			}
			e.warnInterrupted(cmd.Context())
			rec, files, err := in.Files(cmd.Context(), args[0])
			if err != nil {
				return e.withInstalledHint(err, args)
			}
			type fileJSON struct {
				state.File
				Path string `json:"path"`
			}
			if asJSON {
				out := struct {
					Name      string     `json:"name"`
					Version   string     `json:"version"`
					Prefix    string     `json:"prefix"`
					Files     []fileJSON `json:"files"`
					Untracked []string   `json:"untracked"`
					Known     bool       `json:"files_known"`
				}{rec.Name, rec.Version, rec.Prefix, []fileJSON{}, []string{}, rec.FilesKnown}
				for _, f := range files {
					out.Files = append(out.Files, fileJSON{File: f, Path: filepath.Join(rec.Prefix, f.Path)})
				}
				for _, u := range rec.Untracked {
					out.Untracked = append(out.Untracked, filepath.Join(rec.Prefix, u))
				}
				return e.UI.JSON(out)
			}
			if !rec.FilesKnown {
				e.UI.Warnf("%s %s was installed by an older dist-client that recorded no files\n", rec.Name, rec.Version)
			}
			for _, f := range files {
				p := filepath.Join(rec.Prefix, f.Path)
				switch f.Type {
				case state.TypeDir:
					p += "/"
				case state.TypeSymlink:
					p += " -> " + f.Target
				}
				e.UI.Dataf("%s %s\n", rec.Name, p)
			}
			for _, u := range rec.Untracked {
				e.UI.Dataf("%s %s (untracked: written by install.sh straight into the prefix)\n", rec.Name, filepath.Join(rec.Prefix, u))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newOwner(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "owner PATH",
		Short: "Name the installed packages that placed a path (as pacman -Qo)",
		Long: `owner names the installed package that placed PATH, one line per package: a file has one
owner, a directory every package that placed it (share/doc of two packages names both, in
order of name). A path that no longer exists is still looked up (a package's file may have
been deleted since it was placed), and said to be missing.`,
		Example: "  dist-client owner ~/.local/bin/hello",
		Args:    cli.ExactArgs(1, "path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := e.reader()
			if err != nil {
				return err
			}
			e.warnInterrupted(cmd.Context())
			abs, owners, err := in.Owners(cmd.Context(), args[0])
			_, statErr := os.Lstat(abs)
			missing := errors.Is(statErr, fs.ErrNotExist)
			if missing && errors.Is(err, installed.ErrNotOwned) {
				return fmt.Errorf("%s: does not exist, and %w", abs, installed.ErrNotOwned)
			}
			if err != nil {
				return err
			}
			o := owners[0]
			if asJSON {
				all := make([]ownerPkg, len(owners))
				for i, p := range owners {
					all[i] = ownerPkg{p.Name, p.Version}
				}
				return e.UI.JSON(ownerJSON{abs, o.Name, o.Version, string(o.Type), all, missing})
			}
			for _, p := range owners {
				e.UI.Dataf("%s is owned by %s %s\n", abs, p.Name, p.Version)
			}
			if missing {
				e.UI.Warnf("%s does not exist: deleted since %s placed it (dist-client install --reinstall %s places it again)\n", abs, o.Name, o.Name)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// verifyHint is what mends the problems verify found in res, as owner
// says for a deleted file (the error alone left a newcomer with a count
// and no next step): install --reinstall of the packages with a problem
// it mends. A path not checked (its directory another user could swap)
// is not one: install refuses to place it as well, and its line says
// what to do; the hint said to reinstall, which failed the same way.
func verifyHint(res []installed.Verified) string {
	var mend []string
	notChecked := false
	for _, v := range res {
		fixable := false
		for _, p := range v.Problems {
			notChecked = notChecked || p.NotChecked
			fixable = fixable || !p.NotChecked
		}
		if fixable {
			mend = append(mend, v.Name)
		}
	}
	var hint string
	if len(mend) > 0 {
		hint = fmt.Sprintf("dist-client install --reinstall %s places the recorded files again (replacing a file changed on purpose: keep a copy first)", strings.Join(mend, " "))
	}
	if notChecked {
		if hint != "" {
			hint += "; "
		}
		hint += "a path not checked lies under a directory another user can change, where install --reinstall places nothing either: check what is there and move it by hand, as its line says"
	}
	return hint
}

// errVerify is verify finding problems: exit status 1 after the report.
var errVerify = errors.New("verify")

func newVerify(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify [NAME...]",
		Short: "Check installed packages' files against what was recorded (as pacman -Qkk)",
		Long: `verify compares every file, directory and symlink the named packages (all installed
packages without a name) placed with the disk: missing, changed content (size or SHA-256),
changed mode, changed type or symlink target, one line each. Each package's summary counts
its files, symlinks and directories apart, and its problems (of any of them). The exit
status is 1 when anything differs.`,
		Example: "  dist-client verify\n  dist-client verify --json hello",
		Args:    installedArgs(0, -1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := e.reader()
			if err != nil {
				return err
			}
			e.warnInterrupted(cmd.Context())
			res, err := in.Verify(cmd.Context(), args)
			if err != nil {
				return e.withInstalledHint(err, args)
			}
			problems, pkgs := 0, []string{}
			for _, v := range res {
				if len(v.Problems) > 0 {
					problems += len(v.Problems)
					pkgs = append(pkgs, v.Name)
				}
			}
			if asJSON {
				if err := e.UI.JSON(res); err != nil {
					return err
				}
			} else {
				for _, v := range res {
					for _, p := range v.Problems {
						e.UI.Dataf("%s: %s: %s\n", v.Name, p.Path, p.What)
					}
					note := ""
					if v.Unknown {
						note = " (installed by an older dist-client: no files recorded)"
					} else if v.Untracked > 0 {
						note = fmt.Sprintf(" (and %d untracked)", v.Untracked)
					}
					e.UI.Printf("%s %s: %s, %s%s\n", v.Name, v.Version, countPaths(v), ui.Count(len(v.Problems), "problem"), note)
				}
			}
			if problems > 0 {
				return cli.WithHint(fmt.Errorf("%w: %s in %s", errVerify, ui.Count(problems, "problem"), ui.Count(len(pkgs), "package")), verifyHint(res))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// countPaths is what a package placed, by type: "2 files, 1 symlink, 3
// directories"; symlinks and directories only when there are any.
func countPaths(v installed.Verified) string {
	out := ui.Count(v.Files, "file")
	if v.Symlinks > 0 {
		out += ", " + ui.Count(v.Symlinks, "symlink")
	}
	switch {
	case v.Directories == 1:
		out += ", 1 directory"
	case v.Directories > 1:
		out += fmt.Sprintf(", %d directories", v.Directories)
	}
	return out
}

func newHistory(e *env) *cobra.Command {
	var asJSON bool
	var last int
	c := &cobra.Command{
		Use:   "history",
		Short: "Show every install, upgrade, uninstall, hold, unhold and mark, oldest first (as pacman.log)",
		Long: `history lists every transaction (install, upgrade, uninstall, hold, unhold, mark): when
it started, the command (remove, when uninstall was called so) with the options that
change what it does (--reinstall, --overwrite, --skip-uninstall-script, --cascade; not
the output options, nor --sync, whose sync is not a transaction), the packages and
versions before and after (for mark, hold and unhold what changed: "lib 1.0.0 held",
"unheld", "marked explicit", "marked dependency"), the bytes downloaded (an interrupted
command's too, and a killed one's as of its last second), and the result: running (a
command under way now), ok, failed, or interrupted (by Ctrl-C or a signal, whose
downloads are kept to resume; or a process that died, killed with -9 or by a crash,
whose changes the next install, upgrade or uninstall rolls back or finishes). A command
that stopped before it set out to change anything (nothing to do, a name not found or
not installed, a plan refused, a question declined) is not listed, as in pacman.log.
--last N shows the last N only; --json adds each download's transfer report (sources,
peers, time; for an interrupted or failed command also the archives it had not finished,
with what came and what is kept, or "interrupted before any transfer").`,
		Example: `  dist-client history
  dist-client history --last 5
  dist-client history --json --last 1 | jq '.[0].transfer'`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if last < 0 {
				return cli.Usagef("--last %d: want a count of transactions, 1 or more (0: all)", last)
			}
			in, err := e.reader()
			if err != nil {
				return err
			}
			h, err := in.History(cmd.Context(), state.HistoryQuery{Last: last, Transfer: asJSON})
			if err != nil {
				return err
			}
			if asJSON {
				return e.UI.JSON(h)
			}
			if len(h) == 0 {
				e.UI.Printf("no transactions yet\n")
				return nil
			}
			rows := make([][]string, 0, len(h))
			for _, x := range h {
				result := x.Result
				switch line := resultLine(x.Error); {
				case line == "":
				case strings.HasPrefix(line, x.Result+" "):
					result = line // "interrupted by a signal", not "interrupted: interrupted by a signal"
				default:
					result += ": " + line
				}
				// The result last: a failure's message is long.
				rows = append(rows, []string{x.Started.Local().Format(time.DateTime), clipList(strings.Fields(x.Command), " ", historyCellMax),
					describeChanges(x.Changes), units.FormatBytes(x.Downloaded), result})
			}
			return e.UI.Table([]string{"TIME", "COMMAND", "CHANGES", "DOWNLOADED", "RESULT"}, rows)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().IntVarP(&last, "last", "n", 0, "show only the last `N` transactions (0: all)")
	return c
}

// describeChanges is one line: "+libgreet 1.0.0, hello 1.0.0 -> 1.1.0,
// -old 2.0.0", "hello 1.0.0 held", "libgreet 1.0.0 marked dependency".
func describeChanges(changes []state.HistoryChange) string {
	if len(changes) == 0 {
		return "-"
	}
	parts := make([]string, len(changes))
	for i, ch := range changes {
		switch {
		case ch.Mark != "": // mark, hold, unhold: "hello 1.0.0 held"
			parts[i] = ch.Name + " " + ch.Version + " " + ch.Mark
		case ch.From == "":
			parts[i] = "+" + ch.Name + " " + ch.To
		case ch.To == "":
			parts[i] = "-" + ch.Name + " " + ch.From
		default:
			parts[i] = ch.Name + " " + ch.From + " -> " + ch.To
		}
	}
	return clipList(parts, ", ", historyCellMax)
}

// historyCellMax bounds the history table's command and changes cells, in
// bytes: an install of 250 packages made a row of 2,700 characters (an
// attacker's run). --json keeps them whole.
const historyCellMax = 80

// clipList joins items with sep up to about limit bytes and says how many
// more there are: "install p000 p001 … and 248 more".
func clipList(items []string, sep string, limit int) string {
	n := 0
	for i, it := range items {
		if i > 0 && n+len(sep)+len(it) > limit {
			return strings.Join(items[:i], sep) + fmt.Sprintf(" … and %d more", len(items)-i)
		}
		if i > 0 {
			n += len(sep)
		}
		n += len(it)
	}
	return strings.Join(items, sep)
}

// resultLine is an error's first line, for one row; a line that ends in a
// colon (a failed script's "last output (all of it in ...):", its lines
// below) takes the next line too, and says when more follow: the row
// ended in a bare colon.
func resultLine(s string) string {
	line, rest, more := strings.Cut(s, "\n")
	if !more || !strings.HasSuffix(line, ":") {
		return line
	}
	next, rest, more := strings.Cut(rest, "\n")
	line += " " + strings.TrimSpace(next)
	if more && strings.TrimSpace(rest) != "" {
		line += " …"
	}
	return line
}

// ownerJSON is owner --json.
type ownerJSON struct {
	Path    string     `json:"path"`
	Name    string     `json:"name"`    // the first owner by name
	Version string     `json:"version"` // its version
	Type    string     `json:"type"`
	Owners  []ownerPkg `json:"owners"` // every owner by name: several for a shared directory
	Missing bool       `json:"missing"`
}

type ownerPkg struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}
