package state

// The marks of the scripts' starts: a log beside installed.db, where
// NoteScript writes "noted ID" before a note and the script's own process
// writes "started ID" as it starts (script.Env.Mark). A kill of
// dist-client between the note and the start leaves a note whose process
// never ran the script: only the process itself can say it did, so it
// writes the mark, and nothing the killed dist-client did or did not do
// can make a note read as started or not when it was not.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/distpac/distpac/internal/fsutil"
)

// MarksFile is the marks' file, beside installed.db.
const MarksFile = "scripts.started"

// maxMarks bounds the marks read: two short lines per note.
const maxMarks = 64 * maxScripts

func (db *DB) marksPath() string { return marksBeside(db.path) }

// marksBeside is the path of the marks of the state at path (installed.db).
func marksBeside(path string) string { return filepath.Join(filepath.Dir(path), MarksFile) }

func notedMark(id int64) string { return "noted " + strconv.FormatInt(id, 10) }

// StartedMark is the line the process of the script noted as id writes
// to the marks as it starts (script.Env.Mark).
func StartedMark(id int64) string { return "started " + strconv.FormatInt(id, 10) }

// OpenMarks opens the marks for the processes of scripts to write their
// start to (script.Env.Mark): appending, so that each line lands whole
// after the others. Neither a symlink nor a FIFO in their place is
// followed or waited on.
func (db *DB) OpenMarks() (*os.File, error) {
	return db.openMarks(false)
}

// openMarks opens the marks to append to, emptied first when fresh. What
// is not a regular file in their place is said as what it is, with what
// to do: the open's own errors ("too many levels of symbolic links", "no
// such device or address" for a FIFO) told a user neither.
func (db *DB) openMarks(fresh bool) (*os.File, error) {
	path := db.marksPath()
	flags := os.O_WRONLY | os.O_APPEND | os.O_CREATE | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	if fresh {
		flags |= os.O_TRUNC
	}
	notMarks := func(err error) error {
		return fmt.Errorf("%w: dist-client keeps the marks of its scripts' starts there; remove it", err)
	}
	// A directory, symlink or FIFO fails the open (EISDIR, ELOOP, ENXIO
	// without a reader) and is then said as what it is; a FIFO with a
	// reader opens, and the Stat below refuses it.
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if err := fsutil.NotRegular(path); err != nil {
			return nil, notMarks(err)
		}
		return nil, err // a *PathError, with the path
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, notMarks(&fs.PathError{Op: "open", Path: path, Err: fsutil.ErrNotRegular})
	}
	return f, nil
}

// mark appends line to the marks, emptied first when fresh (no note is
// left that an older line could be of). Like the processes' marks it does
// not wait for the disk: a kill -9 loses none of it, and after a loss of
// power UnstartedScripts is not asked (a note of another boot may have
// started).
func (db *DB) mark(fresh bool, line string) error {
	f, err := db.openMarks(fresh)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	return errors.Join(err, f.Close())
}

// UnstartedScripts returns the IDs of the notes whose script's process
// never marked its start after the note's "noted" line: killed with
// dist-client before it ran the script, if it is known not to run now
// (its group ended), and if no loss of power since took its mark (the
// note is of this boot). A note without a "noted" line (an older
// dist-client's) is not among them: it may have started. An error means
// the marks cannot be read; then none is known not to have started.
func (db *DB) UnstartedScripts() (map[int64]bool, error) {
	return UnstartedScriptsAt(db.path)
}

// UnstartedScriptsAt is UnstartedScripts of the state at path
// (installed.db), for a reader that has it open no longer: the marks are
// a file beside it. Read after the notes (Interrupted), a script that
// starts in between reads as started.
func UnstartedScriptsAt(path string) (map[int64]bool, error) {
	marks := marksBeside(path)
	b, err := fsutil.ReadRegular(marks, maxMarks+1, false)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int64]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) > maxMarks {
		return nil, fmt.Errorf("%s: more than %d bytes", marks, maxMarks)
	}
	unstarted := map[int64]bool{}
	// Split, not scanned: a bufio.Scanner stopped at a line over 64 KiB
	// and returned the notes read so far as never started, beside its
	// error, although a "started" line came after.
	for line := range bytes.Lines(b) {
		line = bytes.TrimSuffix(line, []byte{'\n'})
		what, n, _ := bytes.Cut(line, []byte{' '})
		id, err := strconv.ParseInt(string(n), 10, 64)
		switch {
		case err == nil && string(what) == "noted":
			unstarted[id] = true
		case err == nil && string(what) == "started":
			delete(unstarted, id)
		default: // not a line dist-client or a script's process writes
			return nil, fmt.Errorf("%s: line %q", marks, line[:min(len(line), 80)])
		}
	}
	return unstarted, nil
}
