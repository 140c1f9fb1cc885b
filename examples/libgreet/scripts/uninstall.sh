#!/bin/sh
set -eu
rm -f "$DISTPAC_PREFIX/share/libgreet/greeting.txt"
rmdir "$DISTPAC_PREFIX/share/libgreet" 2>/dev/null || true
echo "libgreet: removed"
