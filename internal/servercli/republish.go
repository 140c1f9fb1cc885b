package servercli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/publish"
)

type republishOptions struct {
	past string // --past SERIAL as given; "" when not
	json bool
}

func newRepublish(e *env) *cobra.Command {
	var o republishOptions
	c := &cobra.Command{
		Use:   "republish [--past SERIAL]",
		Short: "Sign the catalog again under a new serial (past a given one with --past)",
		Long: `republish publishes the catalog again as it is, the same packages, signed under a new
serial with a fresh valid_until, whether or not the server runs: a running server
serves it when republish returns, and mirrors and clients take it at their next sync.
The new serial is above every serial before it and at least the UTC time as
YYYYMMDDhhmmss, as every publication's; with --past SERIAL it is above SERIAL too.

--past is the way out of a restore on a host whose clock is behind the one that made
the serials published since the backup: the restored server then publishes serials
its clients and mirrors hold, or have passed, and they refuse them (a client keeps
its catalog, saying the server "serves an older catalog (serial N; serial M held)",
or refuses "catalog serial M is the one held but its bytes differ"; a mirror says
the same in its log and status) until the clock passes theirs. Run republish --past M
with the highest serial they name; set the clock right as well, since until it
catches up every publication takes the serial after the one before. SERIAL is a whole
number from 1 to 99991231235959 (the last second of year 9999).

Without --past it re-signs at once: after a restore that brought back the very files
published (a file-system snapshot rolled back), which start cannot tell from its own,
start serves the backup's catalog under its old serial until the next publication.`,
		Example: `  dist-server republish --past 20261207205800   # the serial a client or mirror holds
  dist-server republish                          # re-sign now
  dist-server republish --json | jq .serial`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRepublish(cmd.Context(), e, o, cmd.Flags().Changed("past"))
		},
	}
	c.Flags().StringVar(&o.past, "past", "", "publish above `SERIAL` (the highest a client or mirror holds)")
	c.Flags().BoolVar(&o.json, "json", false, "print the serial published and its validity as JSON")
	return c
}

// parsePast reads --past: a serial as clients and mirrors print it, a
// whole number from 1 to catalog.MaxTimeSerial in decimal digits alone. A
// sign, a space, a unit or an exponent is a mistake, and so is a number
// past the serial of any time (a digit too many): the serial would stay
// above the clock's for good, and a restored publisher would no longer
// publish past the serials made since its backup by its clock alone.
func parsePast(s string) (int64, error) {
	want := fmt.Sprintf("want the serial a client or mirror holds, a whole number from 1 to %d, e.g. %d", catalog.MaxTimeSerial, catalog.TimeSerial(time.Now()))
	if s == "" {
		return 0, cli.Usagef("--past: no serial given: %s", want)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, cli.Usagef("--past %q: not a serial: %s", s, want)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil || n > catalog.MaxTimeSerial:
		return 0, cli.Usagef("--past %s: above %d, the serial of the last second of year 9999, which no publisher's clock made (a digit too many?): %s", s, catalog.MaxTimeSerial, want)
	case n == 0:
		return 0, cli.Usagef("--past %s: serials start at 1: %s", s, want)
	}
	return n, nil
}

func runRepublish(ctx context.Context, e *env, o republishOptions, pastGiven bool) error {
	var past int64
	if pastGiven {
		var err error
		if past, err = parsePast(o.past); err != nil {
			return err
		}
	}
	cfg, sp, err := e.inspect("republish", republishHint)
	if err != nil {
		return err
	}
	if err := refuseInMirrorHome(sp, "republish", "run dist-server republish on the primary (the mirror follows its catalog)"); err != nil {
		return err
	}
	p := e.publisher(cfg, sp, "another add, remove or re-signing is publishing; waiting for it...")
	m, err := p.Republish(ctx, past)
	if errors.Is(err, publish.ErrNothingPublished) {
		return cli.WithHint(fmt.Errorf("republish: %w", err), republishHint)
	}
	if err != nil {
		return unpublishable(fmt.Errorf("republish: %w", err))
	}
	if now := catalog.TimeSerial(time.Now()); past >= now {
		e.UI.Warnf("serial %d is ahead of this host's clock (%s UTC gives serial %d): the clock is behind the one that made it; set it right, since until it catches up every publication takes the serial after the one before\n",
			past, time.Now().UTC().Format(time.DateTime), now)
	}
	if o.json {
		if err := e.UI.JSON(struct {
			Serial     int64     `json:"serial"`
			Created    time.Time `json:"created"`
			ValidUntil time.Time `json:"valid_until"`
		}{m.Serial, m.Created, m.ValidUntil}); err != nil {
			return err
		}
	} else {
		e.UI.Printf("republished the catalog: serial %d, valid until %s\n", m.Serial, m.ValidUntil.Local().Format(time.DateTime))
	}
	return waitServed(ctx, e, sp, "the catalog is republished")
}

// republishHint says what publishes a first catalog, which republish
// only signs again.
const republishHint = "nothing is published with this data home; dist-server add PATH... publishes packages"
