package trackerclient

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ParseAnnounce decodes an announce reply. A "failure reason" is returned
// as a *FailureError.
func ParseAnnounce(b []byte) (Response, error) {
	res := Response{Interval: MinInterval, Seeders: -1, Leechers: -1}
	if len(b) > MaxReplySize {
		return res, fmt.Errorf("reply is over the %d-byte limit", MaxReplySize)
	}
	s := &scanner{b: b}
	var failure *FailureError
	seen := map[netip.AddrPort]bool{}
	add := func(p netip.AddrPort) {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		if len(res.Peers) >= MaxPeers || !usable(p) || seen[p] {
			return
		}
		seen[p] = true
		res.Peers = append(res.Peers, p)
	}
	err := s.dict(0, func(key string) error {
		var err error
		switch key {
		case "failure reason":
			var v []byte
			if v, err = s.str(); err == nil {
				failure = &FailureError{Reason: printable(v)}
			}
		case "warning message":
			var v []byte
			if v, err = s.str(); err == nil {
				res.Warning = printable(v)
			}
		case "interval":
			var v int64
			if v, err = s.int(); err == nil {
				res.Interval = clampInterval(v)
			}
		case "complete":
			var v int64
			if v, err = s.int(); err == nil {
				res.Seeders = clampCount(v)
			}
		case "incomplete":
			var v int64
			if v, err = s.int(); err == nil {
				res.Leechers = clampCount(v)
			}
		case "peers":
			err = parsePeers(s, 4, add)
		case "peers6":
			err = parsePeers(s, 16, add)
		default:
			err = s.skip(1)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return Response{}, fmt.Errorf("bad reply: %w", err)
	}
	if s.pos != len(s.b) {
		return Response{}, fmt.Errorf("bad reply: %d bytes after the dictionary", len(s.b)-s.pos)
	}
	if failure != nil {
		return Response{}, failure
	}
	return res, nil
}

// parsePeers reads a peer list in either model: a compact string of
// (ipLen+2)-byte entries, or a list of dictionaries with "ip" and "port".
func parsePeers(s *scanner, ipLen int, add func(netip.AddrPort)) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c >= '0' && c <= '9' {
		v, err := s.str()
		if err != nil {
			return err
		}
		step := ipLen + 2
		if len(v)%step != 0 {
			return fmt.Errorf("compact peer list of %d bytes is not a multiple of %d", len(v), step)
		}
		for i := 0; i < len(v); i += step {
			ip, _ := netip.AddrFromSlice(v[i : i+ipLen])
			add(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(v[i+ipLen:])))
		}
		return nil
	}
	if ipLen == 16 {
		return fmt.Errorf("want a compact string, found %s", s.kind())
	}
	return s.list(1, func(i int) error {
		var ip netip.Addr
		port := int64(-1)
		err := s.dict(2, func(key string) error {
			switch key {
			case "ip":
				v, err := s.str()
				if err != nil {
					return err
				}
				// Host names are not resolved: a tracker must not make
				// this node look up names of its choosing.
				ip, _ = netip.ParseAddr(string(v))
				return nil
			case "port":
				v, err := s.int()
				if err != nil {
					return err
				}
				port = v
				return nil
			default:
				return s.skip(3)
			}
		})
		if err != nil {
			return fmt.Errorf("peer %d: %w", i, err)
		}
		if ip.IsValid() && port > 0 && port <= 65535 {
			add(netip.AddrPortFrom(ip, uint16(port)))
		}
		return nil
	})
}

// usable rejects addresses that no peer can have.
func usable(p netip.AddrPort) bool {
	a := p.Addr()
	return p.Port() != 0 && a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func clampInterval(secs int64) time.Duration {
	if secs < int64(MinInterval/time.Second) {
		return MinInterval
	}
	if secs > int64(MaxInterval/time.Second) {
		return MaxInterval
	}
	return time.Duration(secs) * time.Second
}

func clampCount(v int64) int {
	return int(min(max(v, 0), 1<<31-1))
}

// printable keeps a tracker's message to one short line of printable text,
// so that it cannot garble a terminal.
func printable(b []byte) string {
	const maxLen = 200
	var sb strings.Builder
	for _, r := range string(b) {
		if sb.Len() >= maxLen {
			sb.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			r = '?'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
