package catalogclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/signing"
)

// Trust on first use with several servers (server_urls, or a mirror's
// several primaries). The key pinned is the one the server that gave the
// first catalog presents; before it is pinned, every other server listed
// is asked for its key too, and the key is pinned only if none of them
// presents another. One of the servers may not be the publisher's (a
// mirror run by someone else, a hostile host at a mistyped name): pinning
// whichever answered first made the order of server_urls, or which
// server was down, decide whom the client trusts for good. Servers that
// do not answer, or serve no key (a static mirror), are not counted: with
// the publisher's own servers down, first use trusts what it can reach, as
// it always did. keyAgreeWait bounds the wait for them.

// keyAgreeWait bounds how long first use waits for the other servers'
// keys, asked all at once: a server that hangs costs the first sync this
// much once, and a refused connection nothing.
const keyAgreeWait = 3 * time.Second

// KeysDisagreeError is trust on first use refused because the servers
// listed present different keys.
type KeysDisagreeError struct {
	Server  string            // the server whose catalog was to be trusted
	Key     signing.PublicKey // the key it presents
	Others  []PresentedKey    // the servers that present another
	Setting string            // where the key is set: server_key in client.yaml, or --key
}

// PresentedKey is a key a server presented at /key.
type PresentedKey struct {
	Server string
	Key    signing.PublicKey
}

func (e *KeysDisagreeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sync: no server key configured, and the servers listed present different keys, so none is trusted on first use: %s presents %s", e.Server, e.Key)
	for _, o := range e.Others {
		fmt.Fprintf(&b, ", %s presents %s", o.Server, o.Key)
	}
	return b.String()
}

// othersAgree asks every server listed but this one for its key, at
// once, and returns a *KeysDisagreeError when one presents a key other
// than key.
func (s *syncer) othersAgree(ctx context.Context, key signing.PublicKey) error {
	var others []*syncer
	for _, u := range s.configured {
		base, err := serverBase(u)
		if err != nil || base.String() == s.base.String() {
			continue
		}
		o := *s
		o.base = base
		others = append(others, &o)
	}
	if len(others) == 0 {
		return nil
	}
	wait, cancel := context.WithTimeout(ctx, keyAgreeWait)
	defer cancel()
	keys := make([]signing.PublicKey, len(others))
	errs := make([]error, len(others))
	var wg sync.WaitGroup
	for i, o := range others {
		wg.Go(func() { keys[i], errs[i] = o.fetchKey(wait) })
	}
	wg.Wait()
	// Interrupted, the servers that gave no key were cut off by the
	// interruption, not down: nothing is pinned on their silence (it was,
	// and the catalog taken, by a sync cancelled while they were asked).
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sync: interrupted while comparing the servers' keys for trust on first use: %w", err)
	}
	disagree := &KeysDisagreeError{Server: s.server(), Key: key, Setting: s.keySetting()}
	for i, o := range others {
		switch {
		case errs[i] != nil:
			s.log.Debug("trust on first use: a server listed gave no key to compare", "server", o.server(), "err", errs[i])
		case !keys[i].Equal(key):
			disagree.Others = append(disagree.Others, PresentedKey{Server: redact.URL(o.server()), Key: keys[i]})
		}
	}
	if len(disagree.Others) > 0 {
		return withAdvice(disagree, fmt.Sprintf("at most one of them is the publisher's key (or a mirror has not yet followed a key rotation): compare them with the output of `dist-server key` on the publishing server, and set %s to it", disagree.Setting))
	}
	return nil
}

// keysDisagree reports whether err is trust on first use refused for
// keys that differ.
func keysDisagree(err error) bool {
	var d *KeysDisagreeError
	return errors.As(err, &d)
}
