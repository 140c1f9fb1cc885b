package clientcli

import "testing"

func TestUnknownHint(t *testing.T) {
	known := []string{"hello", "help", "libgreet"}
	const fallback = "dist-client search TERM finds packages"
	tests := []struct {
		requests []string
		want     string
		ok       bool
	}{
		{[]string{"hello"}, "", false},
		{[]string{"HELLO", "libgreet@1.0.0"}, "", false}, // names match ignoring case; @ parts are not names
		{[]string{"helo"}, "did you mean hello or help? (" + fallback + ")", true},
		{[]string{"libgret@>=1"}, "did you mean libgreet? (" + fallback + ")", true},
		{[]string{"hello", "libgret"}, "did you mean libgreet? (" + fallback + ")", true},
		{[]string{"helo", "libgret"}, "helo: did you mean hello or help?; libgret: did you mean libgreet? (" + fallback + ")", true},
		{[]string{"zzzzzz"}, fallback, true},
		{[]string{"hello@bogus"}, "", false},                                             // a bad constraint of a known name
		{[]string{"helo@bogus"}, "did you mean hello or help? (" + fallback + ")", true}, // of an unknown one
	}
	for _, tt := range tests {
		got, ok := unknownHint(tt.requests, known, fallback)
		if got != tt.want || ok != tt.ok {
			t.Errorf("unknownHint(%q) = %q, %v; want %q, %v", tt.requests, got, ok, tt.want, tt.ok)
		}
	}
}
