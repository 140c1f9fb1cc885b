package publish

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/distpac/distpac/internal/catalog"
)

// ErrNothingPublished: there is no catalog to publish again.
var ErrNothingPublished = errors.New("nothing is published yet")

// Republish publishes the working catalog again, its packages as they
// are, under a new serial above past (0: none) and above every serial
// before it (the catalog's and the one published), with created and
// valid_until of now. It is the way past a serial that clients and
// mirrors hold and that the publisher's clock has not reached: a data
// home restored from a backup on a host whose clock is behind the one
// that made the later serials published them again, and they refused
// each (a rollback, or one serial with two contents) until its clock
// passed theirs. As every publication it waits for another (add, remove,
// a running server's re-signing) through the publish lock, and refuses a
// catalog clients would refuse, before its serial is written.
func (p *Publisher) Republish(ctx context.Context, past int64) (catalog.Meta, error) {
	if _, err := os.Lstat(p.Paths.Catalog()); errors.Is(err, fs.ErrNotExist) && publishedSerial(ctx, p.Paths.PublicDir()) == 0 {
		return catalog.Meta{}, fmt.Errorf("%w (no %s)", ErrNothingPublished, p.Paths.Catalog())
	}
	key, db, release, err := p.change(ctx)
	if err != nil {
		return catalog.Meta{}, err
	}
	defer release()
	if err := db.CheckPublishable(ctx); err != nil {
		return catalog.Meta{}, fmt.Errorf("nothing republished: %w", err)
	}
	// The one published, too: a catalog.db restored alone may be below it
	// (and one made anew is refused: catalog.db was lost).
	from, floor, err := p.raiseFloor(ctx, db, true)
	if err != nil {
		return catalog.Meta{}, err
	}
	m, err := db.BumpSerialAbove(ctx, max(floor, past))
	if err != nil {
		return catalog.Meta{}, err
	}
	if floor > from {
		p.raised(from, floor, m.Serial)
	}
	if err := Publish(ctx, db, key, p.Paths.PublicDir()); err != nil {
		return m, fmt.Errorf("serial %d recorded, but publishing the signed catalog failed (a running server or the next add republishes it): %w", m.Serial, err)
	}
	return m, nil
}
