package servercli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/publish"
)

func newKey(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "key",
		Short: "Print the public key clients use to verify the catalog",
		Long: `key prints the server's ed25519 public key. Put it in each client's client.yaml as
server_key to pin it. The first add (or start) makes the key pair; key only shows it, and
makes nothing. A mirror's data home has no key of its own: run key on the primary.`,
		Example: `  dist-server key
  dist-server key --json | jq -r .key   # the key alone, for server_key in client.yaml`,
		Args: cli.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			h, err := e.existingHome("key", noKeyHint)
			if err != nil {
				return err
			}
			// A key made here would sign nothing, and an operator who
			// gave it to clients would have them refuse the mirror's
			// catalog, which the primary's key signs.
			if err := refuseInMirrorHome(h.Server(), "key", "run dist-server key on the primary (the mirror serves that key at /key)"); err != nil {
				return err
			}
			k, err := publish.ReadKey(h.Server())
			if errors.Is(err, publish.ErrNoKey) {
				return cli.WithHint(fmt.Errorf("key: %w", err), noKeyHint)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return e.UI.JSON(struct {
					Key         string `json:"key"`
					Fingerprint string `json:"fingerprint"`
				}{k.Public().String(), k.Public().Fingerprint()})
			}
			e.UI.Dataf("%s\n", k.Public())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the key and its fingerprint as JSON")
	c.AddCommand(newKeyRotate(e), newKeyNew(e))
	return c
}

// noKeyHint says what makes the signing key, which key only shows.
const noKeyHint = "the first dist-server add PATH... (or dist-server start) makes the signing key; then run dist-server key again"

// keyChange is what key rotate and key new print with --json: the new
// public key and its fingerprint under the names key --json gives them
// (jq -r .key reads all three), the old key's fingerprint (rotate), and
// the first catalog serial the new key signs (0: key new with no catalog
// published yet). A command that made the key and then failed has its
// error and hint in it, as install --json's result has.
type keyChange struct {
	OldFingerprint string `json:"old_fingerprint,omitempty"`
	Key            string `json:"key"`
	Fingerprint    string `json:"fingerprint"`
	Serial         int64  `json:"serial"`
	// Note is what key rotate's text output advises once the new key is
	// in force (rotateNote): --json left it out, and a script that
	// rotated heard nothing of server_key in client.yaml files. (key
	// new's advice is a warning, on stderr with --json too.)
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
	Hint  string `json:"hint,omitempty"`
}

// rotateNote is what key rotate advises once the new key is in force.
const rotateNote = "clients and mirrors that pinned the old key follow on their next sync; update server_key where client.yaml sets it, and a mirror's --key (PRIMARY_KEY in its systemd unit's environment file)"

// printKeyChange prints v with err's text and hint in it, and returns err.
func (e *env) printKeyChange(ctx context.Context, v keyChange, err error) error {
	if err != nil {
		v.Error = cli.ErrorText(ctx, err)
		if h := (*cli.Hinted)(nil); errors.As(err, &h) && !cli.Interrupted(ctx, err) {
			v.Hint = h.Hint
		}
	}
	if jerr := e.UI.JSON(v); err == nil {
		return jerr
	}
	return err
}

// keyJSONFlag is key rotate's and key new's --json, printing what: their
// text lines are then left out (warnings still go to stderr).
func keyJSONFlag(c *cobra.Command, asJSON *bool, what string) {
	c.Flags().BoolVar(asJSON, "json", false, "print "+what+" as JSON")
}

func newKeyNew(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "new",
		Short: "Make a new signing key in place of a lost or stolen one",
		Long: `new makes a new signing key when signing.key is lost or stolen, prints its public
key and publishes the catalog again, signed by it, under the next serial (a running
server serves it, and the new key at /key, when new returns). Without the old key no
rotation statement can vouch for the new one, so every client refuses that catalog
("bad catalog signature") until it trusts the new key: give it to them over a channel
they trust (dist-client trust set KEY), and restart each mirror with --key KEY. Other
commands refuse to make a key while a catalog signed with the old one is published,
since that would break every client unasked. With signing.key there, new refuses: use
dist-server key rotate instead (clients follow a rotation without manual steps), or,
for a stolen key, move signing.key out of the way first. Unlike key, it makes the data
directory when there is none yet: it writes the key there.`,
		Example: `  dist-server key new                 # then on each client: dist-client trust set KEY
  dist-server key new --json | jq -r .key`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runKeyNew(cmd.Context(), e, asJSON) },
	}
	keyJSONFlag(c, &asJSON, "the new key, its fingerprint and the catalog serial it signs from (0: no catalog published yet)")
	return c
}

