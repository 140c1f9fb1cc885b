package catalogclient

import (
	"context"
	"fmt"
	"time"

	"github.com/distpac/distpac/internal/catalog"
)

// ExpiredError is a catalog past its valid_until. It matches ErrExpired.
type ExpiredError struct {
	Source string // the URL it came from; "" for the local copy
	Meta   catalog.Meta
	Now    time.Time
}

func (e *ExpiredError) Error() string {
	when := fmt.Sprintf("expired %s ago (serial %d, made %s, valid until %s)",
		Age(e.Now.Sub(e.Meta.ValidUntil)), e.Meta.Serial, stamp(e.Meta.Created), stamp(e.Meta.ValidUntil))
	if e.Source == "" {
		return "the local catalog " + when + ": run `dist-client sync`; if sync says the same, the server has not re-signed it"
	}
	return "catalog from " + e.Source + " " + when + ": the server has not re-signed it; ask its operator, or try another mirror"
}

// Is makes errors.Is(err, ErrExpired) hold.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// Age writes a duration the way people say how long ago something was:
// "40s", "12m", "3h", "5d".
func Age(d time.Duration) string {
	d = max(d, 0) // a time in the future (a clock, a damaged file) is no age
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 72*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// CheckExpiry reports whether db, the local catalog (Open), is past its
// valid_until at now: an *ExpiredError when it is. install and upgrade use
// it to warn on the catalog they read (install.Client.WarnExpired): like
// apt, which keeps using the package lists it has when a new Release file
// is refused as expired, they still work from the catalog held (its
// packages are as authentic as when it was accepted, and a publisher that
// is down must not stop installs from the cache), but the user hears that
// it may be missing updates.
func CheckExpiry(ctx context.Context, db *catalog.DB, now time.Time) error {
	m, err := db.Meta(ctx)
	if err != nil {
		return err
	}
	if m.Expired(now) {
		return &ExpiredError{Meta: m, Now: now}
	}
	return nil
}
