package install

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestRestoreWithoutInstallScript: a version with an uninstall.sh and no
// install.sh (assets/ is its tree) is restored after a failed upgrade.
// Before, the restore failed ("journal: step 1: place .../assets/app ->
// .../app: not from the work directory into the prefix"): the tree to
// place again was the extracted package of the failed transaction, outside
// the restore's own work directory.
func TestRestoreWithoutInstallScript(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("app", "1.0.0", map[string]string{"assets/app/a": "1", "scripts/uninstall.sh": w.logScript("uninstall") + "rm -f \"$DISTPAC_PREFIX/app/a\"\n"}),
		w.pkg("app", "2.0.0", map[string]string{"assets/a": "2", "scripts/install.sh": "exit 4\n"}),
	)
	if err := w.client.Install(ctx, []string{"app@1.0.0"}); err != nil {
		t.Fatal(err)
	}
	err := w.client.Upgrade(ctx, nil, false)
	if err == nil || !strings.HasPrefix(err.Error(), "upgrade app to 2.0.0 failed, 1.0.0 restored: ") {
		t.Fatalf("err = %v", err)
	}
	if r, _ := w.state().Get("app"); r.Version != "1.0.0" {
		t.Fatalf("app %s recorded", r.Version)
	}
	w.consistent()
	if b, _ := os.ReadFile(w.prefix("app", "a")); string(b) != "1" {
		t.Fatalf("app/a = %q after the restore", b)
	}
}
