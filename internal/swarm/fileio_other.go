//go:build !linux

package swarm

import "os"

func readFileAt(f *os.File, b []byte, off int64, _ bool) (int, error) { return f.ReadAt(b, off) }

func writeFileAt(f *os.File, b []byte, off int64, _ bool) (int, error) { return f.WriteAt(b, off) }

func localFS(*os.File) bool { return false }
