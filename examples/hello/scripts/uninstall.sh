#!/bin/sh
set -eu
rm -f "$DISTPAC_PREFIX/bin/hello"
echo "hello: removed"
