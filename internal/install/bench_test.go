package install

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
)

// BenchmarkInstall10k installs a package of 10,000 files of 1 KiB (cached
// archive, install.sh copying assets/ under $DISTPAC_DESTDIR) and
// uninstalls it again; it reports the install alone.
func BenchmarkInstall10k(b *testing.B) {
	ctx := context.Background()
	w := worldAt(b, b.TempDir())
	files := map[string]string{"scripts/install.sh": destdirScript("many")}
	buf := make([]byte, 1024)
	for i := range 10000 {
		rand.Read(buf)
		files[fmt.Sprintf("assets/d%02d/f%05d", i%100, i)] = string(buf)
	}
	w.publish(w.pkg("many", "1.0.0", files))
	b.ResetTimer()
	for range b.N {
		if err := w.client.Install(ctx, []string{"many"}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := w.client.Uninstall(ctx, []string{"many"}, false); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
