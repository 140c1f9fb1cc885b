// Package sqlerr tells the errors of a SQLite database's environment (a
// full disk, an I/O error, a file that cannot be opened or written, no
// memory, a lock another process holds) from those of its content, so that
// a caller does not call a database damaged, or a catalog unpublishable,
// over a passing condition of the machine. An attacker's run filled the
// disk under a client: every command, list included, called installed.db
// damaged ("disk I/O error (4874)", the WAL's shared memory file could not
// grow) and advised moving it aside, which would have lost every record.
package sqlerr

import (
	"errors"
	"io/fs"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Environmental reports whether err comes from the environment rather
// than from the database's content: a SQLite error whose primary code is
// BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN or PROTOCOL, or an
// operating system error (fs.PathError, syscall.Errno).
func Environmental(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &errno)
}

// CannotWrite reports whether err is SQLite failing for want of a place to
// write: a full disk (FULL), an I/O error (IOERR; a WAL database's -shm
// file that cannot grow is IOERR_SHMSIZE, "disk I/O error (4874)"), or a
// file it could not make or open (CANTOPEN). A reader of a WAL database
// can meet each of these before it reads a page: it makes and grows the
// -shm file first.
func CannotWrite(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}
