package suggest

import (
	"slices"
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"hello", "hello", 0},
		{"", "abc", 3},
		{"helo", "hello", 1},     // deletion
		{"helllo", "hello", 1},   // insertion
		{"hallo", "hello", 1},    // substitution
		{"hlelo", "hello", 1},    // swap of neighbours
		{"kitten", "sitting", 3}, // the textbook case
		{"ab", "ba", 1},
		{"abc", "ca", 3}, // optimal string alignment, not full Damerau (2)
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Distance(tt.b, tt.a); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	catalog := []string{"hello", "help", "helm", "libgreet", "libgreet-dev", "zstd", "openssl", "Hello-World", "ab"}
	tests := []struct {
		name string
		n    int
		want []string
	}{
		{"helo", 3, []string{"hello", "helm", "help"}},
		{"hlelo", 3, []string{"hello"}},
		{"HELLO", 3, []string{"hello", "Hello-World"}}, // case is ignored, exact first
		{"libgret", 3, []string{"libgreet"}},
		{"greet", 3, []string{"libgreet", "libgreet-dev"}}, // substrings, shorter first
		{"openssl3", 3, []string{"openssl"}},
		{"zstdd", 1, []string{"zstd"}},
		{"hello", 1, []string{"hello"}},
		{"xyz", 3, nil}, // nothing close
		{"ba", 3, []string{"ab"}},
		{"q", 3, nil}, // one letter away from nothing here
		{"nothing-like-it", 3, nil},
		{"", 3, nil},
		{"hello", 0, nil},
		{strings.Repeat("a", 10000), 3, nil}, // bounded, not a 10000×n table
	}
	for _, tt := range tests {
		got := Closest(tt.name, catalog, tt.n)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Closest(%.20q, %d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
}

func TestClosestDuplicates(t *testing.T) {
	// Names come from catalog rows, one per version.
	got := Closest("helo", []string{"hello", "hello", "hello"}, 3)
	if !slices.Equal(got, []string{"hello"}) {
		t.Errorf("got %q, want each name once", got)
	}
}

func TestPhrase(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"hello"}, "did you mean hello?"},
		{[]string{"hello", "help"}, "did you mean hello or help?"},
		{[]string{"hello", "help", "helm"}, "did you mean hello, help or helm?"},
	}
	for _, tt := range tests {
		if got := Phrase(tt.names); got != tt.want {
			t.Errorf("Phrase(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}

func BenchmarkClosest(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = "package-" + strings.Repeat(string(rune('a'+i%26)), i%20) + "-x"
	}
	b.ReportAllocs()
	for b.Loop() {
		Closest("package-mmmmmm-y", names, 3)
	}
}

// Typo: the known key or directory a near miss meant, ignoring case; none
// beyond two edits, and no substring guesses.
func TestTypo(t *testing.T) {
	keys := []string{"server_url", "server_urls", "prefix", "peer_addr", "assets", "scripts"}
	for _, tt := range []struct{ in, want string }{
		{"prefx", "prefix"},
		{"server_ulr", "server_url"},
		{"Assets", "assets"},
		{"script", "scripts"},
		{"peer", ""},                  // a substring, not a typo
		{"totally", ""},               // far from everything
		{"server_urlz", "server_url"}, // a tie goes to the first alphabetically
	} {
		if got := Typo(tt.in, keys); got != tt.want {
			t.Errorf("Typo(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
