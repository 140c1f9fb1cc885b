//go:build !race

package torrent

const raceEnabled = false
