#!/usr/bin/env bash
# make bench-files: dist-client install of one package of many small files
# (default 10,000 of 1 KiB, with an install.sh that copies them under
# $DISTPAC_DESTDIR$DISTPAC_PREFIX) beside `tar --zstd -xf` of the same
# cached archive plus the same script, on the same filesystem, RUNS times.
# Both read the archive from the page cache; the ratio is the cost of
# staging, hashing and recording every file. Set DIR to choose the
# filesystem (default $TMPDIR or /tmp; /dev/shm leaves the disk out).
set -euo pipefail

bin=${BIN:-"$(cd "$(dirname "$0")/.." && pwd)/bin"}
files=${FILES:-10000}
runs=${RUNS:-5}
work=$(mktemp -d "${DIR:-${TMPDIR:-/tmp}}/distpac-files.XXXXXX")
server() { XDG_DATA_HOME="$work/server" "$bin/dist-server" --config "$work/server.yaml" "$@"; }
client() { XDG_DATA_HOME="$work/client" "$bin/dist-client" --config "$work/client.yaml" "$@"; }
cleanup() {
	server stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/free_port.sh"
now() { date +%s.%N; }

db=$(free_port)
printf 'database_addr: "127.0.0.1:%s"\ntracker_addr: "127.0.0.1:%s"\npeer_addr: "127.0.0.1:%s"\n' \
	"$db" "$(free_port)" "$(free_port)" >"$work/server.yaml"
printf 'server_url: "http://127.0.0.1:%s"\nprefix: "%s/prefix"\npeer_addr: "127.0.0.1:0"\n' "$db" "$work" >"$work/client.yaml"

pkg="$work/pkg/many-1.0.0"
mkdir -p "$pkg/scripts"
printf 'name: many\nversion: 1.0.0\ndescription: %s small files\n' "$files" >"$pkg/manifest.yaml"
for d in $(seq 0 99); do mkdir -p "$pkg/assets/d$d"; done
head -c $((files * 1024)) /dev/urandom | split -a 6 -d -b 1024 - "$pkg/assets/f"
i=0
for f in "$pkg"/assets/f*; do mv "$f" "$pkg/assets/d$((i % 100))/"; i=$((i + 1)); done
cat >"$pkg/scripts/install.sh" <<'SH'
set -eu
mkdir -p "$DISTPAC_DESTDIR$DISTPAC_PREFIX/many"
cp -R "$DISTPAC_ASSETS/." "$DISTPAC_DESTDIR$DISTPAC_PREFIX/many/"
SH

server add -q "$pkg" >/dev/null
server start >/dev/null
client -q sync 2>/dev/null
client -q install many >/dev/null # downloads and caches the archive
client -q uninstall many >/dev/null
archive=$(find "$work/client" -name 'many-1.0.0*.tar.zst' | head -1)

echo "$files files of 1 KiB in $(df --output=fstype "$work" | tail -1) at $work; archive $(du -h "$archive" | cut -f1), cached"
printf '%4s  %12s  %16s  %6s\n' run "install (s)" "tar+script (s)" ratio
for r in $(seq 1 "$runs"); do
	t0=$(now)
	client -q install many >/dev/null
	t1=$(now)
	client -q uninstall many >/dev/null
	mkdir -p "$work/x"
	t2=$(now)
	tar --zstd -xf "$archive" -C "$work/x"
	(cd "$work/x" && DISTPAC_DESTDIR="$work/xd" DISTPAC_PREFIX="$work/xp" DISTPAC_ASSETS="$work/x/assets" sh scripts/install.sh)
	t3=$(now)
	rm -rf "$work/x" "$work/xd"
	awk -v r="$r" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
		'BEGIN { printf "%4d  %12.3f  %16.3f  %6.2f\n", r, b - a, d - c, (b - a) / (d - c) }'
done
