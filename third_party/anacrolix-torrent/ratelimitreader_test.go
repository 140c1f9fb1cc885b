package torrent

import (
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// zeros is a source always ready to give bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// slowSource gives one byte after blocking for pause, as a connection
// waiting for its peer does.
type slowSource struct{ pause time.Duration }

func (s slowSource) Read(b []byte) (int, error) {
	time.Sleep(s.pause)
	return copy(b, []byte{0}), nil
}

// TestRateLimitedReadersShareTheLimit: connections reading through one
// download limiter, one of them blocked in its reads for long stretches,
// get no more than the limit together. Each read reserved its bytes at
// the time the read started: the blocked connection's reservation set
// the limiter's clock back by its wait, and the next read was given that
// wait's tokens again (x/time/rate takes a reservation's time as its
// last update), so a real install went 17-35 % over download_rate_limit
// (a newcomer's run). distpac patch 58.
func TestRateLimitedReadersShareTheLimit(t *testing.T) {
	const limit, burst = 256 << 10, 16 << 10
	l := rate.NewLimiter(limit, burst)
	l.AllowN(time.Now(), burst) // start with an empty bucket
	var got atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	read := func(r io.Reader) {
		defer wg.Done()
		lr := newRateLimitedReader(r, l)
		b := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _ := lr.Read(b)
			got.Add(int64(n))
		}
	}
	start := time.Now()
	wg.Add(3)
	go read(zeros{})
	go read(slowSource{pause: 200 * time.Millisecond})
	go read(slowSource{pause: 300 * time.Millisecond})
	time.Sleep(2 * time.Second)
	n, elapsed := got.Load(), time.Since(start)
	close(stop)
	wg.Wait()
	// What the limit allows in the time, a bucket more, and a read in
	// flight per connection.
	allowed := int64(limit*elapsed.Seconds()) + burst + 3*burst
	t.Logf("%d bytes in %v: %.0f%% of the limit", n, elapsed.Round(time.Millisecond), 100*float64(n)/(limit*elapsed.Seconds()))
	if n > allowed {
		t.Errorf("readers got %d bytes in %v through a limit of %d B/s: %.0f%% of the limit (allowed %d)",
			n, elapsed.Round(time.Millisecond), limit, 100*float64(n)/(limit*elapsed.Seconds()), allowed)
	}
	if n < int64(limit*elapsed.Seconds())/2 {
		t.Errorf("readers got %d bytes in %v: under half the limit of %d B/s", n, elapsed.Round(time.Millisecond), limit)
	}
}
