package units

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string // substring of the error; "" means success
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"512B", 512, ""},
		{"512 B", 512, ""},
		{"  10MiB  ", 10 << 20, ""},
		{"10MiB/s", 10 << 20, ""},
		{"10 MiB/s", 10 << 20, ""},
		{"1024/s", 1024, ""},
		{"1KiB", 1024, ""},
		{"1.5MiB", 1572864, ""},
		{"1.5 GiB", 3 << 29, ""},
		{"250kB", 250000, ""},
		{"10MB", 10000000, ""},
		{"0.1GB", 100000000, ""}, // exact, no float error
		{"2GB", 2000000000, ""},
		{"0.3KiB", 307, ""}, // rounded down
		{"8589934591GiB", 8589934591 << 30, ""},
		{"8589934592GiB", 0, "too large"},
		{"9223372036854775807", 9223372036854775807, ""},
		{"9223372036854775808", 0, "too large"},
		{"10 MB/h", 0, `"10 MB/h" is not a size: want a number and a unit (B, KiB, MiB, GiB, kB, MB, GB)`},
		{"", 0, "want a number and a unit"},
		{"MiB", 0, "want a number and a unit"},
		{"fast", 0, `"fast" is not a size`},
		{"10KB", 0, "want a number and a unit"}, // KB is ambiguous: refused
		{"10K", 0, "want a number and a unit"},
		{"10mib", 0, "want a number and a unit"}, // case-sensitive
		{"10 TiB", 0, "want a number and a unit"},
		{"-5MiB", 0, "must not be negative"},
		{"+5MiB", 0, "want a number and a unit"},
		{"1.5", 0, "a fraction needs a unit"},
		{"1.5B", 0, "a fraction of a byte"},
		{"1.MiB", 0, "want a number and a unit"},
		{".5MiB", 0, "want a number and a unit"},
		{"1.2.3MiB", 0, "want a number and a unit"},
		{"10MiB/s/s", 0, "want a number and a unit"},
		{"1e6", 0, "want a number and a unit"},
		{strings.Repeat("9", 100), 0, "too long"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1000, "1 kB"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{2000, "2 kB"},
		{1536, "1.5 KiB"},
		{16 * MiB, "16 MiB"},
		{10 * MB, "10 MB"},
		{3 * GiB / 2, "1.5 GiB"},
		{2 * GB, "2 GB"},
		{1500000, "1.43 MiB"},
		{-1, "-1 B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

// Exact values must survive String then ParseSize unchanged.
func TestSizeStringRoundTrip(t *testing.T) {
	for _, s := range []Size{0, 1, 512, 1000, 1024, 1536, 16 * MiB, 10 * MB, 3 * GiB / 2, 5 * GiB, 7 * GB} {
		back, err := ParseSize(s.String())
		if err != nil || back != s {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s.String(), back, err, s)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{16 << 20, "16.0 MiB"},
		{3 << 29, "1.5 GiB"},
		{1<<20 - 1, "1.0 MiB"}, // would round to "1024.0 KiB"
		{1 << 40, "1.0 TiB"},
		{9223372036854775807, "8.0 EiB"},
		{-2048, "-2.0 KiB"},
		{-9223372036854775808, "-8.0 EiB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.in); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnmarshalYAML(t *testing.T) {
	tests := []struct {
		doc  string
		want Size
		err  string
	}{
		{`v: 10MiB`, 10 * MiB, ""},
		{`v: "1.5 GiB"`, 3 * GiB / 2, ""},
		{`v: 4096`, 4096, ""},
		{`v: 0x10`, 16, ""},
		{`v: ""`, 0, ""},
		{`v:`, 123, ""}, // null leaves the value alone, as yaml does for all types
		{`v: ~`, 123, ""},
		{`v: -1`, 0, "must not be negative"},
		{`v: 1.5`, 0, "a fraction needs a unit"},
		{`v: fast`, 0, `"fast" is not a size`},
		{`v: [1]`, 0, "got a list"},
		{`v: {a: 1}`, 0, "got a mapping"},
		{`v: 99999999999999999999`, 0, "too large"},
	}
	for _, tt := range tests {
		var out struct{ V Size }
		out.V = 123 // must be reset by empty values
		err := yaml.Unmarshal([]byte(tt.doc), &out)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %d, %v; want error containing %q", tt.doc, out.V, err, tt.err)
			}
			continue
		}
		if err != nil || out.V != tt.want {
			t.Errorf("%s: got %d, %v; want %d", tt.doc, out.V, err, tt.want)
		}
	}
}

func TestSet(t *testing.T) {
	var s Size
	if err := s.Set("2MiB"); err != nil || s != 2*MiB {
		t.Fatalf("Set(2MiB) = %v, size %d", err, s)
	}
	if err := s.Set("2 parsecs"); err == nil || s != 2*MiB {
		t.Fatalf("Set(bad) = %v, size %d; want error and size unchanged", err, s)
	}
	if s.Type() != "size" {
		t.Fatalf("Type() = %q", s.Type())
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "10MiB", "1.5 GiB", "250kB/s", "10 MB/h", "-1", "1.", "9223372036854775807", "0.0000001GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if !strings.Contains(err.Error(), "is not a size") {
				t.Fatalf("error %q lacks the common prefix", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		// The human form must always parse and land just below n: it rounds
		// down to hundredths of a unit no larger than n (less than 1% of n),
		// and parsing rounds down once more to a whole byte.
		back, err := ParseSize(n.String())
		if err != nil {
			t.Fatalf("ParseSize(%q) of String() of %d: %v", n.String(), n, err)
		}
		if back > n || float64(n-back) > float64(n)/100+1 {
			t.Fatalf("round trip of %d via %q gave %d", n, n.String(), back)
		}
		_ = FormatBytes(int64(n))
	})
}

func TestFormatRate(t *testing.T) {
	for in, want := range map[float64]string{0: "0 B/s", -3: "0 B/s", 512.4: "512 B/s", 1536: "1.5 KiB/s", 2 << 20: "2.0 MiB/s"} {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", in, got, want)
		}
	}
}
