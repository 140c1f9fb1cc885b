package cli

import (
	"slices"
	"testing"
)

func TestCompletions(t *testing.T) {
	names := []string{"libgreet", "hello", "Hello-World", "help", "hello", "zstd"}
	tests := []struct {
		args       []string
		toComplete string
		want       []string
	}{
		{nil, "", []string{"Hello-World", "hello", "help", "libgreet", "zstd"}},
		{nil, "he", []string{"Hello-World", "hello", "help"}},
		{nil, "HEL", []string{"Hello-World", "hello", "help"}}, // case is ignored
		{nil, "hello", []string{"Hello-World", "hello"}},
		{[]string{"hello"}, "hel", []string{"Hello-World", "help"}}, // given already
		{[]string{"HELP"}, "hel", []string{"Hello-World", "hello"}},
		{nil, "x", nil},
	}
	for _, tt := range tests {
		if got := Completions(names, tt.args, tt.toComplete); !slices.Equal(got, tt.want) {
			t.Errorf("Completions(%q, %q) = %q, want %q", tt.args, tt.toComplete, got, tt.want)
		}
	}
	if names[0] != "libgreet" {
		t.Errorf("Completions sorted its caller's slice: %q", names)
	}
}

func TestVersionCompletions(t *testing.T) {
	versions := []string{"1.0.0", "1.1.0", "2.0.0-rc.1"}
	tests := []struct {
		toComplete string
		want       []string
	}{
		{"hello@", []string{"hello@1.0.0", "hello@1.1.0", "hello@2.0.0-rc.1"}},
		{"hello@1", []string{"hello@1.0.0", "hello@1.1.0"}},
		{"HELLO@2", []string{"hello@2.0.0-rc.1"}},
		{"hello@3", nil},
	}
	for _, tt := range tests {
		if got := VersionCompletions("hello", versions, tt.toComplete); !slices.Equal(got, tt.want) {
			t.Errorf("VersionCompletions(%q) = %q, want %q", tt.toComplete, got, tt.want)
		}
	}
}
