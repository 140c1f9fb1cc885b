package redact

import (
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"http://127.0.0.1:9090", "http://127.0.0.1:9090"},
		{"https://repo.example/distpac/", "https://repo.example/distpac/"},
		{"https://user:secret@repo.example/", "https://user:xxxxx@repo.example/"},
		{"https://user:secret@repo.example:8443/distpac/packages.db", "https://user:xxxxx@repo.example:8443/distpac/packages.db"},
		{"http://user@repo.example/", "http://user@repo.example/"}, // no password: nothing secret
		{"http://:secret@repo.example/", "http://:xxxxx@repo.example/"},
		{"https://user:xxxxx@repo.example/", "https://user:xxxxx@repo.example/"}, // masked twice: the same
		{"https://user:p%40ss@repo.example/", "https://user:xxxxx@repo.example/"},
		{"http://repo.example/?to=a@b", "http://repo.example/?to=a@b"}, // an '@' past the authority
		// Strings url.Parse refuses or reads otherwise, as configuration
		// errors quote them.
		{"http://user:sec ret@repo.example/", "http://user:xxxxx@repo.example/"},
		{"http://user:secret@repo.example:port/", "http://user:xxxxx@repo.example:port/"},
		{"user:secret@repo.example:9090", "user:xxxxx@repo.example:9090"},
		{"http://user:se@cret@repo.example/x", "http://user:xxxxx@repo.example/x"},
		{"http://user:secret@[::1/", "http://user:xxxxx@[::1/"},
		// A '/', '?' or '#' in the password, not percent-encoded: no URL
		// (the port would be "se"), and the authority is not cut there.
		{"https://user:se#cret@repo.example/", "https://user:xxxxx@repo.example/"},
		{"https://user:se?cret@repo.example/x", "https://user:xxxxx@repo.example/x"},
		{"https://user:se/cret@repo.example/", "https://user:xxxxx@repo.example/"},
		{"https://user:se/cret@repo.example:port/", "https://user:xxxxx@repo.example:port/"},
		// A URL with an '@' past its authority keeps it.
		{"http://repo.example:8080/v@1/pkg", "http://repo.example:8080/v@1/pkg"},
	}
	for _, tt := range tests {
		got := URL(tt.in)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "secret") || strings.Contains(got, "p%40ss") {
			t.Errorf("URL(%q) = %q keeps the password", tt.in, got)
		}
		// Where url.Parse takes the userinfo, the result is Redacted's.
		if u, err := url.Parse(tt.in); err == nil && u.User != nil && got != u.Redacted() {
			t.Errorf("URL(%q) = %q, url.URL.Redacted gives %q", tt.in, got, u.Redacted())
		}
	}
}

// TestHasPassword: a password is there when URL would mask one; a user
// alone, or one already masked, is none.
func TestHasPassword(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"https://user:secret@repo.example/", true},
		{"http://:secret@repo.example/", true},
		{"https://user:se#cret@repo.example/", true}, // does not parse
		{"http://user@repo.example/", false},
		{"https://user:xxxxx@repo.example/", false},
		{"http://repo.example:8080/v@1/pkg", false},
		{"", false},
	} {
		if got := HasPassword(tt.in); got != tt.want {
			t.Errorf("HasPassword(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestHasUser: a user with a password or without, parsed or found by
// the text of a URL that does not parse.
func TestHasUser(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"https://user:secret@repo.example/", true},
		{"http://user@repo.example/", true},
		{"https://user:se#cret@repo.example/", true}, // does not parse
		{"https://user:xxxxx@repo.example/", true},
		{"http://repo.example:8080/v@1/pkg", false},
		{"http://repo.example/", false},
		{"", false},
	} {
		if got := HasUser(tt.in); got != tt.want {
			t.Errorf("HasUser(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestURLs(t *testing.T) {
	in := []string{"http://a:secret@h1", "http://h2"}
	got := URLs(in)
	if got[0] != "http://a:xxxxx@h1" || got[1] != "http://h2" || in[0] != "http://a:secret@h1" {
		t.Errorf("URLs(%q) = %q (and the input is now %q)", []string{"http://a:secret@h1", "http://h2"}, got, in)
	}
}

func TestWithoutUser(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:secret@repo.example/packages/", "https://repo.example/packages/"},
		{"https://user@repo.example/packages/", "https://repo.example/packages/"},
		{"https://repo.example/packages/", "https://repo.example/packages/"},
		{"http://user:sec ret@repo.example/", "http://user:xxxxx@repo.example/"}, // no URL: masked only
	}
	for _, tt := range tests {
		if got := WithoutUser(tt.in); got != tt.want {
			t.Errorf("WithoutUser(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
