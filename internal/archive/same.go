package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// SameContent reports whether two archives decompress to the same bytes:
// the same tar stream, whatever its frames. dist-server add uses it when a
// published archive's SHA-256 differs from the one it just made, since an
// older dist-server wrote large archives as one frame. Memory is the two
// decoders' (bounded as in Extract); it stops at the first difference, or
// when ctx is done.
func SameContent(ctx context.Context, a, b io.Reader) (bool, error) {
	da, err := newDecoder(ctxReader{ctx: ctx, r: a}, 0)
	if err != nil {
		return false, fmt.Errorf("decompress: %w", err)
	}
	defer releaseDecoder(da)
	db, err := newDecoder(ctxReader{ctx: ctx, r: b}, 0)
	if err != nil {
		return false, fmt.Errorf("decompress: %w", err)
	}
	defer releaseDecoder(db)
	const step = 64 << 10
	bufA, bufB := make([]byte, step), make([]byte, step)
	for {
		na, errA := io.ReadFull(da, bufA)
		nb, errB := io.ReadFull(db, bufB)
		endA := errA == io.EOF || errA == io.ErrUnexpectedEOF
		endB := errB == io.EOF || errB == io.ErrUnexpectedEOF
		switch {
		case errA != nil && !endA:
			return false, fmt.Errorf("decompress: %w", errA)
		case errB != nil && !endB:
			return false, fmt.Errorf("decompress: %w", errB)
		case !bytes.Equal(bufA[:na], bufB[:nb]):
			return false, nil
		case endA || endB:
			return endA == endB, nil
		}
	}
}
