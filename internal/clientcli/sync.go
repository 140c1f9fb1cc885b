package clientcli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/state"
)

type syncOptions struct{ json bool }

func newSync(e *env) *cobra.Command {
	var o syncOptions
	c := &cobra.Command{
		Use:   "sync",
		Short: "Download and verify the server's signed catalog",
		Long: `sync fetches packages.db and packages.db.sig from server_url (one round trip when
nothing changed), verifies the ed25519 signature against the pinned key, refuses a
catalog older than the one held, and replaces the local copy atomically. Any failure
keeps the previous catalog.

Without server_key in client.yaml, the first sync pins the key the server presents
(trust on first use) and says so; later syncs require that key.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSync(cmd.Context(), e, o, args) },
	}
	c.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	return c
}

func runSync(ctx context.Context, e *env, o syncOptions, _ []string) error {
	cfg, cp, err := e.config()
	if err != nil {
		return err
	}
	var key signing.PublicKey
	if cfg.ServerKey != "" {
		if key, err = signing.ParsePublicKey(cfg.ServerKey); err != nil {
			return err
		}
	}
	lock, err := state.Acquire(ctx, cp.Lock(), func(pid int) {
		e.UI.Warnf("another dist-client (pid %d) is changing this installation; waiting...\n", pid)
	})
	if err != nil {
		return err
	}
	defer lock.Release()
	res, err := catalogclient.Sync(ctx, catalogclient.Options{ServerURL: cfg.ServerURL, Dir: cp.Dir, Key: key, Logger: e.Logger})
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "connection refused") {
			return cli.WithHint(err, "is dist-server running? check server_url in client.yaml")
		}
		return err
	}
	if o.json {
		pinned := ""
		if res.Pinned != nil {
			pinned = res.Pinned.String()
		}
		if err := e.UI.JSON(struct {
			Updated  bool   `json:"updated"`
			Serial   int64  `json:"serial"`
			Packages int    `json:"packages"`
			Pinned   string `json:"pinned_key,omitempty"` // set when this sync pinned the key (trust on first use)
		}{res.Updated, res.Serial, res.Packages, pinned}); err != nil {
			return err
		}
	}
	if res.Pinned != nil {
		e.UI.Warnf("TRUST ON FIRST USE: pinned the key of %s:\n    %s\n  Compare it with the output of `dist-server key` on the server; to pin it explicitly, set\n  server_key in client.yaml. Later syncs will refuse catalogs signed by any other key.\n", cfg.ServerURL, res.Pinned)
	}
	switch {
	case o.json:
	case res.Updated:
		e.UI.Printf("catalog updated: serial %d, %d package versions\n", res.Serial, res.Packages)
	default:
		e.UI.Printf("catalog up to date: serial %d, %d package versions\n", res.Serial, res.Packages)
	}
	return nil
}
