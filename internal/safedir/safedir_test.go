package safedir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCheck: what a data directory or prefix may sit in, built under
// t.TempDir() (0700, the caller's) for each case.
func TestCheck(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		setup    func(t *testing.T, base string) string // returns the directory to check
		root     bool                                   // needs root (chown)
		wantPath string                                 // "" when it passes; else the path named, under base
		wantWhy  string
	}{
		{"own private dir", func(t *testing.T, b string) string { return mk(t, b, "d", 0o700) }, false, "", ""},
		{"own 0755 dir", func(t *testing.T, b string) string { return mk(t, b, "d", 0o755) }, false, "", ""},
		{"missing under own dir", func(t *testing.T, b string) string { return filepath.Join(mk(t, b, "d", 0o755), "x", "y") }, false, "", ""},
		{"world-writable dir itself", func(t *testing.T, b string) string { return mk(t, b, "d", 0o777) }, false, "d", "writable by its group and others"},
		{"other-writable dir itself", func(t *testing.T, b string) string { return mk(t, b, "d", 0o757) }, false, "d", "writable by others"},
		{"world-writable ancestor", func(t *testing.T, b string) string { return mk(t, mk(t, b, "a", 0o777), "d", 0o700) }, false, "a", "writable by"},
		{"missing under a world-writable dir", func(t *testing.T, b string) string { return filepath.Join(mk(t, b, "a", 0o777), "distpac", "client") }, false, "a", "writable by"},
		{"sticky world-writable ancestor", func(t *testing.T, b string) string { return mk(t, mk(t, b, "tmp", 0o1777), "d", 0o700) }, false, "", ""},
		{"missing under a sticky dir", func(t *testing.T, b string) string { return filepath.Join(mk(t, b, "tmp", 0o1777), "distpac-try") }, false, "", ""},
		{"sticky world-writable dir itself", func(t *testing.T, b string) string { return mk(t, b, "tmp", 0o1777) }, false, "tmp", "shared directory"},
		{"symlink to a world-writable dir", func(t *testing.T, b string) string {
			w := mk(t, b, "w", 0o777)
			return link(t, w, filepath.Join(mk(t, b, "p", 0o755), "share"))
		}, false, "w", "writable by"},
		{"symlink to an own dir", func(t *testing.T, b string) string {
			return link(t, mk(t, b, "real", 0o755), filepath.Join(mk(t, b, "p", 0o755), "share"))
		}, false, "", ""},
		{"dir owned by another user", func(t *testing.T, b string) string { return chown(t, mk(t, b, "d", 0o755), 4242) }, true, "d", "is owned by uid 4242, not by"},
		{"missing under a dir of another user", func(t *testing.T, b string) string {
			return filepath.Join(chown(t, mk(t, b, "a", 0o755), 4242), "distpac", "client", "staging")
		}, true, "a", "is owned by uid 4242, not by"},
		{"another user's dir in a sticky dir", func(t *testing.T, b string) string {
			return chown(t, mk(t, mk(t, b, "tmp", 0o1777), "distpac-try", 0o755), 4242)
		}, true, "tmp/distpac-try", "is owned by uid 4242, not by"},
		{"another user's symlink in a sticky dir", func(t *testing.T, b string) string {
			l := link(t, mk(t, b, "mine", 0o700), filepath.Join(mk(t, b, "tmp", 0o1777), "pfx"))
			if err := os.Lchown(l, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			return l
		}, true, "tmp/pfx", "is owned by uid 4242, not by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && !root {
				t.Skip("needs root to give a directory to another user")
			}
			base := t.TempDir()
			dir := tt.setup(t, base)
			err := New().Check("prefix", dir)
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", dir, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Check(%s) = %v, want an *Error", dir, err)
			}
			if want := filepath.Join(base, tt.wantPath); e.Path != want || !strings.Contains(e.Why, tt.wantWhy) {
				t.Fatalf("Check(%s) = %v\nwant the path %s and %q", dir, err, want, tt.wantWhy)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "prefix "+dir+": ") || !strings.Contains(msg, "(fix: ") {
				t.Fatalf("message %q: want the directory checked and a fix", msg)
			}
		})
	}
}

