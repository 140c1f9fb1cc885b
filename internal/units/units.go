// Package units parses and prints byte sizes and byte rates, the one notation
// used by server.yaml, client.yaml and the command-line flags.
//
// A size is a non-negative number followed by a unit, with optional spaces in
// between: "512B", "10 MiB", "1.5GiB", "250kB". The units are case-sensitive
// and limited to exactly these, so a typo never silently means something else:
//
//	B                 1 byte
//	KiB, MiB, GiB     powers of 1024
//	kB, MB, GB        powers of 1000
//
// Aliases such as "KB", "K", "M" or "mb" are refused on purpose: "KB" is
// ambiguous between 1000 and 1024, and the design (DESIGN.md §2) lists the
// units above and no others. A bare integer ("1048576") means bytes. Rates
// share the notation and may end in "/s" ("10MiB/s"), which changes nothing:
// every rate is per second. Fractions are allowed with any unit but B; the
// result is rounded down to a whole number of bytes.
package units

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Size is a number of bytes (or of bytes per second, for a rate). The zero
// value means "none", which configuration treats as "unlimited" for rates.
type Size int64

// Common sizes, for code that wants to spell constants readably.
const (
	B   Size = 1
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	KB  Size = 1000 // the "kB" unit
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
)

// unitList is quoted in every parse error so the user sees what is accepted.
const unitList = "B, KiB, MiB, GiB, kB, MB, GB"

// multiplier returns the size in bytes of an accepted unit.
func multiplier(unit string) (int64, bool) {
	switch unit {
	case "B":
		return 1, true
	case "KiB":
		return 1 << 10, true
	case "MiB":
		return 1 << 20, true
	case "GiB":
		return 1 << 30, true
	case "kB":
		return 1000, true
	case "MB":
		return 1000 * 1000, true
	case "GB":
		return 1000 * 1000 * 1000, true
	}
	return 0, false
}

// maxInputLen bounds the work a hostile or mistaken value can cause; no
// sensible size needs more characters than this.
const maxInputLen = 64

// ParseSize parses a size such as "10MiB", "1.5 GiB", "250kB", "10MiB/s" or
// "4096" (a bare integer is bytes). Surrounding spaces are ignored.
func ParseSize(s string) (Size, error) {
	bad := func(why string) (Size, error) {
		return 0, fmt.Errorf("%q is not a size: %s", s, why)
	}
	if len(s) > maxInputLen {
		return bad("too long")
	}
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "/s")
	if strings.HasPrefix(t, "-") {
		return bad("must not be negative")
	}

	// Split into the number (digits with at most one '.') and the unit.
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimLeft(t[i:], " ")
	intPart, fracPart, hasDot := strings.Cut(num, ".")
	if intPart == "" || strings.Contains(fracPart, ".") || hasDot && fracPart == "" {
		return bad("want a number and a unit (" + unitList + ")")
	}
	if unit == "" {
		if hasDot {
			return bad("a fraction needs a unit (" + unitList + ")")
		}
		unit = "B"
	}
	mult, ok := multiplier(unit)
	if !ok {
		return bad("want a number and a unit (" + unitList + ")")
	}
	if hasDot && mult == 1 {
		return bad("a fraction of a byte")
	}

	// Exact arithmetic: bytes = digits * mult / 10^len(frac), rounded down.
	// Floats would turn "0.1GB" into 99999999 bytes.
	digits, ok := new(big.Int).SetString(intPart+fracPart, 10)
	if !ok {
		return bad("want a number and a unit (" + unitList + ")")
	}
	n := digits.Mul(digits, big.NewInt(mult))
	n.Quo(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(fracPart))), nil))
	if !n.IsInt64() {
		return bad("too large")
	}
	return Size(n.Int64()), nil
}

