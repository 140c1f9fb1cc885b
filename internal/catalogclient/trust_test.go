package catalogclient_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/signing"
)

// A catalog past its valid_until is refused, from a fresh download and from
// a 304 that vouches for the held one, and sync.json does not move.
func TestSyncRefusesExpiredCatalog(t *testing.T) {
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	pub.publish(5, buildCatalog(t, 5, "", "foo")) // valid for catalog.DefaultValidFor from now
	later := time.Now().Add(8 * 24 * time.Hour)

	t.Run("fresh download", func(t *testing.T) {
		dir := t.TempDir()
		opts := syncOpts(pub.ts.URL, dir, key.Public())
		opts.Now = func() time.Time { return later }
		_, err := catalogclient.Sync(context.Background(), opts)
		if !errors.Is(err, catalogclient.ErrExpired) ||
			!strings.Contains(err.Error(), "catalog from "+pub.ts.URL+"/packages.db expired 24h ago (serial 5, made ") ||
			!strings.Contains(err.Error(), "the server has not re-signed it; ask its operator, or try another mirror") {
			t.Fatalf("Sync = %v, want ErrExpired saying how old and what to do", err)
		}
		if _, err := catalogclient.Path(dir); !errors.Is(err, catalogclient.ErrNoCatalog) {
			t.Fatalf("an expired catalog was installed (%v)", err)
		}
	})

	t.Run("not modified", func(t *testing.T) {
		dir := t.TempDir()
		opts := syncOpts(pub.ts.URL, dir, key.Public())
		mustSync(t, opts)
		state, err := os.ReadFile(filepath.Join(dir, "sync.json"))
		if err != nil {
			t.Fatal(err)
		}
		opts.Now = func() time.Time { return later }
		_, err = catalogclient.Sync(context.Background(), opts)
		if !errors.Is(err, catalogclient.ErrExpired) {
			t.Fatalf("Sync after expiry (304) = %v, want ErrExpired", err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "sync.json")); string(after) != string(state) {
			t.Fatalf("sync.json moved for a catalog that was not accepted:\n%s\nwas\n%s", after, state)
		}
		db, err := catalogclient.Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = catalogclient.CheckExpiry(context.Background(), db, later)
		if !errors.Is(err, catalogclient.ErrExpired) || !strings.Contains(err.Error(), "the local catalog expired 24h ago") {
			t.Fatalf("CheckExpiry = %v, want the local catalog expired", err)
		}
		if err := catalogclient.CheckExpiry(context.Background(), db, time.Now()); err != nil {
			t.Fatalf("CheckExpiry now = %v", err)
		}
	})
}

