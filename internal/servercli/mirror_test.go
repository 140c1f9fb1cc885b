package servercli

import (
	"errors"
	"testing"

	"github.com/distpac/distpac/internal/cli"
)

// The URL to follow is the server's base URL; the URL of a file it serves
// is refused with the base URL to give instead.
func TestCheckPrimaryURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" when accepted
	}{
		{"http://127.0.0.1:9090", ""},
		{"https://packages.example.org/distpac/", ""},
		{"http://127.0.0.1:9090/packages.db", `mirror: "http://127.0.0.1:9090/packages.db" is the URL of a file the server serves (packages.db): give the server's base URL (its public_url): http://127.0.0.1:9090`},
		{"https://example.org/distpac/packages.db.sig", `mirror: "https://example.org/distpac/packages.db.sig" is the URL of a file the server serves (packages.db.sig): give the server's base URL (its public_url): https://example.org/distpac`},
		{"http://h/packages.db.rotation/", `mirror: "http://h/packages.db.rotation/" is the URL of a file the server serves (packages.db.rotation): give the server's base URL (its public_url): http://h`},
		{"http://h/key", `mirror: "http://h/key" is the URL of a file the server serves (key): give the server's base URL (its public_url): http://h`},
		{"ftp://h", `mirror: "ftp://h": want the primary's URL, http://HOST[:PORT] or https://…`},
	}
	for _, tt := range tests {
		err := checkPrimaryURL(tt.url)
		var u *cli.UsageError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", tt.url, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.As(err, &u)):
			t.Errorf("%s: %v, want the usage error\n  %s", tt.url, err, tt.want)
		}
	}
}
