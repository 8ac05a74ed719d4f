#!/usr/bin/env python3
# The client side of tests/test-container-fail.sh: writers on several
# vdisks while one container fails, with a model of what each 4 KiB
# block must read.
#
#   failure-workload.py SOCKET STATE fill VDISK...
#   failure-workload.py SOCKET STATE run INJECT OPS FAIL_AT VDISK...
#   failure-workload.py SOCKET STATE check DB FAILED_CONTAINER
#
# Block k of a vdisk always holds a pattern naming (vdisk, k, generation),
# so a read tells which write it came from.  STATE (JSON) keeps, per
# vdisk, the generation each block must read and the blocks whose last
# write failed (they may read either the old or the new generation).
#
# fill: write generation 1 to every block, flush.
# run: OPS random 4 KiB writes over the vdisks, a flush of each vdisk
# every 16; at write FAIL_AT the file INJECT is created (the container
# behind it starts failing every I/O).  A write to a vdisk may fail only
# if the vdisk has segments on the failing container (it is told by the
# name: the vdisks given as -NAME may fail, the others never), and a
# flush likewise; the counts are printed.
# check: with DB (segmap.db, read only) telling where each segment is,
# every block of a segment on FAILED_CONTAINER must fail to read (EIO),
# and every other block must read its model (FAILED_CONTAINER "-": no
# block may fail: the container is back).  Counts are printed.
import json, os, random, sqlite3, struct, sys, nbd

BLOCK = 4096
sock, state_path, mode = sys.argv[1:4]
args = sys.argv[4:]


def pattern(name, k, gen):
    head = struct.pack(">16sQQ", name.encode(), k, gen)
    return (head * (BLOCK // len(head) + 1))[:BLOCK]


def generation(name, k, data):
    """The generation DATA holds for block K of NAME, or None."""
    gen = struct.unpack_from(">16sQQ", data)[2]
    return gen if data == pattern(name, k, gen) else None


def connect(name):
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///%s?socket=%s" % (name, sock))
    return h


def save(state):
    json.dump(state, open(state_path, "w"))


if mode == "fill":
    state = {}
    for name in args:
        h = connect(name)
        n = h.get_size() // BLOCK
        for k0 in range(0, n, 256):
            buf = b"".join(pattern(name, k, 1) for k in range(k0, k0 + 256))
            h.pwrite(buf, k0 * BLOCK)
        h.flush()
        state[name] = {"gen": [1] * n, "unsure": {}}
    save(state)
    sys.exit(0)

state = json.load(open(state_path))

if mode == "run":
    inject, ops, fail_at = args[0], int(args[1]), int(args[2])
    may_fail = {a[1:] for a in args[3:] if a.startswith("-")}
    names = [a.lstrip("-") for a in args[3:]]
    handles = {name: connect(name) for name in names}
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    counts = {name: {"ok": 0, "failed": 0, "flushed": 0,
                     "flush_failed": 0} for name in names}
    for i in range(ops):
        if i == fail_at:
            open(inject, "w").close()
            print("write %d: the container fails from now on" % i)
        name = rng.choice(names)
        s, h, c = state[name], handles[name], counts[name]
        k = rng.randrange(len(s["gen"]))
        gen = s["gen"][k] + 1
        try:
            h.pwrite(pattern(name, k, gen), k * BLOCK)
            s["gen"][k] = gen
            s["unsure"].pop(str(k), None)
            c["ok"] += 1
        except nbd.Error as e:
            if name not in may_fail:
                sys.exit("write %d to %s block %d failed: %s" % (i, name, k, e))
            s["unsure"].setdefault(str(k), []).append(gen)
            c["failed"] += 1
        if i % 16 == 15:
            for n2 in names:
                try:
                    handles[n2].flush()
                    counts[n2]["flushed"] += 1
                except nbd.Error as e:
                    if n2 not in may_fail:
                        sys.exit("flush of %s failed: %s" % (n2, e))
                    counts[n2]["flush_failed"] += 1
    save(state)
    print(json.dumps(counts, sort_keys=True))
    sys.exit(0)

if mode == "check":
    db_path, failed = args
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    result = {}
    for name, s in sorted(state.items()):
        vid, shift = db.execute("SELECT id, seg_shift FROM vdisk WHERE name = ?",
                                (name,)).fetchone()
        where = dict(db.execute(
            "SELECT m.vseg, c.name FROM map m JOIN container c"
            " ON c.id = m.container_id WHERE m.vdisk_id = ?", (vid,)))
        per_seg = (1 << shift) // BLOCK
        h = connect(name)
        errors = good = 0
        for k, gen in enumerate(s["gen"]):
            on_failed = where.get(k // per_seg) == failed
            try:
                data = h.pread(BLOCK, k * BLOCK)
            except nbd.Error as e:
                if not on_failed:
                    sys.exit("%s block %d (segment %d on %s) failed: %s"
                             % (name, k, k // per_seg, where.get(k // per_seg),
                                e))
                errors += 1
                continue
            if on_failed:
                sys.exit("%s block %d, on the failed container, read data"
                         % (name, k))
            got = generation(name, k, data)
            ok = [gen] + s["unsure"].get(str(k), [])
            if got not in ok:
                sys.exit("%s block %d reads generation %s, expected one of %s"
                         % (name, k, got, ok))
            s["gen"][k] = got
            good += 1
        result[name] = {"errors": errors, "intact": good}
    save(state)
    print(json.dumps(result, sort_keys=True))
    sys.exit(0)

sys.exit("unknown mode " + mode)