// TestCheckGroupWritable: a group-writable directory passes only when its
// group is the caller's private group (named as the user, its primary
// group): umask 002 under user private groups makes every directory so.
func TestCheckGroupWritable(t *testing.T) {
	dir := mk(t, t.TempDir(), "d", 0o775)
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	c := New()
	err := c.Check("data directory", dir)
	if c.privateGroup(int(st.Gid)) {
		if err != nil {
			t.Fatalf("group-writable by the caller's private group: %v", err)
		}
	} else if err == nil || !strings.Contains(err.Error(), "writable by its group") {
		t.Fatalf("group-writable by a shared group: %v", err)
	}
	if os.Geteuid() != 0 {
		return // giving the directory another group needs root
	}
	if err := os.Chown(dir, -1, int(st.Gid)+12345); err != nil { // not the caller's group
		t.Fatal(err)
	}
	if err := New().Check("data directory", dir); err == nil || !strings.Contains(err.Error(), "chmod go-w "+dir) {
		t.Fatalf("group-writable by another group: %v", err)
	}
}

// TestCheckDanglingLink: a path through a symlink whose target does not
// exist yet is checked where the target would be: another user's
// directory on the way is refused (it passed unchecked: a review).
func TestCheckDanglingLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making another user's directory needs root")
	}
	root := t.TempDir()
	atk := mk(t, root, "atk", 0o755)
	if err := os.Chown(atk, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	mine := mk(t, root, "mine", 0o700)
	if err := os.Symlink(filepath.Join(atk, "later"), filepath.Join(mine, "dl")); err != nil {
		t.Fatal(err)
	}
	if err := New().Check("prefix", filepath.Join(mine, "dl", "sub")); err == nil || !strings.Contains(err.Error(), atk+" is owned by uid 12345") {
		t.Fatalf("a dangling link into another user's directory: %v", err)
	}
	if err := os.Symlink(filepath.Join(root, "nowhere", "x"), filepath.Join(mine, "ok")); err != nil {
		t.Fatal(err)
	}
	if err := New().Check("prefix", filepath.Join(mine, "ok")); err != nil {
		t.Fatalf("a dangling link into the caller's own tree: %v", err)
	}
}

// TestCheckFile: a configuration file another user can change is refused.
func TestCheckFile(t *testing.T) {
	dir := mk(t, t.TempDir(), "cfg", 0o700)
	f := filepath.Join(dir, "client.yaml")
	if err := New().CheckFile("configuration", f); err != nil {
		t.Fatalf("a file not there yet: %v", err)
	}
	os.WriteFile(f, []byte("x"), 0o644)
	if err := New().CheckFile("configuration", f); err != nil {
		t.Fatalf("a file of the caller's: %v", err)
	}
	os.Chmod(f, 0o666)
	if err := New().CheckFile("configuration", f); err == nil || !strings.Contains(err.Error(), "chmod go-w "+f) {
		t.Fatalf("a file others can write: %v", err)
	}
}

// TestCheckSecret: a signing key others can read, or change, is refused;
// one readable by its owner alone passes. It was used at any mode.
func TestCheckSecret(t *testing.T) {
	dir := mk(t, t.TempDir(), "server", 0o755)
	f := filepath.Join(dir, "signing.key")
	if err := New().CheckSecret("signing key", f); err != nil {
		t.Fatalf("a key not there yet: %v", err)
	}
	if err := os.WriteFile(f, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode os.FileMode
		want string // "" when it passes
	}{
		{0o600, ""},
		{0o400, ""},
		{0o700, ""},
		{0o601, ""}, // executable by others: nothing to read
		{0o604, "is readable by others (mode -rw----r--); someone else could then sign catalogs that every client trusts (fix: 'chmod go-rwx " + f + "'"},
		{0o644, "is readable by its group and others (mode -rw-r--r--)"},
		{0o606, "is writable by others"},
	}
	for _, tt := range tests {
		if err := os.Chmod(f, tt.mode); err != nil {
			t.Fatal(err)
		}
		err := New().CheckSecret("signing key", f)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("mode %v: %v", tt.mode, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrUnsafe)):
			t.Errorf("mode %v: got %v, want %q", tt.mode, err, tt.want)
		}
	}
	if os.Geteuid() != 0 {
		return // a group other than the caller's, or a shared one, needs root
	}
	os.Chmod(f, 0o640)
	if err := os.Chown(f, -1, 12345); err != nil {
		t.Fatal(err)
	}
	if err := New().CheckSecret("signing key", f); err == nil || !strings.Contains(err.Error(), "is readable by its group (gid 12345)") {
		t.Fatalf("readable by another group: %v", err)
	}
}

