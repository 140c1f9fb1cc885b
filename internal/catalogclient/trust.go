package catalogclient

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/signing"
)

// followRotation is called when the pinned key did not sign a catalog. It
// fetches the server's key rotation statements and walks them from the
// pinned key (signing.Follow). It returns the statements followed when
// they lead to the key that signed the catalog at path, nil when the server publishes
// none (the caller reports the bad signature), and an ErrRotation error
// when the statements do not come from the pinned key, are forged, fork,
// or lead to a key that did not sign the catalog either; keyHint (pinnedKey's)
// ends it, saying where the key came from and how to change it.
func (s *syncer) followRotation(ctx context.Context, pinned signing.PublicKey, keyHint, path string, sig []byte) ([]signing.Rotation, error) {
	u := s.url(PathRotation)
	resp, err := s.get(ctx, PathRotation, "")
	if err != nil {
		return nil, fmt.Errorf("sync: the catalog is not signed by the pinned key %s, and fetching the server's key rotation statements failed: %w", pinned.Fingerprint(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sync: the catalog is not signed by the pinned key %s, and fetching the server's key rotation statements failed: %w", pinned.Fingerprint(), httpError(u, resp))
	}
	b, err := readLimited(u, resp, signing.MaxRotationFile, "key rotation statements")
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	refuse := func(format string, a ...any) error {
		return withAdvice(rotationRefused(fmt.Sprintf("sync: the catalog is not signed by the pinned key %s (%s), and %s: refusing it",
			pinned.Fingerprint(), pinned, fmt.Sprintf(format, a...))), keyHint)
	}
	chain, err := signing.ParseRotations(b)
	if err != nil {
		return nil, refuse("GET %s: %v", u, err)
	}
	steps, err := signing.Follow(chain, pinned)
	if err != nil {
		return nil, refuse("GET %s: %v", u, err)
	}
	if len(steps) == 0 {
		var from []string
		for _, r := range chain {
			from = append(from, r.Old.Fingerprint()+" -> "+r.New.Fingerprint())
		}
		return nil, refuse("no key rotation statement at %s is signed by it (the statements there: %s)", u, strings.Join(from, ", "))
	}
	end := steps[len(steps)-1]
	if err := signing.VerifyFile(end.New, path, sig); errors.Is(err, signing.ErrBadSignature) {
		return nil, refuse("the key rotation statements at %s hand over to %s, which did not sign it either", u, end.New.Fingerprint())
	} else if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	// From a pinned key, once: the pin moves to the new key. From a key
	// the caller gives (server_key, a mirror's --key) every new catalog
	// follows the statements again, and the caller says the key is due
	// for an update (Result.Rotated): a mirror logged this line each
	// minute (an operator's run).
	level := slog.LevelInfo
	if s.givenKey {
		level = slog.LevelDebug
	}
	s.log.Log(ctx, level, "following the server's key rotation", "from", pinned.Fingerprint(), "to", end.New.Fingerprint(), "serial", end.Serial)
	return steps, nil
}

// rotationRefused is an error that matches ErrRotation without saying "key
// rotation refused": most often nothing rotated (a key pinned by hand that
// the server never had), and the message says what did not match.
type rotationRefused string

func (e rotationRefused) Error() string        { return string(e) }
func (e rotationRefused) Is(target error) bool { return target == ErrRotation }

// fetchRotation fetches the server's key rotation statements to keep with
// a catalog signer signed (Options.KeepRotation): nil when the server
// publishes none. Kept statements must parse and lead to signer (or hand
// over from it, a rotation not yet committed), so that
// a mirror serving them again gives its clients a chain that ends at the
// key of the catalog it serves; a chain and catalog from two publications
// (a rotation between the two requests) fail with ErrChanged and the
// next sync takes both again.
func (s *syncer) fetchRotation(ctx context.Context, signer signing.PublicKey) ([]byte, error) {
	u := s.url(PathRotation)
	resp, err := s.get(ctx, PathRotation, "")
	if err != nil {
		return nil, fmt.Errorf("sync: key rotation statements: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sync: key rotation statements: %w", httpError(u, resp))
	}
	b, err := readLimited(u, resp, signing.MaxRotationFile, "key rotation statements")
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	chain, err := signing.ParseRotations(b)
	if err != nil {
		return nil, fmt.Errorf("sync: GET %s: %w", u, err)
	}
	// The chain ends at the signer, or hands over from it: a rotation the
	// publisher began and has not committed yet (it keeps signing with the
	// old key until then), which it serves as it is.
	if last := len(chain) - 1; last >= 0 && !chain[last].New.Equal(signer) && !chain[last].Old.Equal(signer) {
		return nil, fmt.Errorf("sync: GET %s: the last statement hands over to %s, but the catalog is signed by %s "+
			"(%w, or the server replaced a lost key and still publishes the old key's statements)",
			u, chain[last].New.Fingerprint(), signer.Fingerprint(), ErrChanged)
	}
	return b, nil
}

// HeldSignedBy reports whether the catalog held in dir is signed by key.
// A client with server_key in client.yaml that followed the server's key
// rotation holds a catalog another key signed (its key is changed in
// client.yaml, not by sync): `trust show` says so.
func HeldSignedBy(dir string, key signing.PublicKey) (bool, error) {
	vdir, err := heldDir(dir) // the file only: no need to open the database
	if err != nil {
		return false, err
	}
	sig, err := fsutil.ReadRegular(filepath.Join(vdir, sigFile), maxSigSize, true) // a sync wrote it, after checking its size
	if err != nil {
		return false, fmt.Errorf("catalog: %w", err)
	}
	err = signing.VerifyFile(key, filepath.Join(vdir, dbFile), sig)
	if err != nil && !errors.Is(err, signing.ErrBadSignature) {
		return false, fmt.Errorf("catalog: %w", err)
	}
	return err == nil, nil
}

// VerifiedBy verifies the catalog h against key as a sync does: signed by
// key, or by the key that the rotation statements kept with it
// (Options.KeepRotation) hand over to from key. A catalog held from an
// earlier run was verified then, against the key of that run: dist-server
// mirror checks it again before serving it beside the key it was given now.
func (h Held) VerifiedBy(key signing.PublicKey) error {
	if signing.Verify(key, h.DB, h.Sig) == nil {
		return nil
	}
	if chain, err := signing.ParseRotations(h.Rotation); err == nil && len(h.Rotation) > 0 {
		if path, err := signing.Follow(chain, key); err == nil && len(path) > 0 && signing.Verify(path[len(path)-1].New, h.DB, h.Sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("the catalog held is not signed by the key %s (%s), nor by a key that rotation statements kept with it hand over to from that key", key.Fingerprint(), key)
}

// Trust is the key sync verifies catalogs with.
type Trust struct {
	Key        signing.PublicKey // nil: none yet; the next sync pins the server's (trust on first use)
	Configured bool              // Key is server_key from client.yaml, which Pin and Unpin do not change
	Path       string            // the pinned key's file (server.key)
	// FirstUseFrom is the server the pinned key was fetched from on first
	// use, "" when it was set, followed through a rotation, or pinned by
	// a version that did not record it.
	FirstUseFrom string
	// RotatedFrom is the server whose key rotation statements a sync
	// followed to the pinned key, and RotationSerial the first serial
	// that key signed (the statement's); "" and 0 when it was not so
	// pinned, or by a version that did not record it. trust show said
	// nothing of where a followed key came from (a newcomer's run).
	RotatedFrom    string
	RotationSerial int64
}

// ErrConfiguredKey: the key comes from client.yaml, so it is changed there.
var ErrConfiguredKey = errors.New("the server key is set in client.yaml (server_key): change it there")

// LoadTrust says which key the next sync verifies with: configured (from
// client.yaml) when not nil, else the pinned one.
func LoadTrust(dir string, configured signing.PublicKey) (Trust, error) {
	t := Trust{Path: filepath.Join(dir, keyFile)}
	if configured != nil {
		t.Key, t.Configured = configured, true
		return t, nil
	}
	p, err := readPinned(dir, trustAdvice)
	t.Key, t.FirstUseFrom, t.RotatedFrom, t.RotationSerial = p.key, p.firstUseFrom, p.rotatedFrom, p.rotationSerial
	return t, err
}

// Pin makes k the pinned key (`dist-client trust set`). The held catalog
// stays usable, and the next sync verifies with k; since k starts a history
// of its own, that sync accepts any serial k signed (a publisher who lost
// key and catalog starts again at 1). The caller holds the client lock.
func Pin(dir string, configured, k signing.PublicKey) error {
	if configured != nil {
		return ErrConfiguredKey
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pin key: %w", err)
	}
	if err := markTrustChanged(dir); err != nil {
		return err
	}
	if err := writePinned(dir, k); err != nil {
		return fmt.Errorf("pin key: %w", err)
	}
	return nil
}

// Unpin forgets the pinned key (`dist-client trust reset`): the next sync
// pins the key the server presents, as on first use, and starts a new
// history under it. The caller holds the client lock.
func Unpin(dir string, configured signing.PublicKey) error {
	if configured != nil {
		return ErrConfiguredKey
	}
	if err := markTrustChanged(dir); err != nil {
		return err
	}
	for _, f := range []string{keyFile, originFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("forget pinned key: %w", err)
		}
	}
	return fsutil.SyncDir(dir)
}

// markTrustChanged records in sync.json the trust root the held catalog was
// accepted under, when a file from before that field lacks it, so that the
// next sync sees the root change (see checkSerial).
func markTrustChanged(dir string) error {
	path := filepath.Join(dir, stateFile)
	b, err := fsutil.ReadRegular(path, maxStateFile, true)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read sync state: %w", err)
	}
	var st syncState
	if json.Unmarshal(b, &st) != nil || st.Key != "" {
		return nil // unreadable: ignored by sync anyway; or already recorded
	}
	old, err := readPinned(dir, trustAdvice)
	if err != nil || old.key == nil {
		st.Key = "unknown"
	} else {
		st.Key = old.key.String()
	}
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(out, '\n'), 0o644)
}

// pinnedKey returns the key to verify with and a hint for when it does not
// verify (where the key came from and how to change it). A nil key means
// there is none yet: the server's is fetched and pinned (TOFU).
//
// A pin a version that kept passwords wrote whole is written again,
// masked (the files are world-readable), with or without a configured
// key; best effort, as the origin only words advice. The caller holds the
// client lock.
func (s *syncer) pinnedKey(configured signing.PublicKey) (signing.PublicKey, string, error) {
	damaged, changed := trustAdvice, "run `dist-client trust set KEY`"
	if s.keySource != "" {
		damaged, changed = "delete it, or give the key with "+s.keySource, "give it with "+s.keySource
	}
	p, err := readPinned(s.dir, damaged)
	if err == nil && p.whole {
		if err := writePin(s.dir, p); err != nil {
			s.log.Warn("could not mask the password in the pinned key's origin", "path", filepath.Join(s.dir, originFile), "err", err)
		}
	}
	if configured != nil {
		return configured, "if the server's key really changed, update " + s.keySetting(), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("sync: %w", err)
	}
	if p.key == nil {
		return nil, "the key was fetched from the server itself", nil
	}
	path := filepath.Join(s.dir, keyFile)
	// Compared masked (redact.URL), as server.key.origin holds it.
	servers := redact.URLs(s.configured)
	if s.keySource == "" && p.firstUseFrom != "" && !slices.ContainsFunc(servers, func(u string) bool { return strings.TrimRight(u, "/") == p.firstUseFrom }) {
		// The user's first server_url was the wrong server, whose key the
		// first sync pinned; corrected, every sync said "the key was
		// pinned in server.key; if the server's key really changed ...":
		// the change was theirs, not the server's.
		setting, now := "server_url", "is now"
		if len(s.configured) > 1 {
			setting, now = "server_urls", "are now"
		}
		return p.key, fmt.Sprintf("the key was pinned on first use from %s (in %s); %s in %s %s %s: if that first server was a mistake, `dist-client trust reset` forgets its key and the next sync pins the key %s presents; if the server's key really changed and its operator confirms the new one, %s",
			p.firstUseFrom, path, setting, cmp.Or(s.configFile, "client.yaml"), now, strings.Join(servers, ", "), servers[0], changed), nil
	}
	return p.key, "the key was pinned in " + path + "; if the server's key really changed and its operator confirms the new one, " + changed, nil
}

// keySetting names the setting that gives the server's key, with the
// client's configuration file when it is known (Options.ConfigFile).
func (s *syncer) keySetting() string {
	return cmp.Or(s.keySource, "server_key in "+cmp.Or(s.configFile, "client.yaml"))
}

// trustAdvice is how a client user replaces a pinned key.
const trustAdvice = "`dist-client trust reset` forgets it, `dist-client trust set KEY` replaces it"

// pinned is what server.key holds, the key, and firstUseFromField: the
// server a sync pinned the key from on first use, or rotatedFromField and
// rotationSerialField: the server whose key rotation statements a sync
// followed to it and the statement's serial, which server.key.origin
// (originFile) records beside it. server.key holds the key alone, the
// file every version reads: one from before the field refused a second
// line in it ("not base64"), so a client run again at an older version
// could not sync until its key was reset. The origin file names its key
// and counts only while that is the key pinned: a key followed through a
// rotation, or pinned by a version that writes no origin, is of unknown
// origin. A server.key with the field on a second line (written so for a
// while) still reads.
type pinned struct {
	key            signing.PublicKey
	firstUseFrom   string
	rotatedFrom    string
	rotationSerial int64
	// whole: a version that kept passwords wrote one, unmasked, in
	// server.key or its origin (readPinned); the caller writes the pin
	// again (writePin), masked.
	whole bool
}

const (
	firstUseFromField   = "first-use-from"
	rotatedFromField    = "rotated-from"
	rotationSerialField = "rotation-serial"
	originFile          = keyFile + ".origin"
)

// maxPinFile bounds server.key and its origin: a key and a URL.
const maxPinFile = 16 << 10

// parsePin reads a key on the first line of b, and after it lines
// "NAME: VALUE" (unknown names are ignored).
func parsePin(b []byte) (pinned, error) {
	first, rest, _ := strings.Cut(strings.TrimLeft(string(b), " \t\r\n"), "\n")
	k, err := signing.ParsePublicKey(first)
	if err != nil {
		return pinned{}, err
	}
	p := pinned{key: k}
	for _, line := range strings.Split(rest, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch value = strings.TrimSpace(value); strings.TrimSpace(name) {
		case firstUseFromField:
			p.firstUseFrom = value
		case rotatedFromField:
			p.rotatedFrom = value
		case rotationSerialField:
			p.rotationSerial, _ = strconv.ParseInt(value, 10, 64) // advice only: a bad one is none
		}
	}
	return p, nil
}

// readPinned reads server.key, and its origin: a nil key when no key is
// pinned. advice says how to replace a damaged one.
func readPinned(dir, advice string) (pinned, error) {
	path := filepath.Join(dir, keyFile)
	b, err := fsutil.ReadRegular(path, maxPinFile, true)
	if errors.Is(err, os.ErrNotExist) {
		return pinned{}, nil
	}
	if err != nil {
		return pinned{}, fmt.Errorf("read pinned key: %w", err)
	}
	p, err := parsePin(b)
	if err != nil {
		return pinned{}, fmt.Errorf("pinned key %s: %w (%s)", path, err, advice)
	}
	// On server.key's second line, as a version wrote it for a while, the
	// origin may be whole.
	p.whole = redact.HasPassword(p.firstUseFrom)
	p.firstUseFrom = redact.URL(p.firstUseFrom)
	// Only advice hangs on the origin: one unreadable, or of another key,
	// is none (and one of another key that holds a password goes at the
	// next writePin).
	if b, err := fsutil.ReadRegular(filepath.Join(dir, originFile), maxPinFile, true); err == nil {
		if o, err := parsePin(b); err == nil {
			p.whole = p.whole || redact.HasPassword(o.firstUseFrom) || redact.HasPassword(o.rotatedFrom)
			if o.key.Equal(p.key) && o.firstUseFrom != "" {
				p.firstUseFrom = redact.URL(o.firstUseFrom)
			}
			if o.key.Equal(p.key) && o.rotatedFrom != "" {
				p.rotatedFrom, p.rotationSerial = redact.URL(o.rotatedFrom), o.rotationSerial
			}
		}
	}
	return p, nil
}

// pinKey pins k, found by this sync: on first use (firstUse), recording
// the server it came from, or by following the rotation statements to the
// one of serial rotationSerial, recording the server that served them.
func (s *syncer) pinKey(k signing.PublicKey, firstUse bool, rotationSerial int64, why string) error {
	p := pinned{key: k}
	if firstUse {
		p.firstUseFrom = s.server() // masked: the file is world-readable
	} else {
		p.rotatedFrom, p.rotationSerial = s.server(), rotationSerial
	}
	if err := writePin(s.dir, p); err != nil {
		return fmt.Errorf("sync: pin server key: %w", err)
	}
	// A key pinned on first use is the caller's to show (Result.Pinned),
	// with the server and what to compare it with: a warning here too
	// put two lines of the one pin in a mirror's log, neither naming the
	// server. A rotation followed has no one else to say it.
	log := s.log.Warn
	if firstUse {
		log = s.log.Debug
	}
	log(why, "key", k.String(), "fingerprint", k.Fingerprint(), "path", filepath.Join(s.dir, keyFile))
	return nil
}

// writePinned replaces server.key atomically with k alone.
func writePinned(dir string, k signing.PublicKey) error { return writePin(dir, pinned{key: k}) }

// writePin replaces server.key atomically with the key alone, and its
// origin file with the key and the server it came from (removed when
// there is none). Written after the key, a crash between the two leaves
// an origin of another key, which readPinned does not count.
func writePin(dir string, p pinned) error {
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, keyFile), []byte(p.key.String()+"\n"), 0o644); err != nil {
		return err
	}
	origin := filepath.Join(dir, originFile)
	if p.firstUseFrom == "" && p.rotatedFrom == "" {
		if err := os.Remove(origin); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return fsutil.WriteFileAtomic(origin, originText(p), 0o644)
}

// originText is server.key.origin's text for p.
func originText(p pinned) []byte {
	t := p.key.String() + "\n"
	if p.firstUseFrom != "" {
		t += firstUseFromField + ": " + p.firstUseFrom + "\n"
	}
	if p.rotatedFrom != "" {
		t += fmt.Sprintf("%s: %s\n%s: %d\n", rotatedFromField, p.rotatedFrom, rotationSerialField, p.rotationSerial)
	}
	return []byte(t)
}
