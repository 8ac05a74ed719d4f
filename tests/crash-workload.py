#!/usr/bin/env python3
"""Writer and checker for the crash tests (test-crash.sh, soak-crash.sh).

    crash-workload.py run URI LOG REGION SEED SEQBASE MAXSECS
    crash-workload.py verify URI LOG STATE REGION

The model.  REGION bytes from offset 0 of the export are seen as 4 KiB
blocks.  Every write fills one block with sectors that describe it: each
512-byte sector is (magic, block, sequence number, sector index) repeated,
so any sector read back names the write it came from, and a sector that
names another block, another position, or nothing at all is foreign or
garbage data.  Trims cover whole 1 MiB segments and model zeros.

`run' issues batches of 1..8 operations on distinct blocks (up to 8 in
flight), waits for all of them, then flushes about every other batch.  It
appends to LOG, in order:
    W SEQ BLOCK FUA   before a write is issued (FUA 1 = with the FUA flag)
    T SEQ SEGMENT     before a trim of a whole segment is issued
    Z SEQ BLOCK N     before a zero of N blocks from BLOCK is issued
    E SEQ             after the operation failed (its effect is unknown:
                      its value stays allowed until a later write); Z and
                      E are written by countup-workload.py
    A SEQ             after the operation completed successfully
    F                 after a flush returned successfully; every operation
                      issued before it had completed before it was sent
It runs until the server goes away (exit 3), or for MAXSECS (exit 0).

`verify' replays LOG over STATE (a JSON file with the durable value of each
block, created if missing: all zero), reads the region back and checks
every sector of every block is one of the values allowed after a crash:
the durable value (latest flushed write or trim, or an acknowledged FUA
write) or the value of any operation issued after it.  The values read
become the new durable state.  It prints a one-line summary and exits 1 on
any violation, naming the block, what it read and what was allowed.
"""

import json
import os
import random
import struct
import sys
import time

import nbd

BLOCK = 4096
SECTOR = 512
SEGMENT = 1 << 20
MAGIC = b"SEGMAPCK"
SECTORS = BLOCK // SECTOR
ZERO_SECTOR = bytes(SECTOR)


