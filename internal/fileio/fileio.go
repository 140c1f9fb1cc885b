// Package fileio makes the BitTorrent library read and write payload files
// with pread/pwrite instead of mmap. With mmap every downloaded or seeded
// byte stays in the process's resident set (RSS grew by about the payload
// size: 138 MiB for a 100 MiB install); with classic I/O the page cache
// holds it instead and the process stays small.
//
// The library chooses once, in its storage package's init, from
// TORRENT_STORAGE_DEFAULT_FILE_IO. This package sets that variable in its
// own init; it imports nothing but os, so Go initialises it before the
// library (checked by TestInitOrder). Import it for effect from main
// packages, first. An explicit setting in the environment wins.
package fileio

import "os"

// EnvVar is the library's switch.
const EnvVar = "TORRENT_STORAGE_DEFAULT_FILE_IO"

func init() {
	if os.Getenv(EnvVar) == "" {
		os.Setenv(EnvVar, "classic")
	}
}
