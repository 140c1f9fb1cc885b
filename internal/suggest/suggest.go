// Package suggest finds the names closest to one a user mistyped, for the
// "did you mean" hints of dist-client and dist-server. It is a leaf: it
// knows strings, not catalogs, so every command can use it.
package suggest

import (
	"cmp"
	"slices"
	"strings"
)

// maxLen bounds the names compared: package names are at most 128 bytes
// (DESIGN.md §3), and the distance costs len(a)·len(b) steps.
const maxLen = 128

// Closest returns up to n of candidates closest to name by edit distance
// (insertions, deletions, substitutions and swaps of neighbours, ignoring
// case), nearest first, then alphabetical. A candidate counts as close when
// the distance is at most a third of name's length (at least 1, at most 3),
// or when one name contains the other ("greet" for "libgreet"). An exact
// match ignoring case comes first.
func Closest(name string, candidates []string, n int) []string {
	if n <= 0 || name == "" || len(name) > maxLen {
		return nil
	}
	want := strings.ToLower(name)
	limit := min(max(len(want)/3, 1), 3)
	type hit struct {
		name string
		dist int
	}
	var hits []hit
	seen := map[string]bool{}
	for _, c := range candidates {
		if c == "" || len(c) > maxLen || seen[c] {
			continue
		}
		seen[c] = true
		lc := strings.ToLower(c)
		d := Distance(want, lc)
		switch {
		case d <= limit:
		case len(want) >= 3 && (strings.Contains(lc, want) || strings.Contains(want, lc) && len(lc) >= 3):
			// A substring is a good guess however long the rest is,
			// but rank it after every near-miss.
			d = limit + 1 + abs(len(lc)-len(want))
		default:
			continue
		}
		hits = append(hits, hit{c, d})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.name, b.name))
	})
	out := make([]string, 0, min(n, len(hits)))
	for _, h := range hits[:min(n, len(hits))] {
		out = append(out, h.name)
	}
	return out
}

// Typo returns the candidate a typo away from name (at most two edits,
// ignoring case), the nearest, then the first in alphabetical order; ""
// when none is. For the keys of a file (a config key, a manifest key, a
// package directory's assets/ and scripts/), where a near miss is the
// mistake and a substring is not.
func Typo(name string, candidates []string) string {
	if len(name) > maxLen {
		return ""
	}
	want := strings.ToLower(name)
	best, bestDist := "", 3
	for _, c := range candidates {
		if len(c) > maxLen {
			continue
		}
		if d := Distance(want, strings.ToLower(c)); d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the optimal string alignment distance between a and b (bytes,
// case counts): the Levenshtein distance where swapping two neighbouring
// bytes costs 1, the commonest typo ("hlelo"). It costs len(a)·len(b) steps;
// callers bound the lengths.
func Distance(a, b string) int {
	// Three rows: two back (for swaps), one back and this one.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Phrase is the hint text for names: "did you mean hello?" or "did you
// mean hello, help or helm?"; "" when there are none.
func Phrase(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "did you mean " + names[0] + "?"
	}
	return "did you mean " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1] + "?"
}
