package manifest

import (
	"regexp"

	"github.com/Masterminds/semver/v3"
)

// versionToken finds the versions a constraint's text mentions.
var versionToken = regexp.MustCompile(`\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?`)

// NeverMet reports whether no version at all can satisfy c, as with
// ">=2, <1": a mistake in the manifest that declares it, which no catalog
// can make up for. Parse refuses such a dependency or conflict (dist-server
// add), and the resolver says so of one a catalog holds (published before
// add refused them, or written by hand), rather than that no version
// published matches. The allowed versions of each "||" branch are an
// interval with holes (!=), so if any version satisfies c, one of the
// versions it mentions, or the next patch, minor or major after one of
// them, or 0.0.0, or the lowest pre-release of one of those does: those
// are tried, pre-releases allowed, so that NeverMet errs towards false.
func NeverMet(c *semver.Constraints) bool {
	if c == nil {
		return false
	}
	probes := []*semver.Version{semver.New(0, 0, 0, "", "")}
	for _, t := range versionToken.FindAllString(c.String(), -1) {
		v, err := semver.NewVersion(t)
		if err != nil {
			return false // a text we do not understand: do not claim
		}
		for _, x := range []*semver.Version{v, ptr(v.IncPatch()), ptr(v.IncMinor()), ptr(v.IncMajor())} {
			probes = append(probes, x)
			// The lowest pre-release of x, or the next after x's own:
			// ">1.0.0, <1.0.1" is met by 1.0.1-0 alone (a review).
			pre := "0"
			if x.Prerelease() != "" {
				pre = x.Prerelease() + ".0"
			}
			if w, err := x.SetPrerelease(pre); err == nil {
				probes = append(probes, &w)
			}
		}
	}
	for _, v := range probes {
		if (Dependency{Constraint: c}).Holds(v) {
			return false
		}
	}
	return true
}

func ptr(v semver.Version) *semver.Version { return &v }
