package publish_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

func TestRenewDue(t *testing.T) {
	now := time.Unix(1800000000, 0)
	week := 7 * 24 * time.Hour
	tests := []struct {
		name string
		left time.Duration
		due  bool
	}{
		{"fresh", week, false},
		{"just over half left", week/2 + time.Second, false},
		{"under half left", week/2 - time.Second, true},
		{"expired", -time.Hour, true},
		{"longer than configured (catalog_valid_for shortened)", week + time.Minute, true},
	}
	for _, tt := range tests {
		m := catalog.Meta{ValidUntil: now.Add(tt.left)}
		if got := publish.RenewDue(m, week, now); got != tt.due {
			t.Errorf("%s: RenewDue = %v, want %v", tt.name, got, tt.due)
		}
	}
}

// Renew re-signs only when due, under a new serial, with the configured
// validity, and publishes a pair that verifies.
func TestRenew(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	p.Config.CatalogValidFor = config.Duration(time.Hour)
	if _, err := p.Add(ctx, []string{writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "x")}); err != nil {
		t.Fatal(err)
	}
	added := publishedMeta(t, p).Serial
	m, renewed, err := p.Renew(ctx)
	if err != nil || renewed || m.Serial != added {
		t.Fatalf("Renew of a fresh catalog = %+v, %v, %v; want serial %d kept", m, renewed, err, added)
	}
	p.Config.CatalogValidFor = config.Duration(10 * time.Second) // shortened: due at once
	m, renewed, err = p.Renew(ctx)
	if err != nil || !renewed || m.Serial <= added || m.ValidUntil.Sub(m.Created) != 10*time.Second {
		t.Fatalf("Renew after shortening = %+v, %v, %v; want a serial above %d valid for 10s", m, renewed, err, added)
	}
	key, err := signing.Load(p.Paths.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := publish.ReadPublished(ctx, p.Paths.PublicDir(), key.Public(), m.Serial)
	if err != nil || !snap.Meta.ValidUntil.Equal(m.ValidUntil) {
		t.Fatalf("published pair after Renew: %+v, %v", snap.Meta, err)
	}
	if len(snap.Packages) != 1 || snap.Packages[0].Name != "foo" {
		t.Errorf("published packages after Renew: %+v, want foo", snap.Packages)
	}
}

// Rotate hands the key over with a statement signed by the old key, twice,
// and the chain leads from the first key to the last; a crash that left
// signing.key.next behind is resumed with that key.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	if _, err := p.Rotate(ctx); !errors.Is(err, publish.ErrNoKey) {
		t.Fatalf("Rotate without a key = %v, want ErrNoKey", err)
	}
	if _, err := p.Add(ctx, []string{writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "x")}); err != nil {
		t.Fatal(err)
	}
	first, err := signing.Load(p.Paths.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	// A rotation that crashed right after writing the new key.
	pending, err := signing.LoadOrCreate(p.Paths.SigningKey() + ".next")
	if err != nil {
		t.Fatal(err)
	}
	added := publishedMeta(t, p).Serial
	r1, err := p.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Statement.Old.Equal(first.Public()) || !r1.Statement.New.Equal(pending.Public()) || r1.Statement.Serial != added+1 {
		t.Fatalf("first rotation = %+v, want first -> the pending key at serial %d", r1.Statement, added+1)
	}
	r2, err := p.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := signing.Load(p.Paths.SigningKey())
	if err != nil || !last.Public().Equal(r2.Statement.New) {
		t.Fatalf("signing.key = %v (%v), want the second rotation's new key", last, err)
	}
	if _, err := os.Stat(p.Paths.SigningKey() + ".next"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("signing.key.next left behind (%v)", err)
	}
	snap, err := publish.ReadPublished(ctx, p.Paths.PublicDir(), last.Public(), r2.Statement.Serial)
	if err != nil || r2.Statement.Serial <= r1.Statement.Serial {
		t.Fatalf("published pair after two rotations (the second at serial %d, the first at %d): %v", r2.Statement.Serial, r1.Statement.Serial, err)
	}
	chain, err := signing.ParseRotations(snap.Rotation)
	if err != nil || len(chain) != 2 {
		t.Fatalf("chain = %d statements, %v; want 2", len(chain), err)
	}
	path, err := signing.Follow(chain, first.Public())
	if err != nil || len(path) != 2 || !path[1].New.Equal(last.Public()) {
		t.Fatalf("Follow from the first key = %v, %v; want it to reach the last", path, err)
	}
}

