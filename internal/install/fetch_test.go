package install

import (
	"testing"
	"time"
)

func TestQuietProgress(t *testing.T) {
	for _, c := range []struct{ stall, want time.Duration }{
		{0, quietProgressEvery},
		{2 * time.Minute, quietProgressEvery},
		{8 * time.Second, quietProgressEvery},
		{4 * time.Second, time.Second},
		{500 * time.Millisecond, 200 * time.Millisecond},
	} {
		if got := quietProgress(c.stall); got != c.want {
			t.Errorf("quietProgress(%v) = %v; want %v", c.stall, got, c.want)
		}
	}
}
