#!/usr/bin/env bash
# segmap: segmapctl's command line without a server: --help at every
# level (exit 0, text on stdout), usage errors (exit 2, a message on
# stderr, nothing sent anywhere), and unreachable sockets (exit 3, a
# message naming the socket).  Talking to a server is covered by
# unit/test-segmapctl.c.

set -u

: "${abs_top_builddir:=$(cd .. && pwd)}"
: "${SEGMAPCTL:=$abs_top_builddir/src/segmapctl}"

if [ ! -x "$SEGMAPCTL" ]; then
    echo "$0: $SEGMAPCTL not built; skipped"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/segmapctl-usage-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
nowhere="$tmp/no-such.sock"
failures=0
checks=0

fail () {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run ARGS...: run segmapctl, leaving $status, $tmp/out and $tmp/err.
run () {
    "$SEGMAPCTL" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
    checks=$((checks + 1))
}

# expect_help ARGS...: exit 0, "Usage:" on stdout, stderr empty.
expect_help () {
    run "$@"
    [ "$status" = 0 ] || fail "segmapctl $*: exit $status (expected 0)"
    grep -q '^Usage: segmapctl' "$tmp/out" ||
        fail "segmapctl $*: no usage text on stdout"
    [ ! -s "$tmp/err" ] || fail "segmapctl $*: stderr: $(cat "$tmp/err")"
}

# expect_status N ARGS...: exit N, "segmapctl: " on stderr, stdout empty.
expect_status () {
    local want=$1; shift
    run "$@"
    [ "$status" = "$want" ] ||
        fail "segmapctl $*: exit $status (expected $want): $(cat "$tmp/err")"
    grep -q '^segmapctl: ' "$tmp/err" ||
        fail "segmapctl $*: no 'segmapctl: ' message on stderr"
    [ ! -s "$tmp/out" ] || fail "segmapctl $*: stdout: $(cat "$tmp/out")"
}

# ---- --help everywhere ----

for level in "" status agents check container "container list" "container add" \
             "container remove" vdisk "vdisk list" "vdisk create" \
             "vdisk info" "vdisk resize" "vdisk set" "vdisk delete" \
             "snapshot rollback" clone "clone create" "clone flatten" job \
             "job list" "job wait" "job cancel" "job pause" "job resume"; do
    # shellcheck disable=SC2086 # $level is one or two words
    expect_help $level --help
    # shellcheck disable=SC2086
    expect_help -h $level
    # shellcheck disable=SC2086
    expect_help --json -s "$nowhere" $level --help
done

# Each level's help is about that level.
run vdisk create --help
grep -q 'vdisk create NAME SIZE' "$tmp/out" || fail "vdisk create --help"
grep -q -- '--segment-size' "$tmp/out" || fail "vdisk create --help: options"
run container --help
grep -q 'container add NAME PATH' "$tmp/out" || fail "container --help"
grep -q '^  vdisk' "$tmp/out" && fail "container --help lists vdisk commands"
run --help
for c in status agents check "container list" "container add" \
         "container remove" "container evacuate" "container online" "vdisk list" "vdisk create" "vdisk info" \
         "vdisk resize" "vdisk set" "vdisk delete" "vdisk diff" "snapshot create" \
         "snapshot create-group" "snapshot list" "snapshot delete" "snapshot rollback" \
         "clone create" "clone flatten" "migrate" "job list" "job wait" \
         "job cancel" "job pause" "job resume"; do
    grep -q "^  $c" "$tmp/out" || fail "--help does not list '$c'"
done
# Commands that do not exist yet are not advertised.
grep -E -q 'stats' \
    "$tmp/out" &&
    fail "--help lists unimplemented commands"
grep -q 'SEGMAP_SOCKET' "$tmp/out" || fail "--help does not mention SEGMAP_SOCKET"

run --version
[ "$status" = 0 ] && grep -q '^segmapctl [0-9]' "$tmp/out" ||
    fail "--version: exit $status, $(cat "$tmp/out")"

# ---- usage errors: exit 2 before any connection attempt ----

u=(-s "$nowhere")
expect_status 2
expect_status 2 "${u[@]}"
expect_status 2 "${u[@]}" frobnicate
expect_status 2 "${u[@]}" frobnicate --help
expect_status 2 "${u[@]}" vdisk
expect_status 2 "${u[@]}" container
expect_status 2 "${u[@]}" vdisk frobnicate
expect_status 2 "${u[@]}" vdisk frobnicate --help
expect_status 2 "${u[@]}" snapshot rollback v
expect_status 2 "${u[@]}" snapshot rollback v 'a@b'
expect_status 2 "${u[@]}" clone create v s
expect_status 2 "${u[@]}" clone create v s 'c@1'
expect_status 2 "${u[@]}" clone create v s c1 extra
expect_status 2 "${u[@]}" clone flatten
expect_status 2 "${u[@]}" clone flatten ../etc
expect_status 2 "${u[@]}" job list extra
expect_status 2 "${u[@]}" job wait
expect_status 2 "${u[@]}" job wait 0
expect_status 2 "${u[@]}" job wait -1
expect_status 2 "${u[@]}" job wait 1x
expect_status 2 "${u[@]}" job cancel
expect_status 2 "${u[@]}" job pause abc
expect_status 2 "${u[@]}" job resume 1 2
expect_status 2 "${u[@]}" snapshot create v
expect_status 2 "${u[@]}" snapshot create v 'a@b'
expect_status 2 "${u[@]}" snapshot create-group s
expect_status 2 "${u[@]}" vdisk diff v
expect_status 2 "${u[@]}" vdisk diff v a b c
expect_status 2 "${u[@]}" vdisk diff v 'a@b'
expect_status 2 "${u[@]}" snapshot create-group s 'a@b'
expect_status 2 "${u[@]}" snapshot list v extra
expect_status 2 "${u[@]}" status extra
expect_status 2 "${u[@]}" check extra
expect_status 2 "${u[@]}" vdisk list extra
expect_status 2 "${u[@]}" vdisk create
expect_status 2 "${u[@]}" vdisk create d1
expect_status 2 "${u[@]}" vdisk create d1 1G extra
expect_status 2 "${u[@]}" vdisk create d1 1.5G
expect_status 2 "${u[@]}" vdisk create d1 -1G
expect_status 2 "${u[@]}" vdisk create d1 1Q
expect_status 2 "${u[@]}" vdisk create d1 99999999999999999999
expect_status 2 "${u[@]}" vdisk create bad/name 1G
expect_status 2 "${u[@]}" vdisk create .hidden 1G
expect_status 2 "${u[@]}" vdisk create snap@x 1G
expect_status 2 "${u[@]}" vdisk create "$(printf 'a%.0s' {1..65})" 1G
expect_status 2 "${u[@]}" vdisk create d1 1G --segment-size 3M
expect_status 2 "${u[@]}" vdisk create d1 1G --segment-size 32K
expect_status 2 "${u[@]}" vdisk create d1 1G --segment-size 128M
expect_status 2 "${u[@]}" vdisk create d1 1G --segment-size
expect_status 2 "${u[@]}" vdisk create d1 1G --container 'c 1'
expect_status 2 "${u[@]}" vdisk create d1 1G --container
expect_status 2 "${u[@]}" vdisk info
expect_status 2 "${u[@]}" vdisk info a b
expect_status 2 "${u[@]}" vdisk info ../etc
expect_status 2 "${u[@]}" vdisk resize d1
expect_status 2 "${u[@]}" vdisk resize d1 big
expect_status 2 "${u[@]}" vdisk delete
expect_status 2 "${u[@]}" vdisk set d1
expect_status 2 "${u[@]}" vdisk set --read-only
expect_status 2 "${u[@]}" vdisk set d1 --read-only --read-write
expect_status 2 "${u[@]}" vdisk set d1 extra --read-only
expect_status 2 "${u[@]}" vdisk set ../etc --read-only
expect_status 2 "${u[@]}" vdisk info d1 --read-only
expect_status 2 "${u[@]}" vdisk create d1 1G --read-write
expect_status 2 "${u[@]}" vdisk list --container c1
expect_status 2 "${u[@]}" status --segment-size 1M
expect_status 2 "${u[@]}" container add c1
expect_status 2 "${u[@]}" container add c1 ""
expect_status 2 "${u[@]}" container add c1 /x 1G extra
expect_status 2 "${u[@]}" container add c1 /x tiny
expect_status 2 "${u[@]}" container add 'c/1' /x
expect_status 2 "${u[@]}" container remove
expect_status 2 "${u[@]}" --frobnicate status
expect_status 2 "${u[@]}" status -x
expect_status 2 status -s
# The message says what is wrong.
run "${u[@]}" vdisk create d1 1G --segment-size 3M
grep -q "segment size '3M'" "$tmp/err" || fail "segment size message"
run "${u[@]}" vdisk create 'bad/name' 1G
grep -q "invalid vdisk name 'bad/name'" "$tmp/err" || fail "name message"
run "${u[@]}" frobnicate
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown message"
run "${u[@]}" vdisk set d1
grep -q "exactly one of --read-only and --read-write" "$tmp/err" ||
    fail "vdisk set without a mode: message"
run "${u[@]}" job wait 1x
grep -q "invalid job number '1x'" "$tmp/err" || fail "job number message"
run "${u[@]}" vdisk info d1 --read-only
grep -q -- "--read-only does not apply" "$tmp/err" || fail "mode option message"
run "${u[@]}" vdisk info d1 --rate 1M
grep -q -- "--rate does not apply" "$tmp/err" || fail "rate option message"
run "${u[@]}" migrate d1 c2 --rate fast
[ -s "$tmp/err" ] || fail "migrate with a bad rate: no message"
run "${u[@]}" migrate d1
grep -q "missing arguments" "$tmp/err" || fail "migrate without a container"

# ---- cannot connect: exit 3, naming the socket ----

expect_status 3 -s "$nowhere" status
grep -q "cannot connect to $nowhere" "$tmp/err" || fail "no socket named"
SEGMAP_SOCKET="$nowhere" expect_status 3 vdisk list
grep -q "$nowhere" "$tmp/err" || fail "\$SEGMAP_SOCKET not used"
SEGMAP_SOCKET="$tmp/env.sock" expect_status 3 -s "$nowhere" check
grep -q "$nowhere" "$tmp/err" || fail "-s does not win over \$SEGMAP_SOCKET"
# A file that is not a socket.
: > "$tmp/plain"
expect_status 3 -s "$tmp/plain" container list
# The default: ./segmap-state/segmap.sock.
(cd "$tmp" && unset SEGMAP_SOCKET && "$SEGMAPCTL" status) >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" = 3 ] || fail "default socket: exit $status"
grep -q "segmap-state/segmap.sock" "$tmp/err" || fail "default socket path"
# A path longer than a unix socket address can hold.
expect_status 3 -s "/$(printf 'x%.0s' {1..200})" status

echo "segmapctl-usage: $((checks - failures)) passed, $failures failed"
[ "$failures" = 0 ]
