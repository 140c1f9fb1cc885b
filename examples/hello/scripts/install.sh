#!/bin/sh
# Install the hello program into $DISTPAC_PREFIX/bin (mode kept from the archive).
set -eu
mkdir -p "$DISTPAC_PREFIX/bin"
cp -p "$DISTPAC_ASSETS/bin/hello" "$DISTPAC_PREFIX/bin/hello"
echo "hello $DISTPAC_VERSION: installed $DISTPAC_PREFIX/bin/hello"