// A client that pinned key a follows the server's rotation a -> b -> c
// (having missed b) and pins c; statements that do not come from the
// pinned key are refused.
func TestSyncFollowsKeyRotation(t *testing.T) {
	a, b, c, x := newKey(t), newKey(t), newKey(t), newKey(t)
	at := time.Now()
	chain := []signing.Rotation{signing.NewRotation(a, b.Public(), 6, at), signing.NewRotation(b, c.Public(), 7, at)}

	t.Run("pinned key follows", func(t *testing.T) {
		pub := newPublisher(t, a, nil)
		pub.publish(5, buildCatalog(t, 5, "", "foo"))
		dir := t.TempDir()
		mustSync(t, syncOpts(pub.ts.URL, dir, nil)) // pins a

		pub.key = c
		pub.srv.SetRotation(signing.MarshalRotations(chain))
		pub.publish(7, buildCatalog(t, 7, "", "foo", "bar"))
		res := mustSync(t, syncOpts(pub.ts.URL, dir, nil))
		if !res.Updated || res.Serial != 7 || len(res.Rotated) != 2 || !res.Rotated[1].New.Equal(c.Public()) {
			t.Fatalf("sync = %+v, want serial 7 reached through two rotations", res)
		}
		trust, err := catalogclient.LoadTrust(dir, nil)
		if err != nil || !trust.Key.Equal(c.Public()) {
			t.Fatalf("pinned key = %v (%v), want the new key", trust.Key, err)
		}
		// From now on c verifies directly; the history is kept (rollback
		// refused: the server is behind, and the catalog held is kept).
		pub.publish(6, buildCatalog(t, 6, "", "foo"))
		res = mustSync(t, syncOpts(pub.ts.URL, dir, nil))
		if res.Updated || res.Serial != 7 || len(res.Behind) != 1 || !errors.Is(res.Behind[0].Err, catalogclient.ErrRollback) {
			t.Fatalf("older serial after the rotation = %+v, want serial 7 kept, the server behind", res)
		}
		if s, _ := heldSerial(t, dir); s != 7 {
			t.Fatalf("held serial %d, want 7", s)
		}
	})

	t.Run("configured key follows without changing server.key", func(t *testing.T) {
		pub := newPublisher(t, c, nil)
		pub.srv.SetRotation(signing.MarshalRotations(chain))
		pub.publish(7, buildCatalog(t, 7, "", "foo"))
		dir := t.TempDir()
		res := mustSync(t, syncOpts(pub.ts.URL, dir, a.Public()))
		if len(res.Rotated) != 2 {
			t.Fatalf("sync = %+v, want two rotations followed", res)
		}
		if _, err := os.Stat(filepath.Join(dir, "server.key")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("server.key written for a configured key (%v)", err)
		}
		// The catalog held is c's: trust show tells the user to update
		// server_key.
		if by, err := catalogclient.HeldSignedBy(dir, a.Public()); err != nil || by {
			t.Fatalf("HeldSignedBy(configured key) = %v, %v; want false", by, err)
		}
		if by, err := catalogclient.HeldSignedBy(dir, c.Public()); err != nil || !by {
			t.Fatalf("HeldSignedBy(new key) = %v, %v; want true", by, err)
		}
		// A mirror keeps the statements with the catalog (KeepRotation):
		// VerifiedBy then verifies it from the configured key through them,
		// and refuses a key the statements do not start from.
		mdir := t.TempDir()
		opts := syncOpts(pub.ts.URL, mdir, a.Public())
		opts.KeepRotation = true
		mustSync(t, opts)
		held, err := catalogclient.ReadHeld(context.Background(), mdir)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			key  signing.PublicKey
			want bool
		}{{a.Public(), true}, {b.Public(), true}, {c.Public(), true}, {x.Public(), false}} {
			if err := held.VerifiedBy(tt.key); (err == nil) != tt.want {
				t.Errorf("VerifiedBy(%s) = %v, want ok %v", tt.key.Fingerprint(), err, tt.want)
			}
		}
		if plain, err := catalogclient.ReadHeld(context.Background(), dir); err != nil || plain.VerifiedBy(a.Public()) == nil {
			t.Errorf("VerifiedBy(configured key) without the statements kept = nil (%v), want an error", err)
		}
		// The next catalog is verified through the statements again.
		pub.publish(8, buildCatalog(t, 8, "", "foo", "bar"))
		if res := mustSync(t, syncOpts(pub.ts.URL, dir, a.Public())); len(res.Rotated) != 2 || res.Serial != 8 {
			t.Fatalf("second sync = %+v, want serial 8 through the same rotation", res)
		}
	})

	forged := signing.NewRotation(x, c.Public(), 6, at)
	forged.Old = a.Public() // names a, signed by x
	for _, tt := range []struct {
		name  string
		chain []signing.Rotation
		want  string
	}{
		{"statement from another key", []signing.Rotation{signing.NewRotation(x, c.Public(), 6, at)}, "no key rotation statement at "},
		{"statement naming the pinned key, signed by another", []signing.Rotation{forged}, "not signed by the key it names as old"},
		{"rotation to a key that did not sign the catalog", []signing.Rotation{signing.NewRotation(a, b.Public(), 6, at)}, "which did not sign it either"},
		{"fork", []signing.Rotation{chain[0], signing.NewRotation(a, c.Public(), 6, at)}, "hands over to two different keys"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pub := newPublisher(t, a, nil)
			pub.publish(5, buildCatalog(t, 5, "", "foo"))
			dir := t.TempDir()
			mustSync(t, syncOpts(pub.ts.URL, dir, nil))
			pub.key = c
			pub.srv.SetRotation(signing.MarshalRotations(tt.chain))
			pub.publish(7, buildCatalog(t, 7, "", "evil"))
			_, err := catalogclient.Sync(context.Background(), syncOpts(pub.ts.URL, dir, nil))
			if !errors.Is(err, catalogclient.ErrRotation) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "trust set") {
				t.Fatalf("Sync = %v, want ErrRotation containing %q", err, tt.want)
			}
			if serial, _ := heldSerial(t, dir); serial != 5 {
				t.Fatalf("held serial %d, want 5", serial)
			}
			if trust, _ := catalogclient.LoadTrust(dir, nil); !trust.Key.Equal(a.Public()) {
				t.Fatalf("pinned key changed to %s", trust.Key)
			}
		})
	}

	// A key set in client.yaml is changed there: `trust set` refuses to
	// replace it, so the refusal must not send the user to it.
	t.Run("configured key refused", func(t *testing.T) {
		pub := newPublisher(t, c, nil)
		pub.srv.SetRotation(signing.MarshalRotations([]signing.Rotation{signing.NewRotation(x, c.Public(), 6, at)}))
		pub.publish(7, buildCatalog(t, 7, "", "evil"))
		_, err := catalogclient.Sync(context.Background(), syncOpts(pub.ts.URL, t.TempDir(), a.Public()))
		if !errors.Is(err, catalogclient.ErrRotation) || !strings.Contains(err.Error(), "update server_key in client.yaml") || strings.Contains(err.Error(), "trust set") {
			t.Fatalf("Sync with server_key = %v, want ErrRotation that says to update server_key, not trust set", err)
		}
	})
}