// TestCheckFileGroupWritable: a file writable by the caller's private
// group (saved under umask 002) passes as such a directory does; by any
// other group it is refused. It was refused either way.
func TestCheckFileGroupWritable(t *testing.T) {
	f := filepath.Join(mk(t, t.TempDir(), "cfg", 0o700), "client.yaml")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(f, 0o664)
	var st syscall.Stat_t
	if err := syscall.Stat(f, &st); err != nil {
		t.Fatal(err)
	}
	c := New()
	err := c.CheckFile("configuration", f)
	if c.privateGroup(int(st.Gid)) {
		if err != nil {
			t.Fatalf("group-writable by the caller's private group: %v", err)
		}
	} else if err == nil || !strings.Contains(err.Error(), "writable by its group") {
		t.Fatalf("group-writable by a shared group: %v", err)
	}
	if os.Geteuid() != 0 {
		return // giving the file another group needs root
	}
	if err := os.Chown(f, -1, int(st.Gid)+12345); err != nil {
		t.Fatal(err)
	}
	if err := New().CheckFile("configuration", f); err == nil || !strings.Contains(err.Error(), "writable by its group") {
		t.Fatalf("group-writable by another group: %v", err)
	}
}

func mk(t *testing.T, parent, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(parent, name)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode|modeBits(mode)); err != nil {
		t.Fatal(err)
	}
	return p
}

// modeBits turns the numeric sticky bit of a literal such as 0o1777 into
// Go's fs.ModeSticky.
func modeBits(m os.FileMode) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func link(t *testing.T, target, l string) string {
	t.Helper()
	if err := os.Symlink(target, l); err != nil {
		t.Fatal(err)
	}
	return l
}

func chown(t *testing.T, p string, uid int) string {
	t.Helper()
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	return p
}

// MkdirAll checks what it made: in a sticky shared directory the check
// before can see only the sticky directory, and another user can make the
// rest of the path first, writable by everyone (the attack is played by
// the mkdir the Checker runs, which makes that directory before its own).
func TestMkdirAll(t *testing.T) {
	tests := []struct {
		name     string
		attack   bool   // another user's mkdir of base/tmp/try, mode 0777, first
		shared   bool   // base/tmp/try exists, mode 0777, before
		wantPath string // "" when it passes; else the path named, under base
	}{
		{"made, nobody in between", false, false, ""},
		{"another user's directory made in between", true, false, "tmp/try"},
		{"another user's directory there before", false, true, "tmp/try"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			sticky := mk(t, base, "tmp", 0o1777)
			if tt.shared {
				mk(t, sticky, "try", 0o777)
			}
			dir := filepath.Join(sticky, "try", "distpac", "server")
			c := New()
			made := false
			c.mkdirAll = func(d string, perm os.FileMode) error {
				made = true
				if tt.attack {
					mk(t, sticky, "try", 0o777)
				}
				return os.MkdirAll(d, perm)
			}
			err := c.MkdirAll("data directory", dir, 0o755)
			if tt.wantPath == "" {
				if err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
					t.Fatalf("%s not made, writable by its owner only: %v %v", dir, fi, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != filepath.Join(base, tt.wantPath) || !strings.Contains(e.Why, "writable by its group and others") {
				t.Fatalf("MkdirAll = %v, want an *Error naming %s as writable by others", err, tt.wantPath)
			}
			if tt.shared && made {
				t.Error("made directories under a path refused before")
			}
		})
	}
}
