//go:build !linux

package script

// Identify names the process group of the script whose pid is pid. This
// system does not tell start times: the group can be found, not told
// apart from one that took its id since.
func Identify(pid int) Group { return Group{PGID: pid} }

// State says what became of the group: never GroupOurs here, so Kill kills
// nothing.
func (g Group) State() GroupState {
	if g.alive() {
		return GroupUnknown
	}
	return GroupGone
}

func (g Group) onlyZombies() bool { return false }

// ThisBoot reports whether the group was named in this boot: this system
// does not tell boots apart, so never.
func (g Group) ThisBoot() bool { return false }
