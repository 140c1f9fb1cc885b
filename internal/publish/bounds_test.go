package publish_test

import (
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestPieceBoundsAgree: what add builds, the catalog takes. torrentmeta's
// piece length policy keeps archives within its MaxPieces; a catalog row of
// more pieces than catalog.MaxPieces is refused. Were the catalog's bound
// the lower, add would build an archive (hours for hundreds of GiB) and
// then have its row refused.
func TestPieceBoundsAgree(t *testing.T) {
	if torrentmeta.MaxPieces > catalog.MaxPieces {
		t.Errorf("torrentmeta.MaxPieces %d > catalog.MaxPieces %d", torrentmeta.MaxPieces, catalog.MaxPieces)
	}
	if got := torrentmeta.PieceLength(catalog.MaxPieces * catalog.MaxPieceLength); got > catalog.MaxPieceLength {
		t.Errorf("PieceLength(%d) = %d, over catalog.MaxPieceLength %d", int64(catalog.MaxPieces*catalog.MaxPieceLength), got, catalog.MaxPieceLength)
	}
}
