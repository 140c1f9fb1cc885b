// Package buftest holds a buffer that goroutines may write while a test
// reads it: a process's output that exec's goroutine copies, a logger
// that a server's goroutines write. It is never linked into the binaries.
package buftest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer behind a mutex: reading a bytes.Buffer while
// another goroutine writes it is a data race.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *Buffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func (s *Buffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}
