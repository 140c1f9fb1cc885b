#!/usr/bin/env bash
# make demo: a dist-server and two dist-clients on loopback, each in its own
# temporary data home; a real install over BitTorrent, the installed program
# run, a second client fetching while the server and the first both seed,
# uninstall, and a clean stop.
set -euo pipefail

bin=${BIN:-"$(cd "$(dirname "$0")/.." && pwd)/bin"}
examples="$(cd "$(dirname "$0")/.." && pwd)/examples"
work=$(mktemp -d "${TMPDIR:-/tmp}/distpac-demo.XXXXXX")
server_pid=""
daemon_pid=""

cleanup() {
	# Stop only what this script started, by PID.
	if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
	XDG_DATA_HOME="$work/server" "$bin/dist-server" --config "$work/server.yaml" stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/free_port.sh"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" 2>/dev/null || printf '\n==> %s\n' "$*"; }
if [ -n "${NO_COLOR:-}" ] || [ ! -t 1 ]; then step() { printf '\n==> %s\n' "$*"; }; fi

db_port=$(free_port); tracker_port=$(free_port); peer_port=$(free_port)
cat >"$work/server.yaml" <<YAML
database_addr: "127.0.0.1:$db_port"
tracker_addr: "127.0.0.1:$tracker_port"
peer_addr: "127.0.0.1:$peer_port"
YAML
for c in alice bob; do
	cat >"$work/$c.yaml" <<YAML
server_url: "http://127.0.0.1:$db_port"
prefix: "$work/$c/prefix"
peer_addr: "127.0.0.1:0"
YAML
done
server() { XDG_DATA_HOME="$work/server" "$bin/dist-server" --config "$work/server.yaml" "$@"; }
alice() { XDG_DATA_HOME="$work/alice" "$bin/dist-client" --config "$work/alice.yaml" "$@"; }
bob() { XDG_DATA_HOME="$work/bob" "$bin/dist-client" --config "$work/bob.yaml" "$@"; }

started=$(date +%s.%N)
step "dist-server add examples/libgreet examples/hello (data home $work/server)"
server add "$examples/libgreet" "$examples/hello"

step "dist-server start"
server start

step "alice: dist-client sync"
alice sync

step "alice: dist-client install hello (pulls in libgreet, over BitTorrent)"
alice install hello

step "alice runs the installed program: $work/alice/prefix/bin/hello"
"$work/alice/prefix/bin/hello"

step "alice: dist-client daemon (seeds her cache in the background)"
# Run the binary itself in the background (not through the shell function),
# so $! is its PID and the cleanup stops exactly it.
XDG_DATA_HOME="$work/alice" "$bin/dist-client" --config "$work/alice.yaml" daemon >"$work/alice-daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do grep -q "seeding" "$work/alice-daemon.log" 2>/dev/null && break; sleep 0.1; done
cat "$work/alice-daemon.log"

step "bob: sync and install hello (the server and alice both seed it)"
bob sync
bob install hello
"$work/bob/prefix/bin/hello"

step "bob: dist-client list --installed, and the files hello placed"
bob list --installed
bob files hello
bob owner "$work/bob/prefix/bin/hello"

step "dist-server status"
server status

step "bob: dist-client uninstall hello libgreet"
bob uninstall hello libgreet
if [ -e "$work/bob/prefix/bin/hello" ]; then echo "uninstall left $work/bob/prefix/bin/hello behind" >&2; exit 1; fi
bob list --installed

step "stop alice's daemon and the server"
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
server stop

ended=$(date +%s.%N)
awk -v a="$started" -v b="$ended" 'BEGIN { printf "\ndemo finished in %.1fs\n", b - a }'
