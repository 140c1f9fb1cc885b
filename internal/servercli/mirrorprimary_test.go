package servercli

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/paths"
)

// A mirror started without a URL follows the primaries its data home
// remembers (it said "no primary URL"); one remembered with a password,
// kept masked, must be given again; with none remembered, the usage
// error stays.
func TestRememberedPrimaries(t *testing.T) {
	for _, tt := range []struct {
		name string
		file string // primary.json; "" for none
		want []string
		err  string
	}{
		{name: "none remembered"},
		{name: "two", file: `{"primary": ["http://p:9090", "http://m:9090"]}`, want: []string{"http://p:9090", "http://m:9090"}},
		{name: "a password", file: `{"primary": ["https://u:xxxxx@p.example"]}`,
			err: "mirror: no primary URL given, and the one this data home followed, https://u:xxxxx@p.example, has a password, which is not kept: give it again in DISTPAC_PRIMARY_URLS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sp := paths.Home{Root: t.TempDir()}.Server()
			if tt.file != "" {
				if err := os.MkdirAll(filepath.Dir(sp.MirrorPrimaries()), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(sp.MirrorPrimaries(), []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := rememberedPrimaries(sp)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.As(err, new(*cli.UsageError)) {
					t.Fatalf("rememberedPrimaries = %v, %v; want the usage error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("rememberedPrimaries = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
