package script

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func pkg(t *testing.T, body string) Env {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scripts", "install.sh"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return Env{Name: "foo", Version: "1.2.3", PkgDir: dir, Prefix: filepath.Join(dir, "prefix")}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantOut  string
		status   int // 0 = success
		wantTail []string
	}{
		{"environment", `echo "$DISTPAC_NAME $DISTPAC_VERSION"; [ "$DISTPAC_ASSETS" = "$DISTPAC_PKGDIR/assets" ] && [ "$(pwd)" = "$DISTPAC_PKGDIR" ] && echo ok`, "foo 1.2.3\nok\n", 0, nil},
		{"failure keeps last lines", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line$i; done; exit 3", "", 3, []string{"line3", "line12"}},
		{"stderr is captured", "echo oops >&2; exit 1", "oops\n", 1, []string{"oops"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pkg(t, tt.body)
			var out bytes.Buffer
			err := Run(context.Background(), "install.sh", env, &out)
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if out.String() != tt.wantOut {
					t.Fatalf("output %q, want %q", out.String(), tt.wantOut)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a script error", err)
			}
			if se.Status != tt.status {
				t.Fatalf("status %d, want %d", se.Status, tt.status)
			}
			if len(se.Tail) > tailLines || se.Tail[0] != tt.wantTail[0] || se.Tail[len(se.Tail)-1] != tt.wantTail[len(tt.wantTail)-1] {
				t.Fatalf("tail %q, want first %q last %q", se.Tail, tt.wantTail[0], tt.wantTail[len(tt.wantTail)-1])
			}
			if !strings.Contains(err.Error(), "install.sh exited with status") {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestRunCancelKillsChildren(t *testing.T) {
	env := pkg(t, "sleep 30 & sleep 30; wait")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Run(ctx, "install.sh", env, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestRunMissingScript(t *testing.T) {
	env := pkg(t, "true")
	if err := Run(context.Background(), "uninstall.sh", env, nil); err == nil {
		t.Fatal("missing script ran")
	}
}
