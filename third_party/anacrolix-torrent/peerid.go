package torrent

import "github.com/anacrolix/torrent/types"

type PeerID = types.PeerID
