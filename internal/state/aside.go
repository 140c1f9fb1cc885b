package state

// The names a transaction sets a file aside under, beside it: a backup
// until the commit (BackupName), or a changed file kept when it is removed
// (SaveName); and how the journal's check and the commit tell them apart.

import (
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BackupPrefix starts the name of a file set aside during a transaction,
// in its own directory (so the rename never crosses filesystems).
const BackupPrefix = ".distpac-"

// SaveSuffix ends the name a changed file is kept under when it is removed.
const SaveSuffix = ".distpac-save"

// nameMax is NAME_MAX, the longest name of one path component on Linux
// file systems.
const nameMax = 255

// MaxAsideName is the room a path's directory must leave for the name its
// entry is set aside under, beside it, when an upgrade or a removal takes
// it away: a backup's (BackupName: 40 bytes at most, with the work
// directories install makes and fewer than 10^11 steps) or a changed
// file's (SaveName, its name cut to fit). Install holds a staged path
// under the prefix to it (stage, archive.TreeBounds.Aside): a file with a
// short name whose path came within 30 bytes of the 4095 a system call
// takes was installed, and then could be neither upgraded nor uninstalled
// (its backup's path was past the bound, and the journal refused it).
const MaxAsideName = 40

// BackupName is where the file at src is set aside, in its own directory,
// by the step n of the transaction txid (its work directory's name less
// "txn-"), until the transaction is committed: .distpac-TXID-N.
func BackupName(src, txid string, n int) string {
	return filepath.Join(filepath.Dir(src), BackupPrefix+txid+"-"+strconv.Itoa(n))
}

// SaveName is where the changed file at src is kept when it is removed:
// src.distpac-save, or src.distpac-save.N for n above 0. A name the
// suffix would take past NAME_MAX, or a path past PATH_MAX, is cut first
// (at a character's boundary): a file of 243 bytes or more, which a
// package may hold, could not be kept, and the transaction that removed
// it failed with the OS's "file name too long" and rolled back, so that
// the package could be neither upgraded nor uninstalled while the user's
// change was there; so could a file whose path came within 13 bytes of
// PATH_MAX.
func SaveName(src string, n int) string {
	suffix := SaveSuffix
	if n > 0 {
		suffix += "." + strconv.Itoa(n)
	}
	dir, base := filepath.Split(src)
	over := max(len(base)+len(suffix)-nameMax, len(src)+len(suffix)-maxPathLen)
	if over > 0 && over < len(base) {
		base = base[:len(base)-over]
		for base != "" && !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
	}
	return dir + base + suffix
}

// IsBackup reports whether op sets its path aside as a backup, deleted
// once the transaction is committed (place.Finish): a name beside it that
// starts with BackupPrefix and is not its save name. A changed file whose
// own name starts with BackupPrefix (.distpac-rc) is kept as
// .distpac-rc.distpac-save, which starts with it too: taken for a backup,
// the user's copy was deleted at the commit.
func IsBackup(op Op) bool {
	dir, base := filepath.Split(op.Dst)
	return op.Kind == OpAway && filepath.Clean(dir) == filepath.Dir(op.Src) && strings.HasPrefix(base, BackupPrefix) && !isSaveName(op.Src, op.Dst)
}

// isSaveName reports whether dst is src's save name (SaveName): src.distpac-save
// or src.distpac-save.N, src's name cut to fit.
func isSaveName(src, dst string) bool {
	i := strings.LastIndex(dst, SaveSuffix)
	if i < 0 {
		return false
	}
	n := 0
	if rest := dst[i+len(SaveSuffix):]; rest != "" {
		digits, ok := strings.CutPrefix(rest, ".")
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 9 {
			return false
		}
		n, _ = strconv.Atoi(digits)
		if n == 0 {
			return false
		}
	}
	return dst == SaveName(src, n)
}
