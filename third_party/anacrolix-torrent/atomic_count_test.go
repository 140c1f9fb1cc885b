package torrent

import "testing"

// TestHandshakeStatsOnly: the check that replaced upstream's comparison with a struct literal
// (distpac patch 19) passes the handshake's two counters and nothing else.
func TestHandshakeStatsOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*ConnStats)
		want bool
	}{
		{"nothing counted", func(*ConnStats) {}, true},
		{"handshake bytes", func(s *ConnStats) { s.BytesWritten.Add(68); s.BytesRead.Add(68) }, true},
		{"a chunk read", func(s *ConnStats) { s.BytesRead.Add(68); s.ChunksRead.Add(1) }, false},
		{"the last field", func(s *ConnStats) { s.PiecesDirtiedBad.Add(1) }, false},
	} {
		var s ConnStats
		tc.set(&s)
		if got := handshakeStatsOnly(&s); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
