// Package disktest holds a full disk for tests: a small tmpfs of the
// test's own, mounted where it says, and a file that fills it (Linux).
// Mounting needs root (as CI and the development machine have); without it
// the test is skipped, with a message. It is never linked into the
// binaries.
package disktest