// After `trust set` (or `trust reset`), the new key's catalogs start their
// own history: a publisher who lost key and catalog starts again at serial
// 1 and the client takes it; without the trust change it is refused.
func TestTrustChangeStartsANewHistory(t *testing.T) {
	old, fresh := newKey(t), newKey(t)
	pub := newPublisher(t, old, nil)
	pub.publish(5, buildCatalog(t, 5, "", "foo"))
	dir := t.TempDir()
	mustSync(t, syncOpts(pub.ts.URL, dir, nil))

	reborn := newPublisher(t, fresh, nil)
	reborn.publish(1, buildCatalog(t, 1, "again", "foo"))
	if _, err := catalogclient.Sync(context.Background(), syncOpts(reborn.ts.URL, dir, nil)); !errors.Is(err, catalogclient.ErrBadSignature) {
		t.Fatalf("sync before the trust change = %v, want ErrBadSignature", err)
	}
	t.Run("set", func(t *testing.T) {
		d := copyDir(t, dir)
		if err := catalogclient.Pin(d, nil, fresh.Public()); err != nil {
			t.Fatal(err)
		}
		res := mustSync(t, syncOpts(reborn.ts.URL, d, nil))
		if res.Serial != 1 || !res.Updated || res.Pinned != nil {
			t.Fatalf("sync after trust set = %+v, want serial 1 installed", res)
		}
		// The new history holds from now on.
		reborn.publish(1, buildCatalog(t, 1, "forked", "foo"))
		if _, err := catalogclient.Sync(context.Background(), syncOpts(reborn.ts.URL, d, nil)); !errors.Is(err, catalogclient.ErrSameSerial) {
			t.Fatalf("same serial, other bytes = %v, want ErrSameSerial", err)
		}
		reborn.publish(1, buildCatalog(t, 1, "again", "foo"))
	})
	t.Run("reset", func(t *testing.T) {
		d := copyDir(t, dir)
		if err := catalogclient.Unpin(d, nil); err != nil {
			t.Fatal(err)
		}
		res := mustSync(t, syncOpts(reborn.ts.URL, d, nil))
		if res.Serial != 1 || !res.Pinned.Equal(fresh.Public()) {
			t.Fatalf("sync after trust reset = %+v, want serial 1 and the new key pinned", res)
		}
	})
	t.Run("configured key", func(t *testing.T) {
		if err := catalogclient.Pin(dir, old.Public(), fresh.Public()); !errors.Is(err, catalogclient.ErrConfiguredKey) {
			t.Fatalf("Pin with a configured key = %v, want ErrConfiguredKey", err)
		}
		if err := catalogclient.Unpin(dir, old.Public()); !errors.Is(err, catalogclient.ErrConfiguredKey) {
			t.Fatalf("Unpin with a configured key = %v, want ErrConfiguredKey", err)
		}
	})
}

// copyDir copies a client directory (files and the catalog symlink).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case fi.IsDir():
			return os.MkdirAll(to, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, fi.Mode())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// The advice about server_key names the configuration file in use, and a
// server without /key (a web server serving the catalog pair) is named
// as the cause: the key must be given by hand.
func TestKeyAdviceNamesConfigFile(t *testing.T) {
	t.Parallel()
	key, other := newKey(t), newKey(t)
	db := buildCatalog(t, 1, "", "foo")
	static := httptest.NewServer(servePair("application/vnd.sqlite3", db, key.Sign(db))) // 404 for /key
	t.Cleanup(static.Close)
	forged := newPublisher(t, other, nil)
	forged.publish(1, buildCatalog(t, 1, "evil", "foo"))
	const cfg = "/etc/distpac/client.yaml"
	tests := []struct {
		name   string
		url    string
		key    signing.PublicKey
		advice string
	}{
		{"static mirror, no key", static.URL, nil,
			"; a static mirror (a web server serving /packages.db and /packages.db.sig) serves no /key, so the key must be given: set server_key in " + cfg + " to the output of `dist-server key` on the publishing server"},
		{"configured key, another publisher's catalog", forged.ts.URL, key.Public(), "; if the server's key really changed, update server_key in " + cfg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := syncOpts(tt.url, t.TempDir(), tt.key)
			opts.ConfigFile = cfg
			_, err := catalogclient.Sync(context.Background(), opts)
			if err == nil || !strings.HasSuffix(err.Error(), tt.advice) {
				t.Errorf("Sync: %v; want it to end in %q", err, tt.advice)
			}
		})
	}
}