def sector_bytes(blk, seq, i):
    return struct.pack("<8sQQQ", MAGIC, blk, seq, i) * (SECTOR // 32)


def block_bytes(blk, seq):
    return b"".join(sector_bytes(blk, seq, i) for i in range(SECTORS))


def run(uri, log_path, region, seed, seqbase, maxsecs):
    rng = random.Random(seed)
    nblocks = region // BLOCK
    nsegs = region // SEGMENT
    log = open(log_path, "a", buffering=1)
    h = nbd.NBD()
    seq = seqbase
    deadline = time.monotonic() + maxsecs
    try:
        # Inside the try: on a loaded machine the kill can come before
        # the connection is up, which is the server going away too.
        h.connect_uri(uri)
        fua_ok = h.can_fua()
        while time.monotonic() < deadline:
            batch = []
            used = set()
            for _ in range(rng.randint(1, 8)):
                seq += 1
                if rng.random() < 0.04:
                    seg = rng.randrange(nsegs)
                    blocks = range(seg * (SEGMENT // BLOCK),
                                   (seg + 1) * (SEGMENT // BLOCK))
                    if used.intersection(blocks):
                        continue
                    used.update(blocks)
                    log.write("T %d %d\n" % (seq, seg))
                    cookie = h.aio_trim(SEGMENT, seg * SEGMENT)
                else:
                    blk = rng.randrange(nblocks)
                    if blk in used:
                        continue
                    used.add(blk)
                    fua = fua_ok and rng.random() < 0.1
                    buf = nbd.Buffer.from_bytearray(
                        bytearray(block_bytes(blk, seq)))
                    log.write("W %d %d %d\n" % (seq, blk, int(fua)))
                    cookie = h.aio_pwrite(
                        buf, blk * BLOCK,
                        flags=nbd.CMD_FLAG_FUA if fua else 0)
                    batch.append(buf)       # keep alive until completion
                batch.append((cookie, seq))
            while h.aio_in_flight() > 0:
                h.poll(-1)
            for item in batch:
                if isinstance(item, tuple):
                    cookie, s = item
                    h.aio_command_completed(cookie)   # raises on error
                    log.write("A %d\n" % s)
            if rng.random() < 0.5:
                h.flush()
                log.write("F\n")
    except nbd.Error as e:
        print("crash-workload: server went away: %s" % e, file=sys.stderr)
        log.close()
        sys.exit(3)
    log.close()
    h.shutdown()


class Model:
    """durable[b]: an int (0 = zeros, else a write's seq) or a list of
    SECTORS ints (a block last seen torn); pending[b]: (seq, value) of the
    operations issued on b since its durable value was set; failed[b]:
    values of failed operations issued on b after its durable value (a
    failed operation may or may not have been applied, flush or not)."""

    def __init__(self, state):
        self.durable = {int(k): v for k, v in state.items()}
        self.pending = {}
        self.failed = {}
        self.failed_seqs = set()
        self.ops = {}

    def issue(self, seq, blocks, value, fua):
        self.ops[seq] = (blocks, value, fua)
        for b in blocks:
            self.pending.setdefault(b, []).append((seq, value))

    def ack(self, seq):
        blocks, value, fua = self.ops[seq]
        if fua:
            for b in blocks:
                self.durable[b] = value
                self.pending.pop(b, None)
                self.failed.pop(b, None)

    def fail(self, seq):
        self.failed_seqs.add(seq)

    def flush(self):
        for b, ops in self.pending.items():
            for seq, value in ops:
                if seq in self.failed_seqs:
                    self.failed.setdefault(b, set()).add(value)
                else:
                    self.durable[b] = value
                    self.failed.pop(b, None)
        self.pending = {}

    def allowed(self, b, i):
        d = self.durable.get(b, 0)
        if isinstance(d, list):
            d = d[i]
        return {d} | self.failed.get(b, set()) | \
            {v for _, v in self.pending.get(b, ())}


def classify(blk, i, data):
    """The value a sector holds: 0, a seq, or None for garbage."""
    if data == ZERO_SECTOR:
        return 0
    magic, b, seq, j = struct.unpack_from("<8sQQQ", data)
    if magic != MAGIC or b != blk or j != i or \
       data != sector_bytes(blk, seq, i):
        return None
    return seq


def describe(data):
    magic, b, seq, j = struct.unpack_from("<8sQQQ", data)
    if magic == MAGIC:
        return "a sector of block %d seq %d position %d" % (b, seq, j)
    return "garbage starting %s" % data[:16].hex()


def verify(uri, log_path, state_path, region):
    state = {}
    if os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
    m = Model(state)
    counts = {"W": 0, "T": 0, "Z": 0, "A": 0, "E": 0, "F": 0}
    with open(log_path) as f:
        for line in f:
            w = line.split()
            if not w or w[0] not in counts:
                continue
            counts[w[0]] += 1
            if w[0] == "W":
                m.issue(int(w[1]), [int(w[2])], int(w[1]), w[3] == "1")
            elif w[0] == "T":
                seg = int(w[2])
                per = SEGMENT // BLOCK
                m.issue(int(w[1]), range(seg * per, (seg + 1) * per), 0,
                        False)
            elif w[0] == "Z":
                first = int(w[2])
                m.issue(int(w[1]), range(first, first + int(w[3])), 0, False)
            elif w[0] == "A":
                m.ack(int(w[1]))
            elif w[0] == "E":
                m.fail(int(w[1]))
            else:
                m.flush()

    h = nbd.NBD()
    h.connect_uri(uri)
    errors = []
    new_state = {}
    chunk = 4 << 20
    for off in range(0, region, chunk):
        data = h.pread(min(chunk, region - off), off)
        for boff in range(0, len(data), BLOCK):
            b = (off + boff) // BLOCK
            seen = []
            for i in range(SECTORS):
                sec = data[boff + i * SECTOR:boff + (i + 1) * SECTOR]
                v = classify(b, i, sec)
                if v is None:
                    errors.append("block %d sector %d: %s (allowed: %s)" % (
                        b, i, describe(sec), sorted(m.allowed(b, i))))
                elif v not in m.allowed(b, i):
                    errors.append(
                        "block %d sector %d holds %s, allowed only %s "
                        "(0 = zeros; durable %s, issued since %s)" % (
                            b, i, "zeros" if v == 0 else "seq %d" % v,
                            sorted(m.allowed(b, i)), m.durable.get(b, 0),
                            m.pending.get(b, [])))
                seen.append(v)
            if all(v == seen[0] for v in seen):
                if seen[0]:
                    new_state[b] = seen[0]
            else:
                new_state[b] = seen
    h.shutdown()

    print("crash-workload: %d writes, %d trims, %d acks, %d flushes; "
          "%d blocks non-zero; %d violations" % (
              counts["W"], counts["T"], counts["A"], counts["F"],
              len(new_state), len(errors)))
    if errors:
        for e in errors[:20]:
            print("  " + e, file=sys.stderr)
        if len(errors) > 20:
            print("  ... and %d more" % (len(errors) - 20), file=sys.stderr)
        sys.exit(1)
    tmp = state_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({str(k): v for k, v in new_state.items()}, f)
    os.replace(tmp, state_path)


def main(argv):
    if len(argv) == 8 and argv[1] == "run":
        run(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]),
            float(argv[7]))
    elif len(argv) == 6 and argv[1] == "verify":
        verify(argv[2], argv[3], argv[4], int(argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
