package resolve

import (
	"regexp"

	"github.com/Masterminds/semver/v3"
)

// versionToken finds the versions a constraint's text mentions.
var versionToken = regexp.MustCompile(`\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?`)

// neverMet reports whether no version at all can satisfy c, as with
// ">=2, <1": a mistake in the manifest that declares it, which no catalog
// can make up for. The allowed versions of each "||" branch are an
// interval with holes (!=), so if any version satisfies c, one of the
// versions it mentions, or the next patch, minor or major after one of
// them, or 0.0.0 does: those are tried, pre-releases allowed, so that
// neverMet errs towards false.
func neverMet(c *semver.Constraints) bool {
	if c == nil {
		return false
	}
	probes := []*semver.Version{semver.New(0, 0, 0, "", "")}
	for _, t := range versionToken.FindAllString(c.String(), -1) {
		v, err := semver.NewVersion(t)
		if err != nil {
			return false // a text we do not understand: do not claim
		}
		probes = append(probes, v, ptr(v.IncPatch()), ptr(v.IncMinor()), ptr(v.IncMajor()))
		if v.Prerelease() != "" {
			if w, err := v.SetPrerelease(v.Prerelease() + ".0"); err == nil {
				probes = append(probes, &w)
			}
		}
	}
	for _, v := range probes {
		if checkRelaxed(c, v) {
			return false
		}
	}
	return true
}

func ptr(v semver.Version) *semver.Version { return &v }
