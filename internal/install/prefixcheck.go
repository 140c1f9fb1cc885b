package install

// Whether another user can change a prefix a command moves files in:
// the configured one and those the records name. Each is checked with
// its staging folder, by CheckPrefix, for every command alike.

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/safedir"
	"github.com/distpac/distpac/internal/state"
)

// CheckPrefix refuses a prefix, or its staging folder, that another user
// can change (safedir): what moves there, as this user, would go where
// they say. It is the one check of a prefix, for clientcli, the plan, the
// removal and the recovery: with the prefix alone, a package recorded
// under another prefix was upgraded, uninstalled and recovered with that
// prefix's staging writable by others, where the configured one was
// refused. A staging folder that does not exist costs nothing more (its
// ancestors are the prefix's).
func CheckPrefix(chk *safedir.Checker, prefix string) error {
	return chk.CheckAll("prefix", prefix, filepath.Join(prefix, state.StagingDirName))
}

// checkJournal refuses to undo or finish an interrupted transaction when
// another user can change a prefix its steps move files in (safedir): the
// renames, as this user, would follow what they put there. The journal
// stays within the configured prefix and the records' (OpenJournal), but
// only the configured one was checked, by clientcli, which now refuses it
// only for the commands that place files (mark and hold recover too); and
// an upgrade of a package recorded under an earlier prefix moves its old
// files aside in that one. The work directory, when it is in a prefix's
// staging, is checked with it (CheckPrefix): the undo renames out of it.
func (c *Client) checkJournal(ctx context.Context, st *state.DB, j state.Journal) error {
	recs, err := st.Records(ctx)
	if err != nil {
		return err
	}
	prefixes := []string{c.Config.Prefix}
	for _, r := range recs {
		prefixes = append(prefixes, r.Prefix)
	}
	chk := safedir.New()
	for _, p := range journalPrefixes(j, prefixes) {
		if err := CheckPrefix(chk, p); err != nil {
			return err
		}
	}
	return nil
}

// journalPrefixes are those of prefixes that the steps of j, and its work
// directory, lie in: for each path the longest that holds it. A path in
// none (the data home's staging) adds nothing.
func journalPrefixes(j state.Journal, prefixes []string) []string {
	var out []string
	add := func(p string) {
		best := ""
		for _, pr := range prefixes {
			pr = filepath.Clean(pr)
			if (p == pr || strings.HasPrefix(p, pr+string(filepath.Separator)) || pr == string(filepath.Separator)) && len(pr) > len(best) {
				best = pr
			}
		}
		if best != "" && !slices.Contains(out, best) {
			out = append(out, best)
		}
	}
	add(filepath.Clean(j.Work))
	for _, op := range j.Ops {
		add(filepath.Clean(op.Src))
		add(filepath.Clean(op.Dst))
	}
	return out
}

// checkPlacing refuses a plan when another user can change the prefix its
// versions go to, or one that the installed versions they replace were
// recorded in: an upgrade runs the old version's uninstall.sh with that
// prefix and moves its files aside there, renames that, as this user,
// would follow what the other user put there. A package keeps the prefix
// it was installed to when the configuration changes; only the configured
// one was checked (clientcli), and the upgrade of a package recorded
// under another went unchecked (a review). Checked before anything is
// downloaded or run, and for a dry run as for the real one.
func (c *Client) checkPlacing(recs *state.State, items []item) error {
	chk := safedir.New()
	if err := CheckPrefix(chk, c.Config.Prefix); err != nil {
		return err
	}
	for _, it := range items {
		if old, ok := recs.Get(it.row.Name); ok {
			if err := CheckPrefix(chk, old.Prefix); err != nil {
				return fmt.Errorf("%s %s was installed to %s: %w", old.Name, old.Version, old.Prefix, err)
			}
		}
	}
	return nil
}

// checkPrefixes refuses the removal of recs when another user can change
// a prefix they were installed to (safedir): the files go from where they
// were recorded, which may not be the prefix the command checked
// (clientcli).
func checkPrefixes(recs []state.Record) error {
	chk := safedir.New()
	for _, r := range recs {
		if err := CheckPrefix(chk, r.Prefix); err != nil {
			return fmt.Errorf("uninstall %s %s: %w", r.Name, r.Version, err)
		}
	}
	return nil
}
