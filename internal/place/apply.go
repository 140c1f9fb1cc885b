package place

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/distpac/distpac/internal/state"
)

// Apply does the steps in order, after making the prefixes of the new
// trees. On an error it undoes the steps it did and returns the error,
// which names the path and the OS's reason (a full disk, an I/O error).
// before, when not nil, runs ahead of each step and can fail it (tests
// inject faults and crashes there).
//
// Before it returns, what it moved is on the disk, and so is the content
// of every file that moved in (durable.go): the caller commits the records
// next, and a commit that a loss of power keeps while the moves it
// records are lost, or kept as empty files (ext4 allocates a new file's
// blocks when it writes them back, up to 30 s later, and a rename can
// reach the disk first), would say a package is installed whose files
// are not there. A loss of power before this returns leaves the journal,
// which undoes the moves, whole or not.
func Apply(j state.Journal, prefixes []string, before func(step int) error) error {
	if err := applyN(j, prefixes, len(j.Ops), before); err != nil {
		return err
	}
	if err := durable(j.Ops, prefixes); err != nil {
		return errors.Join(fmt.Errorf("place: %w", err), Undo(j.Ops))
	}
	return nil
}

// applyN does the first n steps.
func applyN(j state.Journal, prefixes []string, n int, hook func(i int) error) error {
	for _, pr := range prefixes {
		if err := os.MkdirAll(pr, 0o755); err != nil {
			return fmt.Errorf("place: %w", err)
		}
	}
	for i, op := range j.Ops[:n] {
		var err error
		if hook != nil {
			err = hook(i)
		}
		if err == nil && op.Kind != state.OpRmdir {
			if got := inode(op.Src); got != op.Ino {
				err = fmt.Errorf("%s changed during the transaction", op.Src)
			} else if err = renameNoReplace(op.Src, op.Dst); errors.Is(err, errAppeared) {
				err = fmt.Errorf("%s appeared during the transaction", op.Dst)
			}
		}
		if err != nil {
			uerr := Undo(j.Ops[:i])
			return errors.Join(fmt.Errorf("place: %w", err), uerr)
		}
	}
	return nil
}

// errAppeared: the destination of a move exists.
var errAppeared = errors.New("destination exists")

// checkAndRename moves src to dst after checking that dst does not exist,
// where the two cannot be one step.
func checkAndRename(src, dst string) error {
	if exists(dst) {
		return errAppeared
	}
	return os.Rename(src, dst)
}

// Undo reverses the steps that were done, last first: what a step moved
// (known by its inode) goes back where it was. A step that was not done, or
// was undone already, is skipped, so Undo can run after a crash at any
// point, and again. What it moved back is on the disk when it returns
// (durable.go): its callers end the journal next.
func Undo(ops []state.Op) error {
	var errs []error
	for i := len(ops) - 1; i >= 0; i-- {
		op := ops[i]
		if op.Kind == state.OpRmdir {
			continue
		}
		if inode(op.Dst) == op.Ino && !exists(op.Src) {
			if err := os.Rename(op.Dst, op.Src); err != nil {
				errs = append(errs, fmt.Errorf("undo: %w", err))
			}
		}
	}
	if err := undone(ops); err != nil {
		errs = append(errs, fmt.Errorf("undo: %w", err))
	}
	return errors.Join(errs...)
}

// Finish completes a committed transaction: it deletes the files set aside
// (not the .distpac-save ones) and the directories set aside whole with what
// they hold (all of it the old versions', checked by Prepare), removes the
// emptied directories and the work directory. It is idempotent.
func Finish(j state.Journal) error {
	var errs []error
	for _, op := range j.Ops {
		switch {
		case state.IsBackup(op):
			// RemoveAll, which never follows a symlink, and is done after
			// a crash in the middle as well as before it.
			if err := os.RemoveAll(op.Dst); err != nil {
				errs = append(errs, err)
			}
		case op.Kind == state.OpRmdir:
			// rmdir(2), not os.Remove: a directory stays when not empty,
			// and a symlink the user put in its place (ENOTDIR) stays
			// too; os.Remove unlinked it, whatever it pointed to.
			syscall.Rmdir(op.Src)
		}
	}
	if err := Discard(j.Work); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Discard removes a work directory, and the staging directory that held it
// when it is the prefix's own and now empty.
func Discard(work string) error {
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if parent := filepath.Dir(work); filepath.Base(parent) == state.StagingDirName {
		os.Remove(parent)
	}
	return nil
}
