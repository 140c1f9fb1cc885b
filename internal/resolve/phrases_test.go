package resolve

import (
	"slices"
	"testing"
)

func TestJoinAndOthers(t *testing.T) {
	for _, tc := range []struct {
		xs   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b", "c"}, "a, b and c"},
		{[]string{"a", "b", "c", "d"}, "a, b, c and 1 other"},
		{[]string{"a", "b", "c", "d", "e"}, "a, b, c and 2 others"},
	} {
		xs := slices.Clone(tc.xs)
		if got := JoinAndOthers(xs, 3); got != tc.want {
			t.Errorf("JoinAndOthers(%q, 3) = %q, want %q", tc.xs, got, tc.want)
		}
		if !slices.Equal(xs, tc.xs) {
			t.Errorf("JoinAndOthers(%q, 3) changed its argument to %q", tc.xs, xs)
		}
	}
}
