package clientcli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/ui"
)

// trustOptions are the flags of trust reset and trust set.
type trustOptions struct {
	yes, json bool
}

// trustJSONUsage is trust reset's and trust set's --json.
const trustJSONUsage = "print the old and new keys and whether the pinned key changed as JSON (the fingerprints and the question go to stderr)"

// trustKey is a key in trust's JSON, as trust show --json gives it.
type trustKey struct {
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
}

func newTrustKey(k signing.PublicKey) *trustKey {
	if k == nil {
		return nil
	}
	return &trustKey{Key: k.String(), Fingerprint: k.Fingerprint()}
}

// trustChange is what trust reset --json and trust set --json print.
type trustChange struct {
	// Old is the key pinned before, null when none was.
	Old *trustKey `json:"old"`
	// New is the key pinned now, null after a reset (the next sync pins
	// the server's key).
	New *trustKey `json:"new"`
	// Changed is false when the key given was pinned already.
	Changed bool `json:"changed"`
	// Path is the file that holds the pinned key.
	Path string `json:"path,omitempty"`
}

// trustShowJSON is trust show --json.
type trustShowJSON struct {
	Key         string `json:"key,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Source: "server_key" (client.yaml), "pinned" (Path), or
	// "none" (the next sync pins the server's key).
	Source string `json:"source"`
	Path   string `json:"path,omitempty"`
	// RotatedPast: the catalog held is signed by another key,
	// which sync reached through the server's key rotation
	// statements; server_key is due for an update.
	RotatedPast bool `json:"rotated_past"`
	// FirstUseFrom: the server a sync pinned the key from
	// on first use (when recorded).
	FirstUseFrom string `json:"first_use_from,omitempty"`
	// FollowedRotation: the key rotation statement a sync followed to the
	// pinned key, and the server that served it (when recorded); null
	// otherwise.
	FollowedRotation *followedRotation `json:"followed_rotation"`
}

// followedRotation is where a pinned key reached through a key rotation
// came from: the statement's serial (the first its key signed) and the
// server.
type followedRotation struct {
	Serial int64  `json:"serial"`
	From   string `json:"from"`
}

func newTrust(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "trust",
		Short: "Show or change the server key catalogs are verified with",
		Long: `trust manages the server's ed25519 key that sync verifies the catalog with.

  trust show        the key in force, its fingerprint and where it comes from
  trust reset       forget the pinned key: the next sync pins the server's key again
                    (trust on first use)
  trust set KEY     pin KEY (from the server's operator: dist-server key)

A planned key change needs none of this: dist-server key rotate publishes a
statement signed by the old key, and sync follows it. reset and set are for a
publisher who lost its key. They print the old and new fingerprints and ask for a
confirmation on a terminal (-y/--yes to skip; without a terminal, --yes is
required). The catalog held stays usable; the next sync accepts any serial the new
key signed (a publisher who lost everything starts again at 1). A key set as
server_key in client.yaml is changed there instead.`,
		Args: cli.NoArgs,
	}
	c.AddCommand(newTrustShow(e), newTrustReset(e), newTrustSet(e))
	return c
}

func newTrustShow(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show",
		Short: "Print the server key in force and its fingerprint",
		Example: `  dist-client trust show
  dist-client trust show --json`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cp, err := e.config()
			if err != nil {
				return err
			}
			configured, err := configuredKey(cfg.ServerKey)
			if err != nil {
				return err
			}
			t, err := catalogclient.LoadTrust(cp.Dir, configured)
			if err != nil {
				return err
			}
			// A configured key that sync followed past (key rotation):
			// the catalog held is another key's, and client.yaml is to be
			// updated.
			rotatedPast := false
			if t.Configured {
				if by, err := catalogclient.HeldSignedBy(cp.Dir, t.Key); err == nil && !by {
					rotatedPast = true
				}
			}
			if asJSON {
				out := trustShowJSON{Source: "none", RotatedPast: rotatedPast}
				switch {
				case t.Key == nil:
				case t.Configured:
					out.Key, out.Fingerprint, out.Source = t.Key.String(), t.Key.Fingerprint(), "server_key"
				default:
					out.Key, out.Fingerprint, out.Source, out.Path, out.FirstUseFrom = t.Key.String(), t.Key.Fingerprint(), "pinned", t.Path, t.FirstUseFrom
					if t.RotatedFrom != "" {
						out.FollowedRotation = &followedRotation{t.RotationSerial, t.RotatedFrom}
					}
				}
				return e.UI.JSON(out)
			}
			switch {
			case t.Key == nil:
				e.UI.Dataf("no server key pinned: the next sync pins the key %s presents (trust on first use)\n", firstServer(cfg))
			case t.Configured:
				path, _ := e.configPath()
				e.UI.Dataf("%s\n  fingerprint %s\n  from server_key in %s\n", t.Key, t.Key.Fingerprint(), path)
				if rotatedPast {
					e.UI.Dataf("  the catalog held is signed by another key, reached through the server's key rotation: update server_key (dist-server key on the server prints it)\n")
				}
			default:
				e.UI.Dataf("%s\n  fingerprint %s\n  pinned in %s\n", t.Key, t.Key.Fingerprint(), t.Path)
				if t.FirstUseFrom != "" {
					e.UI.Dataf("  pinned on first use from %s\n", t.FirstUseFrom)
				}
				if t.RotatedFrom != "" {
					e.UI.Dataf("  followed the key rotation statement at serial %d from %s\n", t.RotationSerial, t.RotatedFrom)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the key, its fingerprint and where it comes from as JSON")
	return c
}

func newTrustReset(e *env) *cobra.Command {
	var o trustOptions
	c := &cobra.Command{
		Use:   "reset",
		Short: "Forget the pinned server key; the next sync pins the server's key again",
		Example: `  dist-client trust reset          # asks on a terminal
  dist-client trust reset --yes && dist-client sync`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrustChange(cmd.Context(), e, o, nil)
		},
	}
	c.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for a confirmation")
	c.Flags().BoolVar(&o.json, "json", false, trustJSONUsage)
	return c
}

func newTrustSet(e *env) *cobra.Command {
	var o trustOptions
	c := &cobra.Command{
		Use:     "set KEY",
		Short:   "Pin KEY (ed25519:..., from dist-server key) as the server key",
		Example: `  dist-client trust set ed25519:Pq1B0ZOx0vN0sWw+fIhqjzT3c5dOQH2r3m1+Yp2CbX8=`,
		Args:    cli.ExactArgs(1, "key to pin"),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := signing.ParsePublicKey(args[0])
			if err != nil {
				return cli.Usagef("trust set: %v", err)
			}
			return runTrustChange(cmd.Context(), e, o, k)
		},
	}
	c.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for a confirmation")
	c.Flags().BoolVar(&o.json, "json", false, trustJSONUsage)
	return c
}

// runTrustChange pins next, or forgets the pinned key when next is nil,
// after showing both fingerprints and getting a confirmation.
func runTrustChange(ctx context.Context, e *env, o trustOptions, next signing.PublicKey) error {
	cfg, cp, err := e.config()
	if err != nil {
		return err
	}
	configured, err := configuredKey(cfg.ServerKey)
	if err != nil {
		return err
	}
	if configured != nil {
		path, _ := e.configPath()
		return cli.WithHint(catalogclient.ErrConfiguredKey, "edit server_key in "+path+", or remove it to pin a key with dist-client trust")
	}
	lock, err := state.Acquire(ctx, cp.Lock(), func(pid int) {
		e.UI.Warnf("another dist-client (pid %d) is changing this installation; waiting...\n", pid)
	})
	if err != nil {
		return err
	}
	defer lock.Release()
	t, err := catalogclient.LoadTrust(cp.Dir, nil)
	if err != nil && next == nil {
		// A damaged server.key is what reset is for.
		e.UI.Warnf("%v\n", err)
	} else if err != nil {
		return err
	}
	old := "none"
	if t.Key != nil {
		old = t.Key.Fingerprint() + " (" + t.Key.String() + ")"
	}
	// With --json, stdout carries the JSON alone: the fingerprints the
	// question is about go to stderr with it.
	text := e.UI
	if o.json {
		text = ui.New(e.UI.Err, e.UI.Err, e.UI.Quiet)
		text.In, text.InTTY = e.UI.In, e.UI.InTTY
	}
	result := trustChange{Old: newTrustKey(t.Key), New: newTrustKey(next), Changed: true, Path: t.Path}
	question := "Forget the pinned server key? The next sync pins the key " + firstServer(cfg) + " presents."
	if next == nil && t.Key == nil && err == nil {
		// Nothing to forget: it asked, and --json said "changed": true
		// with both keys null (a review).
		text.Printf("no server key is pinned: the next sync pins the key %s presents\n", firstServer(cfg))
		result.Changed = false
		return printTrustChange(e, o, result)
	}
	if next != nil {
		question = "Pin this key? Catalogs signed by any other key will be refused."
		if t.Key.Equal(next) {
			text.Printf("server key unchanged: %s is already pinned\n", next.Fingerprint())
			result.Changed = false
			return printTrustChange(e, o, result)
		}
	}
	text.Dataf("old key: %s\n", old)
	if next != nil {
		text.Dataf("new key: %s (%s)\n", next.Fingerprint(), next)
	} else {
		text.Dataf("new key: none until the next sync pins the server's\n")
	}
	if !o.yes {
		ok, err := text.Confirm(question)
		if errors.Is(err, ui.ErrNoTerminal) {
			return cli.WithHint(errors.New("trust: server key not changed: the change needs a confirmation, and "+err.Error()), "check the fingerprints above, then run it again with --yes")
		}
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("trust: server key not changed")
		}
	}
	if next == nil {
		err = catalogclient.Unpin(cp.Dir, nil)
	} else {
		err = catalogclient.Pin(cp.Dir, nil, next)
	}
	if err != nil {
		return err
	}
	if next == nil {
		text.Printf("server key forgotten; the next sync pins the key the server presents\n")
	} else {
		text.Printf("server key pinned: %s; the next sync verifies with it\n", next.Fingerprint())
	}
	return printTrustChange(e, o, result)
}

// printTrustChange prints trust reset's or trust set's result with --json.
func printTrustChange(e *env, o trustOptions, r trustChange) error {
	if !o.json {
		return nil
	}
	return e.UI.JSON(r)
}

// configuredKey parses server_key from client.yaml (nil when unset).
func configuredKey(s string) (signing.PublicKey, error) {
	if s == "" {
		return nil, nil
	}
	return signing.ParsePublicKey(s)
}
