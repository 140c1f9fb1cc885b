package place

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace moves src to dst unless dst exists, in one step: a check
// and then rename(2) would replace a file another process made at dst in
// between (a user's program, a script's background job), and that file,
// not in the journal, could not be put back. Filesystems without
// RENAME_NOREPLACE, and sandboxes that refuse renameat2, get the check and
// the rename.
func renameNoReplace(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return errAppeared
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		// EPERM: some seccomp filters refuse renameat2; a real permission
		// error comes back from rename(2) too.
		return checkAndRename(src, dst)
	}
	return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
}
