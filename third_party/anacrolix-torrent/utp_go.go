// distpac patch 38: the pure-Go uTP socket on every build (PATCHES.md 38).
// distpac turns uTP off (DisableUTP); the cgo binding of libutp it replaces
// needed a C++ compiler to build and linked libstdc++ into both programs.

package torrent

import (
	"github.com/anacrolix/log"
	"github.com/anacrolix/utp"
)

func NewUtpSocket(network, addr string, _ firewallCallback, _ log.Logger) (utpSocket, error) {
	s, err := utp.NewSocket(network, addr)
	if s == nil {
		return nil, err
	} else {
		return s, err
	}
}
