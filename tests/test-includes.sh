#!/usr/bin/env bash
# segmap: the message-only boundary between agent and controller
# (DESIGN.md, "Making the contract real"), checked on the #include lines
# of every file under src/, including files added later:
#   - src/controller includes nothing of src/agent,
#   - src/agent includes nothing of src/controller,
#   - src/proto includes neither.
# Only the composition room (src/instance) may include both.
# Needs nothing but grep, so it never skips.

set -e

: "${abs_top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
src="$abs_top_srcdir/src"
bad=0

# forbid DIR PATTERN: report every #include in DIR of a path matching
# PATTERN (a directory prefix such as agent/).
forbid ()
{
    local dir=$1 pattern=$2 hits
    [ -d "$src/$dir" ] || { echo "$0: no $src/$dir" >&2; exit 1; }
    hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]([^\">]*/)?$pattern" \
               --include='*.c' --include='*.h' "$src/$dir" || true)
    if [ -n "$hits" ]; then
        echo "forbidden include in src/$dir (of $pattern):" >&2
        echo "$hits" | sed "s|^$src/|  src/|" >&2
        bad=1
    fi
}

forbid controller 'agent/'
forbid agent 'controller/'
forbid proto 'agent/'
forbid proto 'controller/'

# The check must see the files it guards: a grep that silently found
# nothing would pass forever.
n=$(find "$src/controller" "$src/agent" "$src/proto" \
         \( -name '*.c' -o -name '*.h' \) | wc -l)
if [ "$n" -lt 10 ]; then
    echo "$0: only $n source files found under $src" >&2
    exit 1
fi

exit $bad
