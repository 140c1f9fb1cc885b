package install

import "testing"

// The transfer report names the web seeds that sent pieces.
func TestWebSeedsNamed(t *testing.T) {
	for _, c := range []struct {
		hosts []string
		want  string
	}{
		{nil, "the web seed"},
		{[]string{"a:1"}, "the web seed at a:1"},
		{[]string{"a:1", "b:2"}, "the web seeds at a:1 and b:2"},
		{[]string{"a:1", "b:2", "c:3"}, "the web seeds at a:1, b:2 and c:3"},
		{[]string{"a:1", "b:2", "c:3", "d:4"}, "the web seeds at a:1, b:2, c:3 and 1 other"},
		{[]string{"a:1", "b:2", "c:3", "d:4", "e:5"}, "the web seeds at a:1, b:2, c:3 and 2 others"},
	} {
		if got := webSeeds(c.hosts); got != c.want {
			t.Errorf("webSeeds(%q) = %q, want %q", c.hosts, got, c.want)
		}
	}
}

// The note on wasted bytes counts the failed pieces in words that agree,
// and only when there are some.
func TestWastedNote(t *testing.T) {
	for _, c := range []struct {
		bytes    int64
		failures int
		want     string
	}{
		{16383, 0, "16.0 KiB wasted"},
		{64 << 10, 1, "64.0 KiB wasted (1 piece that failed its hash)"},
		{128 << 10, 2, "128.0 KiB wasted (2 pieces that failed their hash)"},
	} {
		if got := wasted(c.bytes, c.failures); got != c.want {
			t.Errorf("wasted(%d, %d) = %q, want %q", c.bytes, c.failures, got, c.want)
		}
	}
}
