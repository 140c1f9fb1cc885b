package script

import (
	"os"
	"strconv"
	"strings"
)

// Identify names the process group of the script whose pid is pid (its
// leader, as Run starts it).
func Identify(pid int) Group {
	g := Group{PGID: pid, Boot: bootID()}
	if st, ok := readStat(pid); ok {
		g.Start = st.start
	}
	return g
}

// ThisBoot reports whether the group was named in this boot: then no loss
// of power came between, and what processes wrote since is as they wrote
// it, synced or not.
func (g Group) ThisBoot() bool {
	boot := bootID()
	return g.Boot != "" && boot != "" && g.Boot == boot
}

// State says what became of the group (GroupState).
func (g Group) State() GroupState {
	if g.PGID <= 1 {
		return GroupGone
	}
	boot := bootID()
	if g.Boot != "" && boot != "" && g.Boot != boot {
		// Named in another boot: every process of it ended with that
		// boot, and a group of that id now is another's (a recovery
		// after a reboot named one as "may still run").
		return GroupGone
	}
	st, ok := readStat(g.PGID)
	if ok {
		// A pid is not handed out again while a group of that id has a
		// process, so a leader that is another process means the
		// script's group is gone.
		if g.Start != 0 && g.Boot != "" && st.start == g.Start && g.Boot == boot && st.pgrp == g.PGID {
			if !g.alive() {
				return GroupGone // the script exited, not yet reaped
			}
			return GroupOurs
		}
		if g.Start != 0 && g.Boot != "" {
			return GroupGone
		}
		return GroupUnknown
	}
	if g.alive() {
		return GroupUnknown
	}
	return GroupGone
}

// onlyZombies reports whether the group's leader, if it is left, has
// exited and waits to be reaped, and no other process of the group is
// left (the group's members are read from /proc).
func (g Group) onlyZombies() bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.pgrp == g.PGID && st.state != "Z" {
			return false
		}
	}
	return true
}

type procStat struct {
	state string
	pgrp  int
	start uint64
}

// readStat reads the fields of /proc/PID/stat that tell a process apart:
// its state, process group and start time (fields 3, 5 and 22, counted
// after the command name, which may hold spaces and parentheses).
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procStat{}, false
	}
	pgrp, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, false
	}
	return procStat{state: f[0], pgrp: pgrp, start: start}, true
}

// bootID is this boot's id: a pid and start time of another boot name
// another process.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