func runKeyNew(ctx context.Context, e *env, asJSON bool) error {
	cfg, sp, err := e.config()
	if err != nil {
		return err
	}
	if err := refuseInMirrorHome(sp, "key new", "run dist-server key new on the primary"); err != nil {
		return err
	}
	pub := &publish.Publisher{Paths: sp, Config: cfg, Logger: e.Logger, OnRaise: e.saidRaise, OnWait: func() {
		e.UI.Warnf("another add, remove or rotate is publishing; waiting...\n")
	}}
	if asJSON {
		e.UI.Quiet = true // no text lines on stdout; JSON and warnings stay
	}
	k, serial, err := pub.NewKey(ctx)
	if k == nil {
		return err
	}
	v := keyChange{Key: k.Public().String(), Fingerprint: k.Public().Fingerprint(), Serial: serial}
	if err != nil {
		// The key is made: say which, and that the catalog still carries
		// the old key's signature until a publication succeeds.
		e.UI.Warnf("new signing key %s in %s, but the catalog is not signed by it yet: the next dist-server add, remove or start publishes it\n", k.Public().Fingerprint(), sp.SigningKey())
		err = unpublishable(fmt.Errorf("key new: publish the catalog signed by the new key: %w", err))
		if asJSON {
			v.Serial = 0
			return e.printKeyChange(ctx, v, err)
		}
		e.UI.Dataf("%s\n", k.Public())
		return err
	}
	if serial > 0 {
		e.UI.Warnf("new signing key %s signs catalog serial %d on: clients refuse it until they trust the new key (dist-client trust set KEY); restart mirrors with --key KEY\n", k.Public().Fingerprint(), serial)
	}
	if !asJSON {
		e.UI.Dataf("%s\n", k.Public())
	}
	if serial > 0 {
		err = waitServed(ctx, e, sp, "the new key is in force")
	}
	if asJSON {
		return e.printKeyChange(ctx, v, err)
	}
	return err
}

func newKeyRotate(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the signing key; clients that pinned the old one follow",
		Long: `rotate makes a new signing key and a statement, signed by the old key, that hands
over to the new one. The statement is published next to the catalog
(packages.db.rotation, with every earlier one), and the catalog is published again
signed by the new key. Clients that pinned the old key (or any earlier one) verify
the statements on their next sync and follow without manual steps; clients with
server_key in client.yaml follow too and are told to update it. A running server
serves the new key and statement at once. The old private key is deleted.

Rotation needs the old key. If it is lost or stolen, a statement cannot help:
give clients the new key (dist-client trust set KEY), as the README describes.`,
		Example: `  dist-server key rotate              # clients follow at their next sync
  dist-server key rotate --json | jq -r .key`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runKeyRotate(cmd.Context(), e, asJSON) },
	}
	keyJSONFlag(c, &asJSON, "the old key's fingerprint, the new key, its fingerprint, the catalog serial it signs from and what clients do (note)")
	return c
}

// rotateNoKeyHint says what makes the key rotate replaces, when there is
// none yet (no data directory, or one without a key).
const rotateNoKeyHint = "the first dist-server add PATH... (or dist-server start) makes the signing key; rotate replaces it once clients pinned it"

func runKeyRotate(ctx context.Context, e *env, asJSON bool) error {
	// Without a data directory there is no key to rotate: rotate says so
	// and makes none, as key does.
	cfg, sp, err := e.inspect("key rotate", rotateNoKeyHint)
	if err != nil {
		return err
	}
	if err := refuseInMirrorHome(sp, "key rotate", "run dist-server key rotate on the primary (the mirror follows the rotation)"); err != nil {
		return err
	}
	pub := &publish.Publisher{Paths: sp, Config: cfg, Logger: e.Logger, OnRaise: e.saidRaise, OnWait: func() {
		e.UI.Warnf("another add, remove or rotate is publishing; waiting...\n")
	}}
	if asJSON {
		e.UI.Quiet = true // no text lines on stdout; JSON and warnings stay
	}
	res, err := pub.Rotate(ctx)
	if errors.Is(err, publish.ErrNoKey) {
		return cli.WithHint(fmt.Errorf("key rotate: %w", err), rotateNoKeyHint)
	}
	st := res.Statement
	if asJSON && st.Sig != nil {
		v := keyChange{OldFingerprint: st.Old.Fingerprint(), Key: st.New.String(), Fingerprint: st.New.Fingerprint(), Serial: st.Serial}
		if err != nil {
			return e.printKeyChange(ctx, v, unpublishable(err))
		}
		err := waitServed(ctx, e, sp, "the new key is in force")
		if err == nil {
			v.Note = rotateNote
		}
		return e.printKeyChange(ctx, v, err)
	}
	if st.Sig != nil {
		e.UI.Printf("key rotated: %s -> %s (catalog serial %d on)\n", st.Old.Fingerprint(), st.New.Fingerprint(), st.Serial)
		e.UI.Dataf("%s\n", st.New)
	}
	if err != nil {
		return unpublishable(err)
	}
	// "A running server serves the new key and statement at once."
	if err := waitServed(ctx, e, sp, "the new key is in force"); err != nil {
		return err
	}
	e.UI.Printf("%s\n", rotateNote)
	return nil
}
