package catalogclient

import (
	"slices"
	"testing"
	"time"
)

// Servers that failed within demoteFor go last, in their order; older
// failures, failures "in the future" (a clock set back) and others keep
// their place.
func TestFailuresOrder(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f := failures{Failed: map[string]time.Time{
		"a": now.Add(-time.Minute),
		"c": now.Add(-demoteFor - time.Second),
		"d": now.Add(-5 * time.Minute),
		"e": now.Add(time.Hour),
	}}
	got := f.order([]string{"a", "b", "c", "d", "e"}, now)
	if want := []string{"b", "c", "e", "a", "d"}; !slices.Equal(got, want) {
		t.Errorf("order = %v; want %v", got, want)
	}

	dir := t.TempDir()
	// a was set aside as slow (a failure of the first pass), then answered.
	f.record(dir, []string{"a", "b", "d"}, ServersError{{URL: "a"}, {URL: "b"}}, "a", now)
	back := readFailures(dir)
	if _, ok := back.Failed["a"]; ok || len(back.Failed) != 2 || !back.Failed["b"].Equal(now) || !back.Failed["d"].Equal(f.Failed["d"]) {
		t.Errorf("recorded %v; want b now, d kept, a (answered) and c, e (not configured) forgotten", back.Failed)
	}
}
