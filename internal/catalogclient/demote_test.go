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
	f.record(dir, []string{"a", "b", "d"}, ServersError{{URL: "a"}, {URL: "b"}}, nil, "a", now)
	back := readFailures(dir)
	if _, ok := back.Failed["a"]; ok || len(back.Failed) != 2 || !back.Failed["b"].Equal(now) || !back.Failed["d"].Equal(f.Failed["d"]) {
		t.Errorf("recorded %v; want b now, d kept, a (answered) and c, e (not configured) forgotten", back.Failed)
	}
}

// A server behind the catalog held goes last as a failed one does (its
// catalog, downloaded in full, costs once in demoteFor), but is no
// failed server a sync passed over: `sync --from` it would take nothing
// newer.
func TestFailuresBehind(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	servers := []string{"m", "p", "q"}
	// m had failed before; now it answers, behind.
	failures{Failed: map[string]time.Time{"m": now.Add(-time.Minute)}}.record(dir, servers, nil, []Behind{{URL: "m", Serial: 3}}, "q", now)
	f := readFailures(dir)
	if _, ok := f.Failed["m"]; ok || !f.Behind["m"].Equal(now) {
		t.Fatalf("recorded %+v; want m behind, not failed", f)
	}
	if got, want := f.order(servers, now.Add(time.Minute)), []string{"p", "q", "m"}; !slices.Equal(got, want) {
		t.Errorf("order = %v; want %v", got, want)
	}
	if got := f.passedOver(servers, "q", now.Add(time.Minute)); len(got) != 0 {
		t.Errorf("passed over = %v; want none (m is behind, not failed)", got)
	}
	// Once it gives the catalog taken, it is forgotten.
	f.record(dir, servers, nil, nil, "m", now.Add(time.Minute))
	if f := readFailures(dir); len(f.Behind) != 0 {
		t.Errorf("after m answered: %+v", f)
	}
}
