package archive

import "golang.org/x/sys/unix"

// openat2Dir opens the directory rel below parent: no symlink followed,
// no name leading out of parent.
func openat2Dir(parent int, rel string) (int, error) {
	return unix.Openat2(parent, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}
