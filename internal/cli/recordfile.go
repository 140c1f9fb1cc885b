package cli

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// createRecord opens path for one of the recording variables
// (CPUProfileEnv, TraceEnv, MemProfileEnv, PeakRSSEnv) as os.Create would,
// but never through a symlink and never into a file that is not the
// caller's own: such a name is often in /tmp ("/tmp/cpu.%p.prof"), where
// another user can make it first. Where the kernel follows symlinks there
// (fs.protected_symlinks=0), root's install with DISTPAC_CPUPROFILE set
// wrote its profile over the root-only file another user's symlink named
// (an attacker's run); a file of theirs, or a hard link to someone's,
// would have got it too. The file is emptied only once it is known to be
// the caller's.
func createRecord(path string) (*os.File, error) {
	// Looked at first, so that a FIFO or device is named as such rather
	// than by what opening it says (ENXIO); checked again once open.
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
		return nil, fmt.Errorf("open %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("open %s: is a symlink; not followed, since another user may have put it there", path)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("open %s: not a regular file (%v)", path, fi.Mode().Type())
	case st != nil && int(st.Uid) != os.Geteuid():
		err = fmt.Errorf("open %s: owned by uid %d, not by this user (uid %d): choose a name of your own", path, st.Uid, os.Geteuid())
	case st != nil && st.Nlink > 1:
		err = fmt.Errorf("open %s: has %d hard links; not written, since another may be someone else's file", path, st.Nlink)
	}
	if err == nil {
		err = f.Truncate(0)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
