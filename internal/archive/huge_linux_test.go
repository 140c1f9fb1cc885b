package archive

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestRingAdvisedHuge: a decoder for a stream of at least hugeFrom bytes
// has its history ring in memory advised for transparent huge pages (the
// mapping's VmFlags has "hg"), whether newDecoder made it (or took it
// from the pool) or Warm did.
func TestRingAdvisedHuge(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages:", err)
	}
	t.Cleanup(func() { takeWarm() })
	cases := []struct {
		name  string
		setup func()
	}{
		{"newDecoder", func() {}},
		{"Warm", func() { Warm(warmMax) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.setup()
			d, err := newDecoder(bytes.NewReader(zeroFrame(warmMax)), hugeFrom)
			if err != nil {
				t.Fatal(err)
			}
			defer releaseDecoder(d)
			var first uintptr
			n, err := d.WriteTo(writerFunc(func(p []byte) (int, error) {
				if first == 0 {
					first = uintptr(unsafe.Pointer(&p[0]))
				}
				return len(p), nil
			}))
			if err != nil || n != warmMax {
				t.Fatalf("decoded %d bytes, %v; want %d", n, err, warmMax)
			}
			// The first whole huge page of the ring, as adviseHuge rounds.
			page := (first + hugePage - 1) &^ (hugePage - 1)
			flags, huge, err := vmaOf(page)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(" "+flags+" ", " hg ") {
				t.Errorf("ring at %#x: mapping's VmFlags %q, want hg (MADV_HUGEPAGE)", first, flags)
			}
			t.Logf("ring at %#x: the mapping holds %s of huge pages", first, huge)
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// vmaOf returns the VmFlags and AnonHugePages of the mapping of this
// process that holds addr, from /proc/self/smaps.
func vmaOf(addr uintptr) (flags, huge string, err error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 { // a mapping's first line
			if in {
				break
			}
			in = lo <= addr && addr < hi
			continue
		}
		if !in {
			continue
		}
		if v, ok := strings.CutPrefix(line, "AnonHugePages:"); ok {
			huge = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			return strings.TrimSpace(v), huge, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", fmt.Errorf("no mapping holds %#x in /proc/self/smaps", addr)
}
