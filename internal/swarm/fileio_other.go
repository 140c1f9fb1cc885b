//go:build !linux

package swarm

import "os"

func newPayloadFile(f *os.File) payloadFile { return payloadFile{f: f} }

func readFileAt(p payloadFile, b []byte, off int64) (int, error) { return p.f.ReadAt(b, off) }

func writeFileAt(p payloadFile, b []byte, off int64) (int, error) { return p.f.WriteAt(b, off) }
