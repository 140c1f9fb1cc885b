package torrent

import (
	"io"
	"time"

	"github.com/anacrolix/missinggo/v2/panicif"
	"golang.org/x/time/rate"
)

func newRateLimitedReader(r io.Reader, l *rate.Limiter) io.Reader {
	if l == nil {
		// Avoids taking Limiter lock to check limit, and allows type assertions to bypass Read.
		return r
	}
	return rateLimitedReader{
		l: l,
		r: r,
	}
}

type rateLimitedReader struct {
	l *rate.Limiter
	r io.Reader
}

func (me rateLimitedReader) Read(b []byte) (n int, err error) {
	// Avoid truncating the read if everything is permitted anyway.
	if me.l.Limit() == rate.Inf {
		return me.r.Read(b)
	}
	// If the burst is zero, let the limiter method handle errors.
	if me.l.Burst() != 0 {
		b = b[:min(len(b), me.l.Burst())]
	}
	n, err = me.r.Read(b)
	// distpac patch 58: the bytes are reserved at the time they came, not
	// at the time the read began. x/time/rate takes a reservation's time
	// as its last update: a connection blocked in its read for a while
	// (waiting for its peer) set the shared limiter's clock back by that
	// wait, and the next connection's read was given the wait's tokens
	// again, so connections together went over the limit (17-35 % over
	// download_rate_limit in an install from three sources; 134 % in
	// TestRateLimitedReadersShareTheLimit).
	t := time.Now()
	r := me.l.ReserveN(t, n)
	panicif.False(r.OK())
	time.Sleep(r.DelayFrom(t))
	return
}
