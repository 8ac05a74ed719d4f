#!/bin/sh
# Regenerate the build system: ./autogen.sh && ./configure && make
set -e
mkdir -p m4
autoreconf -fi
