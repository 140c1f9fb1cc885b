// Package loadtest holds load tests over the real network parts of
// dist-server on loopback: many clients syncing the signed catalog from a
// real catalogserver, and many peers announcing to the embedded tracker
// (load_test.go); and the per-operation costs docs/SCALING.md builds on
// (scale_test.go: tracker memory per peer, opentracker, catalog bytes per
// package, seeder CPU per GiB). It has no code of its own. Run with
//
//	go test -v -run TestLoad ./internal/loadtest
//	DISTPAC_LOAD_SCALE=5 go test -count=1 -v ./internal/loadtest | grep -E 'figure|req/s'
//
// and read the throughput and latency figures in the log. Times are
// reported, never asserted (STYLE: benchmarks print figures); errors fail.
package loadtest
