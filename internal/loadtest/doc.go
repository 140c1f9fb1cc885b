// Package loadtest holds load tests over the real network parts of
// dist-server on loopback: many clients syncing the signed catalog from a
// real catalogserver, and many peers announcing to the embedded tracker. It
// has no code of its own; see load_test.go. Run with
//
//	go test -v -run TestLoad ./internal/loadtest
//
// and read the throughput and latency figures in the log. Times are
// reported, never asserted (STYLE: benchmarks print figures); errors fail.
package loadtest
