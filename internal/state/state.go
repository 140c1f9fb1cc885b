// Package state keeps the client's installed-package records, the files
// each package placed, the history of transactions, the journal of the one
// transaction under way, and the lock that lets one process at a time
// change them.
//
// The records live in one SQLite database, installed.db, in WAL mode. Each
// install, upgrade or uninstall commits its records, its file lists, the
// end of its journal and its history entry in one SQLite transaction: a
// kill -9 or a full disk at any moment leaves either the state before it or
// the state after it. SQLite rather than a JSON file with a journal beside
// it because the file lists make the state large (a package of 10,000 files
// is 10,000 rows) and a transaction must not rewrite the whole of it; WAL so
// that the read-only commands (list, files, owner, verify, history) never
// wait for an install in progress (but on a full disk, where they read
// alone: OpenRead). The space a large removal frees inside
// the file is given back by Reclaim, at the end of the command.
//
// Every row read is validated with the manifest's rules before it is used
// (ValidateRecord, ValidateFile): a damaged or hand-edited file gives a
// *CorruptError naming the file and how to recover, never a path outside
// the prefix. The version 1 state, installed.json, is migrated on first use.
package state

import (
	"errors"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// Record is one installed package.
type Record struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Auto    bool   `json:"auto,omitempty"` // installed only as a dependency
	// Held packages are left at their version by upgrade (dist-client hold).
	Held      bool     `json:"held,omitempty"`
	Depends   []string `json:"depends,omitempty"`
	Conflicts []string `json:"conflicts,omitempty"`
	Archive   string   `json:"archive"`
	SHA256    string   `json:"sha256"` // of the archive
	Size      int64    `json:"size"`   // installed size the catalog declared
	// Prefix is where the package's files were placed. Uninstall removes
	// them from here, whatever the configuration says by then.
	Prefix string `json:"prefix,omitempty"`
	// FilesKnown is false for packages migrated from installed.json
	// version 1, which recorded no files.
	FilesKnown bool `json:"files_known"`
	// HasUninstall says the package ships scripts/uninstall.sh.
	HasUninstall bool `json:"has_uninstall,omitempty"`
	// Untracked lists prefix paths its install.sh wrote straight into the
	// prefix (the old contract); distpac does not remove them.
	Untracked   []string  `json:"untracked,omitempty"`
	InstalledAt time.Time `json:"installed_at"`
}

// FileType is what a recorded path is.
type FileType string

// The types a package may place.
const (
	TypeFile    FileType = "file"
	TypeDir     FileType = "dir"
	TypeSymlink FileType = "symlink"
)

// File is one path a package placed, relative to its record's prefix.
type File struct {
	Path   string      `json:"path"` // slash-separated, clean, relative
	Type   FileType    `json:"type"`
	Mode   fs.FileMode `json:"mode"`             // permission bits only
	Size   int64       `json:"size,omitempty"`   // regular files
	SHA256 string      `json:"sha256,omitempty"` // regular files
	Target string      `json:"target,omitempty"` // symlinks
	// Created marks a directory that distpac made (not one that was there
	// before any package): it is removed when the last package recording
	// it goes and it is empty.
	Created bool `json:"created,omitempty"`
}

// ErrNotInstalled names a package that is not installed.
var ErrNotInstalled = errors.New("not installed")

// Package is a record with its files, as one transaction writes it.
type Package struct {
	Record
	Files []File
}

// State is every installed package, keyed by name: a snapshot for readers.
type State struct {
	Packages map[string]Record `json:"packages"`
}

// Sorted returns the records by name.
func (s *State) Sorted() []Record {
	out := make([]Record, 0, len(s.Packages))
	for _, r := range s.Packages {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get finds a record by name, ignoring case.
func (s *State) Get(name string) (Record, bool) {
	if r, ok := s.Packages[name]; ok {
		return r, true
	}
	for n, r := range s.Packages {
		if strings.EqualFold(n, name) {
			return r, true
		}
	}
	return Record{}, false
}
