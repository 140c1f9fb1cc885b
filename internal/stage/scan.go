package stage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/state"
)

// Scan records every entry under root (root itself excluded): directories,
// regular files with size and SHA-256, symlinks with their target, each with
// its permission bits. Any other type (FIFO, socket, device) is refused:
// a package places only files, directories and symlinks.
func Scan(root string) (files []state.File, bytes int64, err error) {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel := filepath.ToSlash(p[len(root)+1:])
		if err := state.CheckRelPath(rel); err != nil {
			return fmt.Errorf("staged %s: %w", rel, err)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := state.File{Path: rel, Mode: state.Perm(info.Mode())}
		switch {
		case info.IsDir():
			f.Type = state.TypeDir
		case info.Mode().IsRegular():
			f.Type, f.Size = state.TypeFile, info.Size()
			sum, err := hashFile(p, h, buf)
			if err != nil {
				return err
			}
			f.SHA256 = sum
			bytes += f.Size
		case info.Mode()&fs.ModeSymlink != 0:
			f.Type = state.TypeSymlink
			if f.Target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("staged %s is %s: packages place only files, directories and symlinks", rel, archive.DescribeMode(info.Mode()))
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan %s: %w", root, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, bytes, nil
}

// HashFile returns the hex SHA-256 of the file at p.
func HashFile(p string) (string, error) {
	return hashFile(p, sha256.New(), make([]byte, 64<<10))
}

func hashFile(p string, h interface {
	io.Writer
	Sum([]byte) []byte
	Reset()
}, buf []byte) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h.Reset()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
