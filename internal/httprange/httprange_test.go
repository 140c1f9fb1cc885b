package httprange

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

func ranges(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf("%d-%d", 2*i, 2*i))
	}
	return "bytes=" + strings.Join(parts, ",")
}

// Limit leaves ordinary ranges alone, drops a header of more than
// MaxRanges ranges (counted as http.ServeContent parses: empty elements
// skipped), and moves a zero-byte suffix range past any file, without
// touching the caller's request.
func TestLimit(t *testing.T) {
	past := "9223372036854775807-"
	for _, tt := range []struct {
		name, in, want string
	}{
		{"none", "", ""},
		{"one", "bytes=0-99", "bytes=0-99"},
		{"suffix", "bytes=-500", "bytes=-500"},
		{"a range ending in 0", "bytes=100-200", "bytes=100-200"},
		{"MaxRanges", ranges(MaxRanges), ranges(MaxRanges)},
		{"MaxRanges+1", ranges(MaxRanges + 1), ""},
		{"empty elements do not count", ranges(MaxRanges) + strings.Repeat(",", 40), ranges(MaxRanges) + strings.Repeat(",", 40)},
		{"empty suffix", "bytes=-0", "bytes=" + past},
		{"empty suffix of zeros, spaced", "bytes= -000 ", "bytes=" + past},
		{"empty suffix beside a range", "bytes=-0,0-5", "bytes=" + past + ",0-5"},
		{"suffix of ten", "bytes=-10", "bytes=-10"},
		{"not bytes", "items=-0", "items=-0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/f", nil)
			if tt.in != "" {
				r.Header.Set("Range", tt.in)
			}
			got := Limit(r)
			if h := got.Header.Get("Range"); h != tt.want {
				t.Errorf("Range %.60q: %.60q; want %.60q", tt.in, h, tt.want)
			}
			if h := r.Header.Get("Range"); h != tt.in {
				t.Errorf("the caller's request changed: %.60q", h)
			}
		})
	}
}

// FuzzLimit: any header gives a request back, never a panic, with at most
// MaxRanges non-empty ranges.
func FuzzLimit(f *testing.F) {
	f.Add("bytes=0-0")
	f.Add(ranges(MaxRanges + 1))
	f.Add("bytes=-0,0-,,x")
	f.Add("bytes=,-00, -0 ,")
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/f", nil)
		r.Header.Set("Range", h)
		got := Limit(r)
		n := 0
		for part := range strings.SplitSeq(got.Header.Get("Range"), ",") {
			if strings.TrimSpace(part) != "" {
				n++
			}
		}
		if n > MaxRanges {
			t.Fatalf("Range %q: %d ranges left, more than %d", h, n, MaxRanges)
		}
	})
}
