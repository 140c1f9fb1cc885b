#!/bin/sh
# Stage the hello program under $DISTPAC_DESTDIR$DISTPAC_PREFIX (the
# `make install DESTDIR=` convention): distpac checks it for conflicts, moves
# it into $DISTPAC_PREFIX/bin and records it, so uninstall removes it without
# a script. The mode comes from the archive.
set -eu
mkdir -p "$DISTPAC_DESTDIR$DISTPAC_PREFIX/bin"
cp -p "$DISTPAC_ASSETS/bin/hello" "$DISTPAC_DESTDIR$DISTPAC_PREFIX/bin/hello"
echo "hello $DISTPAC_VERSION: staged bin/hello for $DISTPAC_PREFIX"
