#!/usr/bin/env python3
"""The scripted workload of the fault count-up (test-countup.sh).

    countup-workload.py URI LOG

A fixed sequence of writes (to new segments and over mapped blocks, some
with FUA), trims of whole segments, zeroes and flushes on the first
8 MiB of the export, in crash-workload.py's block format, so that its
`verify' checks the result after a restart.  Every operation runs to
completion before the next; each one is attempted even after a failure.
LOG gets crash-workload.py's lines (W, T, A, F) plus
    Z SEQ BLOCK N     before a zero of N blocks from BLOCK
    E SEQ WHAT        after an operation (or a flush, SEQ 0) failed
The sequence ends with a flush, a pause longer than the controller's
commit interval, and another flush, so that a fault in background work
triggered by the sequence shows as a failed final flush.  Exits 0 after
the sequence (failures or not), 2 if it cannot connect.
"""

import importlib.util
import os
import sys
import time

import nbd

spec = importlib.util.spec_from_file_location(
    "crash_workload", os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "crash-workload.py"))
cw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cw)

PER_SEG = cw.SEGMENT // cw.BLOCK

# (op, argument): W block, U block (write with FUA), T segment,
# Z (first block, count), F, P (pause).
SCRIPT = [
    ("W", 0), ("W", PER_SEG), ("W", 2 * PER_SEG), ("F", None),
    ("W", 1), ("U", PER_SEG + 1), ("W", 2 * PER_SEG + 3), ("F", None),
    ("T", 2), ("F", None),
    ("W", 2 * PER_SEG + 5), ("W", 3 * PER_SEG), ("Z", (0, 2)),
    ("F", None),
    ("U", 4 * PER_SEG + 7), ("W", PER_SEG + 2), ("T", 3), ("W", 1),
    ("F", None), ("P", 1.5), ("F", None),
]


def main(uri, log_path):
    log = open(log_path, "a", buffering=1)
    h = nbd.NBD()
    try:
        h.connect_uri(uri)
    except nbd.Error as e:
        print("countup-workload: cannot connect: %s" % e, file=sys.stderr)
        sys.exit(2)
    seq = 0
    for op, arg in SCRIPT:
        if op == "P":
            time.sleep(arg)
            continue
        seq += 1
        try:
            if op in "WU":
                log.write("W %d %d %d\n" % (seq, arg, int(op == "U")))
                h.pwrite(cw.block_bytes(arg, seq), arg * cw.BLOCK,
                         flags=nbd.CMD_FLAG_FUA if op == "U" else 0)
            elif op == "T":
                log.write("T %d %d\n" % (seq, arg))
                h.trim(cw.SEGMENT, arg * cw.SEGMENT)
            elif op == "Z":
                log.write("Z %d %d %d\n" % (seq, arg[0], arg[1]))
                h.zero(arg[1] * cw.BLOCK, arg[0] * cw.BLOCK)
            else:
                h.flush()
                log.write("F\n")
                continue
            log.write("A %d\n" % seq)
        except nbd.Error as e:
            log.write("E %d %s\n" % (seq if op != "F" else 0, op))
            print("countup-workload: %s (seq %d) failed: %s" % (op, seq, e))
    log.close()
    try:
        h.shutdown()
    except nbd.Error:
        pass


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
