package torrent

import (
	"expvar"
	"sync/atomic"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// distpac patch: the counters bumped for every message and every chunk are held as *expvar.Int
// once their key exists, so a bump is one atomic add. expvar.Map.Add hashes the key and looks it up
// in a sync.Map each time: 3.5 % of the daemons' CPU in a bench-swarm row (N=16), for counters
// distpac never reads. A key appears in its map at its first bump, as upstream's did.

// mapCounter is one key of an expvar.Map, found at its first bump.
type mapCounter struct {
	m   *expvar.Map
	key string
	v   atomic.Pointer[expvar.Int]
}

func (c *mapCounter) add(n int64) {
	v := c.v.Load()
	if v == nil {
		c.m.Add(c.key, 0) // creates the key's *expvar.Int if it has none
		iv, ok := c.m.Get(c.key).(*expvar.Int)
		if !ok { // another kind of Var under the key: expvar.Map.Add would ignore it too
			return
		}
		c.v.Store(iv)
		v = iv
	}
	v.Add(n)
}

// msgCounters counts messages by type under one key per type.
type msgCounters [256]mapCounter

func newMsgCounters(m *expvar.Map, key func(pp.MessageType) string) *msgCounters {
	var cs msgCounters
	for i := range cs {
		cs[i].m, cs[i].key = m, key(pp.MessageType(i))
	}
	return &cs
}

var (
	// Upstream's keys: "messages written of type %s" in the torrent map (formatted for every
	// message until patch 8), and the type's name in messageTypesReceived.
	messagesWritten = newMsgCounters(torrent, func(t pp.MessageType) string {
		return "messages written of type " + t.String()
	})
	messagesReceived = newMsgCounters(messageTypesReceived, pp.MessageType.String)

	chunksReceivedTotal  = &mapCounter{m: &ChunksReceived, key: "total"}
	requestReadSuccesses = &mapCounter{m: torrent, key: "peer request data read successes"}
)
