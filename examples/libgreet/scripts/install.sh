#!/bin/sh
# Install the shared greeting into $DISTPAC_PREFIX/share/libgreet.
set -eu
mkdir -p "$DISTPAC_PREFIX/share/libgreet"
cp "$DISTPAC_ASSETS/share/greeting.txt" "$DISTPAC_PREFIX/share/libgreet/greeting.txt"
echo "libgreet: installed $DISTPAC_PREFIX/share/libgreet/greeting.txt"
