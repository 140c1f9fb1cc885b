package resolve

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// hostileCatalog is the catalog an attacker published to make resolve
// use a gigabyte: rtop depends on ra and rb; every ra 1.0.i needs rc
// =1.0.i and every rb 1.0.i needs rc =2.0.i, so no rc suits both, but a
// search that only learns pairs of choices tries every ra with every rb.
func hostileCatalog(n int) catalog { return hostileWith(n, "=%[1]s") }

// hostileRange is hostileCatalog with each pin written as a range,
// ">=1.0.i, <=1.0.i", which no exact-pin shortcut recognises.
func hostileRange(n int) catalog { return hostileWith(n, ">=%[1]s, <=%[1]s") }

// hostileWith makes hostileCatalog with its pins on version V written as
// fmt.Sprintf(form, V).
func hostileWith(n int, form string) catalog {
	cat := mkCatalog(pv("rtop 1.0.0", "ra", "rb"))
	for i := 0; i < n; i++ {
		v, w := fmt.Sprintf("1.0.%d", i), fmt.Sprintf("2.0.%d", i)
		cat["ra"] = append(cat["ra"], pv("ra "+v, "rc "+fmt.Sprintf(form, v)))
		cat["rb"] = append(cat["rb"], pv("rb "+v, "rc "+fmt.Sprintf(form, w)))
		cat["rc"] = append(cat["rc"], pv("rc "+v), pv("rc "+w))
	}
	return cat
}

// peakHeap runs f and returns the largest HeapAlloc seen while it ran
// (sampled every millisecond) and the bytes it allocated.
func peakHeap(f func()) (peak, alloc uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	res := make(chan uint64)
	go func() {
		var m runtime.MemStats
		var p uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			p = max(p, m.HeapAlloc)
			select {
			case <-done:
				res <- p
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(done)
	peak = <-res
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return peak - min(peak, before.HeapAlloc), after.TotalAlloc - before.TotalAlloc
}

// BenchmarkResolveHostile prints time, allocation and peak heap for the
// attacker's catalog at two sizes, with its pins exact and as ranges.
func BenchmarkResolveHostile(b *testing.B) {
	for _, tt := range []struct {
		name string
		cat  func(int) catalog
	}{{"", hostileCatalog}, {"range/", hostileRange}} {
		for _, n := range []int{300, 1000} {
			benchHostile(b, tt.name, n, tt.cat(n))
		}
	}
}

func benchHostile(b *testing.B, name string, n int, cat catalog) {
	b.Run(fmt.Sprintf("%sN=%d", name, n), func(b *testing.B) {
		req := reqOf("rtop")
		err := loopMeasured(b, func() error { _, err := Resolve(cat, req); return err })
		b.Logf("N=%d: %.200v (%d bytes)", n, err, len(fmt.Sprint(err)))
	})
}

// loopMeasured runs resolve under b.Loop, reports its CPU time and peak
// heap per run beside the allocation, and returns its last error.
func loopMeasured(b *testing.B, resolve func() error) error {
	b.ReportAllocs()
	var peak uint64
	var err error
	start := cpuTime()
	runs := 0
	for b.Loop() {
		p, _ := peakHeap(func() { err = resolve() })
		peak = max(peak, p)
		runs++
	}
	if cpu := cpuTime() - start; cpu > 0 && runs > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(runs), "cpu-ns/op")
	}
	b.ReportMetric(float64(peak), "peak-heap-B")
	return err
}

// TestResolveHostile: the attacker's catalog fails at once, in a few
// steps and megabytes, with the gist rather than hundreds of pairs. Before,
// N=300 took 4 s and 430 MB of allocation for a 1.8 KB list of pairs and
// N=1000 gave up after a million steps and 1.1 GB.
func TestResolveHostile(t *testing.T) {
	tests := []struct {
		n        int
		maxBytes uint64 // allocated by one Resolve
	}{
		{n: 300, maxBytes: 4 << 20},
		{n: 1000, maxBytes: 8 << 20},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("N=%d", tt.n), func(t *testing.T) {
			cat := hostileCatalog(tt.n)
			req := reqOf("rtop")
			req.MaxSteps = 10
			var err error
			_, alloc := peakHeap(func() { _, err = Resolve(cat, req) })
			last := fmt.Sprintf("1.0.%d", tt.n-1)
			want := fmt.Sprintf("cannot install rtop: every version of ra (%d, 1.0.0 to %s) depends on rc (one of 1.0.0 to %s), "+
				"every version of rb (%d, 1.0.0 to %s) depends on rc (one of 2.0.0 to 2.0.%d), and no version of rc satisfies both",
				tt.n, last, last, tt.n, last, tt.n-1)
			if err == nil || err.Error() != want {
				t.Fatalf("err:\n got %v\nwant %s", err, want)
			}
			if alloc > tt.maxBytes {
				t.Errorf("Resolve allocated %d bytes, want at most %d", alloc, tt.maxBytes)
			}
		})
	}
}

// almostHostile is hostileCatalog with one rb that does not need rc, so
// nothing is implied of rc by rb and the search has to try every ra with
// every rb.
func almostHostile(n int) catalog {
	cat := hostileCatalog(n)
	cat["rb"][0] = pv("rb 1.0.0", "gone")
	return cat
}

// reasonNodes counts the nodes of an explanation tree and the most
// children one has.
func reasonNodes(r reason) (nodes, widest int) {
	nodes = 1
	if ex, ok := r.(*exhaustedReason); ok {
		widest = len(ex.fails)
		for _, f := range ex.fails {
			n, w := reasonNodes(f.why)
			nodes += n
			widest = max(widest, w)
		}
	}
	return nodes, widest
}