// NewKey, for a key that is lost, publishes the catalog signed by the new
// key under the next serial, at once: the pair published before (signed by
// the lost key) was served until the next add, so that clients told to
// trust the new key were refused, and a client that trusted on first use
// again pinned the lost one. It refuses while signing.key is there, and on
// a data home that never published it makes the key and publishes nothing.
func TestNewKey(t *testing.T) {
	ctx := context.Background()
	t.Run("fresh data home", func(t *testing.T) {
		p := newPublisher(t)
		k, serial, err := p.NewKey(ctx)
		if err != nil || k == nil || serial != 0 {
			t.Fatalf("NewKey on a fresh home = %v, %d, %v; want a key and serial 0", k, serial, err)
		}
		if _, err := os.Stat(filepath.Join(p.Paths.PublicDir(), publish.SigFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a catalog was published on a fresh home (%v)", err)
		}
	})
	p := newPublisher(t)
	if _, err := p.Add(ctx, []string{writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Rotate(ctx); err != nil { // a new serial, and a chain the new key cannot follow
		t.Fatal(err)
	}
	rotated := publishedMeta(t, p).Serial
	// A stolen key is still there: the refusal says how to go on.
	if _, _, err := p.NewKey(ctx); err == nil || !strings.Contains(err.Error(), "key rotate") || !strings.Contains(err.Error(), "'mv "+p.Paths.SigningKey()+" "+p.Paths.SigningKey()+".stolen'") {
		t.Fatalf("NewKey with signing.key there = %v, want a refusal naming key rotate, and how to move a stolen key away", err)
	}
	if err := os.Remove(p.Paths.SigningKey()); err != nil { // lost
		t.Fatal(err)
	}
	k, serial, err := p.NewKey(ctx)
	if err != nil || serial <= rotated {
		t.Fatalf("NewKey after the key was lost = %d, %v; want a serial above %d published", serial, err, rotated)
	}
	onDisk, err := signing.Load(p.Paths.SigningKey())
	if err != nil || !onDisk.Public().Equal(k.Public()) {
		t.Fatalf("signing.key = %v (%v), want the key NewKey returned", onDisk, err)
	}
	snap, err := publish.ReadPublished(ctx, p.Paths.PublicDir(), k.Public(), serial)
	if err != nil {
		t.Fatalf("published pair after NewKey: %v; want serial %d signed by the new key", err, serial)
	}
	if len(snap.Packages) != 1 || snap.Packages[0].Name != "foo" {
		t.Errorf("published packages after NewKey: %+v, want foo", snap.Packages)
	}
	if snap.Rotation != nil {
		t.Errorf("the lost key's rotation statements are still published: %q", snap.Rotation)
	}
}

// TestPublishWithdrawsStaleRotations: a publication keeps the rotation
// statements that lead to its key (or hand over from it: a rotation that
// crashed before its commit) and sets aside those that cannot, because the
// key was lost and replaced (a mirror refused to follow a publisher that
// still served them); statements set aside are published again once the
// key they lead to signs again (a key restored from a backup). A damaged
// chain is left alone, and the publication succeeds.
func TestPublishWithdrawsStaleRotations(t *testing.T) {
	ctx := context.Background()
	key := func() *signing.Key {
		k, err := signing.LoadOrCreate(filepath.Join(t.TempDir(), "signing.key"))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0, k1, k2 := key(), key(), key()
	at := time.Now()
	toK1 := signing.NewRotation(k0, k1.Public(), 2, at)
	toK2 := signing.NewRotation(k1, k2.Public(), 3, at)
	chain := func(rs ...signing.Rotation) []byte { return signing.MarshalRotations(rs) }
	for _, tt := range []struct {
		name                     string
		published, aside         []byte // nil: no file
		sign                     *signing.Key
		wantPublished, wantAside bool
	}{
		{"chain ends at the key", chain(toK1), nil, k1, true, false},
		{"chain hands over from the key (a rotation before its commit)", chain(toK1, toK2), nil, k1, true, false},
		{"chain ends at a lost key", chain(toK1), nil, k2, false, true},
		{"the lost key restored", nil, chain(toK1), k1, true, false},
		{"set aside, still another key", nil, chain(toK1), k2, false, true},
		{"damaged chain", []byte("not a chain"), nil, k2, true, false},
		{"no chain", nil, nil, k2, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			path := filepath.Join(dir, publish.RotationFile)
			for p, b := range map[string][]byte{path: tt.published, path + ".withdrawn": tt.aside} {
				if b != nil {
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := publish.Publish(ctx, db, tt.sign, dir); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]bool{path: tt.wantPublished, path + ".withdrawn": tt.wantAside} {
				if _, err := os.Stat(p); (err == nil) != want {
					t.Errorf("%s after publishing: %v, want it there: %v", filepath.Base(p), err, want)
				}
			}
		})
	}
}