// UnmarshalYAML implements yaml.Unmarshaler. It accepts a size string
// ("10MiB"), a non-negative integer (bytes) and an empty string (zero, which
// rates read as "unlimited"). YAML null never reaches it: the decoder leaves
// the previous value in place, as it does for every type.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size like \"10MiB\", got %s", kindName(n.Kind))
	}
	if n.ShortTag() == "!!int" {
		var v int64
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("%q is not a size: too large", n.Value)
		}
		if v < 0 {
			return fmt.Errorf("%q is not a size: must not be negative", n.Value)
		}
		*s = Size(v)
		return nil
	}
	if strings.TrimSpace(n.Value) == "" {
		*s = 0
		return nil
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a document"
	}
}

// Set implements the Set half of pflag.Value and flag.Value, so a Size can
// be bound directly to a command-line flag.
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// Type implements pflag.Value; the name shows in generated usage text.
func (s *Size) Type() string { return "size" }

// String gives a short human form that ParseSize reads back: "512 B",
// "16 MiB", "1.5 GiB". A value that is a whole number of a decimal unit but
// not of the binary unit of the same magnitude prints with the decimal unit
// ("10 MB", not "9.54 MiB"). Other values are rounded down to two decimals,
// so for them the round trip is approximate (within 1%).
func (s Size) String() string {
	n := int64(s)
	if n < 0 {
		// Never produced by ParseSize; printed plainly rather than hidden.
		return strconv.FormatInt(n, 10) + " B"
	}
	binary := []struct {
		name string
		size int64
		dec  string
		dsz  int64
	}{
		{"GiB", 1 << 30, "GB", 1e9},
		{"MiB", 1 << 20, "MB", 1e6},
		{"KiB", 1 << 10, "kB", 1e3},
	}
	for _, u := range binary {
		if n < u.size {
			continue
		}
		if n%u.size != 0 && n%u.dsz == 0 {
			return strconv.FormatInt(n/u.dsz, 10) + " " + u.dec
		}
		return decimals(n, u.size) + " " + u.name
	}
	if n >= 1000 && n%1000 == 0 {
		return strconv.FormatInt(n/1000, 10) + " kB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// decimals prints n/unit with at most two decimals and no trailing zeros,
// rounded down in integer arithmetic: rounding up could print a value beyond
// the largest Size, and floats lose precision near it.
func decimals(n, unit int64) string {
	whole, hundredths := n/unit, n%unit*100/unit
	t := strconv.FormatInt(whole, 10)
	switch {
	case hundredths == 0:
		return t
	case hundredths%10 == 0:
		return t + "." + strconv.FormatInt(hundredths/10, 10)
	default:
		return t + fmt.Sprintf(".%02d", hundredths)
	}
}

// FormatBytes prints a byte count for people reading progress and listings:
// whole bytes below 1 KiB ("0 B", "1023 B"), otherwise one decimal in the
// largest binary unit that keeps the number below 1024 ("1.0 KiB",
// "16.0 MiB", "1.5 GiB"). The fixed single decimal keeps columns steady as
// numbers change. Negative counts keep their sign.
func FormatBytes(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign = "-"
		u = uint64(-(n + 1)) + 1 // no overflow at math.MinInt64
	}
	if u < 1024 {
		return sign + strconv.FormatUint(u, 10) + " B"
	}
	names := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(u) / 1024
	i := 0
	// Promote when rounding to one decimal would print "1024.0".
	for v >= 1023.95 && i < len(names)-1 {
		v /= 1024
		i++
	}
	return sign + strconv.FormatFloat(v, 'f', 1, 64) + " " + names[i]
}

// FormatRate prints bytes per second like FormatBytes, with "/s" ("0 B/s",
// "1.5 MiB/s"), so rates everywhere use the same binary units as sizes.
func FormatRate(bps float64) string {
	if bps < 0 || bps != bps {
		bps = 0
	}
	return FormatBytes(int64(bps+0.5)) + "/s"
}

// errNegative is kept for callers that validate sizes built in code.
var errNegative = errors.New("must not be negative")

// Validate reports a negative size, which ParseSize never returns but which a
// Size built in code can hold.
func (s Size) Validate() error {
	if s < 0 {
		return errNegative
	}
	return nil
}