// TestResolveExplanationBounded: an explanation keeps at most
// maxFailDetail failed versions of a package; before it kept all, N² for
// the attacker's catalog.
func TestResolveExplanationBounded(t *testing.T) {
	tests := []struct {
		name     string
		cat      catalog
		maxNodes int
	}{
		{"one package, 30 versions failing apart", func() catalog {
			cat := mkCatalog(pv("rtop 1.0.0", "x"))
			for i := 0; i < 30; i++ {
				cat["x"] = append(cat["x"], pv(fmt.Sprintf("x 1.0.%d", i), fmt.Sprintf("gone%d", i)))
			}
			return cat
		}(), 1 + maxFailDetail},
		{"every ra with every rb", almostHostile(40), 1 + maxFailDetail*(1+maxFailDetail)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSolver(&canonSource{src: tt.cat, spell: map[string]string{}}, reqOf("rtop"))
			f := s.setup()
			if f == nil {
				f = s.search(1)
			}
			if f == nil || f.tooComplex {
				t.Fatalf("failure = %+v, want an explanation", f)
			}
			nodes, widest := reasonNodes(f.why)
			if nodes > tt.maxNodes || widest > maxFailDetail {
				t.Errorf("explanation has %d nodes, one with %d children; want at most %d and %d", nodes, widest, tt.maxNodes, maxFailDetail)
			}
			if text := s.explain(f).Error(); len(text) > 700 {
				t.Errorf("explanation is %d bytes: %.300s", len(text), text)
			}
		})
	}
}

// TestResolveTooComplexNamesPackages: a search that gives up says which
// packages it was trying.
func TestResolveTooComplexNamesPackages(t *testing.T) {
	req := reqOf("rtop")
	req.MaxSteps = 500
	_, err := Resolve(almostHostile(40), req)
	want := "resolution too complex: gave up after 500 steps, stuck on rb (475 versions tried), ra (12 versions tried) and rc (12 versions tried)"
	if !errors.Is(err, ErrTooComplex) || err.Error() != want {
		t.Fatalf("err:\n got %v\nwant %s", err, want)
	}
}

// TestResolveConstraintNeverMet: a dependency no version can meet says so
// and names who declares it, whether or not the package is installed.
func TestResolveConstraintNeverMet(t *testing.T) {
	cat := mkCatalog(pv("app 1.0.0", "libgreet >=2, <1"), pv("libgreet 1.0.0"), pv("libgreet 2.0.0"))
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"installed", Request{Deps: reqOf("app").Deps, Installed: inst("libgreet 1.0.0")},
			"cannot install app: app 1.0.0 depends on libgreet >=2, <1, but no version of libgreet can ever match >=2, <1: the constraint contradicts itself"},
		{"not installed", reqOf("app"),
			"cannot install app: app 1.0.0 depends on libgreet >=2, <1, but no version of libgreet can ever match >=2, <1: the constraint contradicts itself"},
		{"requested", reqOf("libgreet >=3, <2.5"),
			"cannot install libgreet: no version of libgreet can ever match >=3, <2.5: the constraint contradicts itself"},
		// 1.2.4-0 would match: not a contradiction (a review).
		{"only a pre-release could match", reqOf("libgreet >1.2.3, <1.2.4"),
			"cannot install libgreet: no version of libgreet matches >1.2.3, <1.2.4 (available: 1.0.0, 2.0.0)"},
		{"only the catalog lacks it", reqOf("libgreet >=3"),
			"cannot install libgreet: no version of libgreet matches >=3 (available: 1.0.0, 2.0.0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(cat, tt.req)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// pigeonCatalog is an attacker's catalog of 133 rows: hroot needs h1..h12,
// each with versions 1.0.0..1.10.0, and each hK 1.J.0 conflicts with
// every other h at 1.J.0: twelve packages, eleven versions, no plan (a
// pigeonhole: exponential for any search that learns by resolution, so the
// step bound ends it). The search ran its million steps, 2.5 minutes of
// CPU and 420 MB, deaf to Ctrl-C and SIGTERM; with watched nogoods and
// shared restrictions, 1.6-2.1 s and a 140-155 MB peak heap
// (BenchmarkResolvePigeon).
func pigeonCatalog() catalog {
	var root []string
	cands := []Candidate{}
	for k := 1; k <= 12; k++ {
		root = append(root, fmt.Sprintf("h%d", k))
		for j := 0; j <= 10; j++ {
			var deps []string
			for m := 1; m <= 12; m++ {
				if m != k {
					deps = append(deps, fmt.Sprintf("!h%d =1.%d.0", m, j))
				}
			}
			cands = append(cands, pv(fmt.Sprintf("h%d 1.%d.0", k, j), deps...))
		}
	}
	cands = append(cands, pv("hroot 1.0.0", root...))
	return mkCatalog(cands...)
}

// TestResolveStops: a search whose context ends stops within a few
// hundred steps with the context's error, which the CLI reports as
// interrupted, not after its step cap.
func TestResolveStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := reqOf("hroot")
	req.Context = ctx
	start := time.Now()
	_, err := Resolve(pigeonCatalog(), req)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if took > 5*time.Second {
		t.Fatalf("stopped after %v, want soon after its context ended (200 ms)", took)
	}
	t.Logf("stopped after %v", took.Round(time.Millisecond))
}
