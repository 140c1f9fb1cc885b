package servercli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
)

// Every command words a missing or an extra argument through cli.Args, as
// a usage error with its usage line: mirror alone printed cobra's own
// "requires at least 1 arg(s), only received 0".
func TestArgsAreUsageErrors(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("http://h%d", i)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Args == nil || !c.HasParent() {
			return
		}
		for _, args := range [][]string{nil, many} {
			err := c.Args(c, args)
			if err != nil && !errors.As(err, new(*cli.UsageError)) {
				t.Errorf("%s with %d arguments: %q is not worded by cli.Args", c.CommandPath(), len(args), err)
			}
		}
	}
	walk(newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

// mirror follows at most config.MaxServers primaries, as a client lists
// at most that many servers.
func TestMirrorArgs(t *testing.T) {
	mirror, _, err := newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}).Find([]string{"mirror"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		want string
	}{
		{0, ""}, // then from DISTPAC_PRIMARY_URLS (TestPrimaryURLs)
		{1, ""},
		{config.MaxServers, ""},
		{config.MaxServers + 1, fmt.Sprintf(`unexpected argument "http://h%d" (dist-server mirror [URL...] takes at most %d)`, config.MaxServers, config.MaxServers)},
	}
	for _, tt := range tests {
		args := make([]string, tt.n)
		for i := range args {
			args[i] = fmt.Sprintf("http://h%d", i)
		}
		err := mirror.Args(mirror, args)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("%d URLs: %v, want %q", tt.n, err, tt.want)
		}
	}
}

// TestPrimaryURLs: without arguments a mirror's URLs come from
// DISTPAC_PRIMARY_URLS, so that a password in one is not on the command
// line (which ps shows every user); the arguments win over it.
func TestPrimaryURLs(t *testing.T) {
	many := strings.Repeat("http://h ", config.MaxServers+1)
	for _, tt := range []struct {
		args []string
		env  string
		want []string
		err  string
	}{
		{[]string{"http://a:9090"}, "http://b", []string{"http://a:9090"}, ""},
		{nil, " http://u:p@a:9090  https://b\n", nil, ""},
		{nil, "http://u:p@a:9090  https://b\t", []string{"http://u:p@a:9090", "https://b"}, ""},
		{nil, "", nil, "mirror: no primary URL: give it as an argument, or in DISTPAC_PRIMARY_URLS (there, unlike on the command line, other users cannot read a password it holds)"},
		{nil, many, nil, fmt.Sprintf("mirror: DISTPAC_PRIMARY_URLS holds %d URLs, at most %d are tried", config.MaxServers+1, config.MaxServers)},
		{nil, "ftp://u:secret@a", nil, `mirror: "ftp://u:xxxxx@a": want the primary's URL, http://HOST[:PORT] or https://…`},
	} {
		got, err := primaryURLs(tt.args, tt.env)
		if tt.err != "" || err != nil {
			if fmt.Sprint(err) != tt.err || !errors.As(err, new(*cli.UsageError)) {
				t.Errorf("%q, %q: %v, want the usage error %q", tt.args, tt.env, err, tt.err)
			}
			continue
		}
		if tt.want != nil && !slices.Equal(got, tt.want) {
			t.Errorf("%q, %q: %q, want %q", tt.args, tt.env, got, tt.want)
		}
	}
}

// TestMirrorURLs: each URL a mirror follows is a primary's base URL, and
// none is given twice; mirror accepted the same URL twice, where a client's
// server_urls refuses it.
func TestMirrorURLs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // "" for no error
	}{
		{[]string{"http://a:9090"}, ""},
		{[]string{"http://a:9090", "https://b"}, ""},
		{[]string{"http://a:9090", "http://a:9090"}, `mirror: "http://a:9090" is given twice (URLs 1 and 2)`},
		{[]string{"http://a:9090/", "https://b", "http://a:9090"}, `mirror: "http://a:9090" is given twice (URLs 1 and 3)`},
		{[]string{"ftp://a"}, `mirror: "ftp://a": want the primary's URL, http://HOST[:PORT] or https://…`},
		// The primary's URL may hold a password (it is published nowhere),
		// unlike the server's own public_url.
		{[]string{"https://u:secret@a"}, ""},
		{[]string{"https://u:secret@a", "https://v:secret@a"}, ""},
		{[]string{"https://u:old@a", "https://u:new@a/"}, `mirror: "https://u:xxxxx@a/" is given twice, with two passwords (URLs 1 and 2): a server takes one password for a user, and messages and servers.json show the two alike (USER:xxxxx@): keep the one that works`},
	} {
		err := checkPrimaryURLs(tt.args)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("%q: %v, want %q", tt.args, err, tt.want)
		}
		if err != nil && !errors.As(err, new(*cli.UsageError)) {
			t.Errorf("%q: %v is not a usage error", tt.args, err)
		}
	}
}
