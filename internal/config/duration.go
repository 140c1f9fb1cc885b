package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a length of time written as Go writes durations ("168h",
// "90m", "3s") or as whole days ("7d").
type Duration time.Duration

// UnmarshalYAML reads a duration from a scalar. An empty one ("") is no
// value, as for sizes (units.Size): the key's default, which the README's
// client.yaml shows as `seed_time_limit: ""` (no limit).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration like \"168h\", got %s", describe(n))
	}
	if strings.TrimSpace(n.Value) == "" {
		*d = 0
		return nil
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads "168h", "1h30m", "3s" or "7d".
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: want whole days (\"7d\") or hours, minutes and seconds (\"168h\", \"90m\", \"3s\")", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: want hours, minutes and seconds (\"168h\", \"90m\", \"3s\") or whole days (\"7d\")", s)
	}
	return v, nil
}

// writtenDuration is d as the configuration files take it: whole days as
// "400d", else as Go writes it ("90m0s"). A mistake about "400d" said
// "9600h0m0s is out of range: want from 2s to 8784h0m0s" (a newcomer's run).
func writtenDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