// A key pinned on first use records the server it came from. When that
// server is no longer among the servers configured (the first server_url
// was the wrong server, corrected since), a catalog the key did not sign
// is refused with advice that says so and names trust reset; a pin file
// from before the field (the key alone) keeps working, with the advice it
// had.
func TestPinRecordsFirstUseServer(t *testing.T) {
	t.Parallel()
	right, wrong := newKey(t), newKey(t)
	good := newPublisher(t, right, nil)
	good.publish(1, buildCatalog(t, 1, "", "foo"))
	mistaken := newPublisher(t, wrong, nil)
	mistaken.publish(1, buildCatalog(t, 1, "other", "foo"))

	dir := t.TempDir()
	mustSync(t, syncOpts(mistaken.ts.URL, dir, nil)) // pins the wrong server's key
	tr, err := catalogclient.LoadTrust(dir, nil)
	if err != nil || !tr.Key.Equal(wrong.Public()) || tr.FirstUseFrom != mistaken.ts.URL {
		t.Fatalf("LoadTrust = %+v, %v; want the key of %s, pinned on first use from it", tr, err, mistaken.ts.URL)
	}

	opts := syncOpts(good.ts.URL, dir, nil)
	opts.ConfigFile = "/etc/distpac/client.yaml"
	_, err = catalogclient.Sync(context.Background(), opts)
	want := "; the key was pinned on first use from " + mistaken.ts.URL + " (in " + filepath.Join(dir, "server.key") + "); server_url in /etc/distpac/client.yaml is now " + good.ts.URL +
		": if that first server was a mistake, `dist-client trust reset` forgets its key and the next sync pins the key " + good.ts.URL + " presents; if the server's key really changed and its operator confirms the new one, run `dist-client trust set KEY`"
	if !errors.Is(err, catalogclient.ErrBadSignature) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Sync from the corrected server = %v\nwant it to end in %q", err, want)
	}

	// The server it was pinned from, still configured: it serves the
	// catalog, and the other's refusal has the usual advice.
	opts.ServerURLs = []string{good.ts.URL, mistaken.ts.URL}
	res, err := catalogclient.Sync(context.Background(), opts)
	if err != nil || res.Server != mistaken.ts.URL || len(res.Failed) != 1 {
		t.Fatalf("Sync with the first server still listed = %+v, %v; want %s after one failure", res, err, mistaken.ts.URL)
	}
	if msg := res.Failed[0].Error(); strings.Contains(msg, "first use") || !strings.HasSuffix(msg, "run `dist-client trust set KEY`") {
		t.Errorf("the refused server's error = %q, want the usual advice", msg)
	}

	// A pin file of one line (before the field): the key, of unknown origin.
	old := t.TempDir()
	if err := os.WriteFile(filepath.Join(old, "server.key"), []byte(wrong.Public().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := catalogclient.LoadTrust(old, nil); err != nil || !tr.Key.Equal(wrong.Public()) || tr.FirstUseFrom != "" {
		t.Fatalf("LoadTrust of an old pin file = %+v, %v", tr, err)
	}
	_, err = catalogclient.Sync(context.Background(), syncOpts(good.ts.URL, old, nil))
	if !errors.Is(err, catalogclient.ErrBadSignature) || !strings.HasSuffix(err.Error(), "; the key was pinned in "+filepath.Join(old, "server.key")+"; if the server's key really changed and its operator confirms the new one, run `dist-client trust set KEY`") {
		t.Errorf("Sync with an old pin file = %v; want the usual advice", err)
	}

	// A server.key with the origin on its second line (written so for a
	// while) still reads; an origin file of another key (a key followed
	// through a rotation by a version that writes none) counts for nothing.
	two := t.TempDir()
	if err := os.WriteFile(filepath.Join(two, "server.key"), []byte(wrong.Public().String()+"\nfirst-use-from: "+mistaken.ts.URL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := catalogclient.LoadTrust(two, nil); err != nil || !tr.Key.Equal(wrong.Public()) || tr.FirstUseFrom != mistaken.ts.URL {
		t.Fatalf("LoadTrust of a two-line server.key = %+v, %v", tr, err)
	}
	if err := os.WriteFile(filepath.Join(old, "server.key.origin"), []byte(right.Public().String()+"\nfirst-use-from: "+good.ts.URL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := catalogclient.LoadTrust(old, nil); err != nil || tr.FirstUseFrom != "" {
		t.Fatalf("LoadTrust with an origin of another key = %+v, %v; want no origin", tr, err)
	}

	// trust set pins the key alone: no origin to speak of.
	if err := catalogclient.Pin(dir, nil, right.Public()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "server.key")); string(b) != right.Public().String()+"\n" {
		t.Errorf("server.key after Pin = %q, want the key alone", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.key.origin")); !os.IsNotExist(err) {
		t.Errorf("server.key.origin after Pin: %v, want none", err)
	}
}
