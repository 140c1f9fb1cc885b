package torrent

import (
	"expvar"
	"sync"
	"testing"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestMapCounter: a counter's bumps land in its map under the key upstream used, a key appears only
// at its first bump, concurrent bumps all count, and a key holding another kind of Var is left
// alone, as expvar.Map.Add leaves it (distpac patch 30).
func TestMapCounter(t *testing.T) {
	var m expvar.Map
	cs := newMsgCounters(&m, func(t pp.MessageType) string { return "messages written of type " + t.String() })
	if m.Get("messages written of type Piece") != nil {
		t.Fatal("a key exists before its first bump")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				cs[pp.Piece].add(1)
			}
		})
	}
	wg.Wait()
	cs[pp.Have].add(2)
	for key, want := range map[string]string{
		"messages written of type Piece": "8000",
		"messages written of type Have":  "2",
	} {
		if v := m.Get(key); v == nil || v.String() != want {
			t.Errorf("%q = %v, want %s", key, v, want)
		}
	}
	if m.Get("messages written of type Request") != nil {
		t.Error("a type never counted has a key")
	}

	m.Set("odd", new(expvar.String))
	c := &mapCounter{m: &m, key: "odd"}
	c.add(1)
	if s := m.Get("odd").String(); s != `""` {
		t.Errorf("a String under the key became %s", s)
	}

	// The received-message counters keep upstream's keys: the type's name.
	var r expvar.Map
	newMsgCounters(&r, pp.MessageType.String)[pp.Request].add(1)
	if v := r.Get("Request"); v == nil || v.String() != "1" {
		t.Errorf("received Request = %v, want 1", v)
	}
}
