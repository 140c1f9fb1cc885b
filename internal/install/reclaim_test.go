package install

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestStateGivesSpaceBack: a command that removes many recorded files
// leaves installed.db about as small as what stays needs (the attacker's
// package of 300,000 empty files, scaled to 12,000, left it at 66 MB), and
// a small removal leaves the file alone. What stays reads back whole
// (consistent checks every record's files on disk).
func TestStateGivesSpaceBack(t *testing.T) {
	many := map[string]string{}
	for i := range 12000 {
		many[fmt.Sprintf("assets/many/d%02d/f%05d", i/1000, i)] = ""
	}
	short := testing.Short()
	// One publisher for every case: archiving the big package takes as
	// long as installing it.
	pub := newWorld(t)
	dirs := []string{
		pub.pkg("keep", "1.0.0", map[string]string{"assets/keep/a": "a", "assets/keep/b": "b"}),
		pub.pkg("small", "1.0.0", map[string]string{"assets/small/a": "a"}),
	}
	if !short {
		dirs = append(dirs, pub.pkg("big", "1.0.0", many), pub.pkg("big", "2.0.0", map[string]string{"assets/one": "1"}))
	}
	pub.publish(dirs...)
	tests := []struct {
		name       string
		install    []string
		run        func(ctx context.Context, c *Client) error
		wantShrink bool
	}{
		{"uninstall of 12,000 files", []string{"keep", "big@1.0.0"}, func(ctx context.Context, c *Client) error {
			return c.Uninstall(ctx, []string{"big"}, false)
		}, true},
		{"upgrade to a version of one file", []string{"keep", "big@1.0.0"}, func(ctx context.Context, c *Client) error {
			return c.Upgrade(ctx, []string{"big"}, false)
		}, true},
		{"uninstall of a small package", []string{"keep", "small"}, func(ctx context.Context, c *Client) error {
			return c.Uninstall(ctx, []string{"small"}, false)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if short && tt.wantShrink {
				t.Skip("installs 12,000 files")
			}
			ctx := context.Background()
			w := newWorld(t)
			w.pub = pub.pub
			w.receive()
			if err := w.client.Install(ctx, tt.install); err != nil {
				t.Fatal(err)
			}
			size := func() int64 {
				fi, err := os.Stat(w.client.Paths.Installed())
				if err != nil {
					t.Fatal(err)
				}
				return fi.Size()
			}
			before := size()
			start := time.Now()
			if err := tt.run(ctx, w.client); err != nil {
				t.Fatalf("%v\n%s", err, w.out)
			}
			after := size()
			t.Logf("installed.db %d -> %d bytes; the command took %v", before, after, time.Since(start))
			if tt.wantShrink && after*4 > before {
				t.Fatalf("installed.db is %d bytes after the removal, was %d: the space was not given back", after, before)
			}
			if !tt.wantShrink && after < before {
				t.Fatalf("installed.db shrank from %d to %d bytes after a small removal: a VACUUM ran for nothing", before, after)
			}
			w.consistent()
			if r, ok := w.state().Get("keep"); !ok || r.Version != "1.0.0" {
				t.Fatalf("keep after the removal: %+v, %v", r, ok)
			}
		})
	}
}
