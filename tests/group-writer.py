#!/usr/bin/env python3
"""group-writer.py -- a stamped writer for consistency-group tests.

Usage:
  group-writer.py write NBD-SOCK ISCSI-HOST:PORT IQN-PREFIX STOPFILE V...
  group-writer.py verify NBD-SOCK SUFFIX V...

write: the vdisks V... are written one 4 KiB block at a time, strictly
in sequence (each write is acknowledged before the next is sent), until
STOPFILE exists.  Write k goes to vdisk k % len(V) at block
place(k), and its block holds the stamp k (8 bytes, repeated).  The
first vdisk is written through iSCSI (tests/iscsi-raw.py), the others
through NBD, so one sequence crosses both front-ends.  Prints the
number of writes.

verify: reads the exports V@SUFFIX through NBD.  A consistent group
snapshot holds a prefix of the sequence: for K = (largest stamp found)
+ 1, every block must hold the stamp of the last write before K to it
(or zeros).  Prints K; exits 1 on the first block that differs.

The vdisks are $GROUP_VDISK_MIB MiB (default 16).
"""
import importlib.util
import os
import struct
import sys
import types

import nbd

BLOCK = 4096
NBLOCKS = int(os.environ.get("GROUP_VDISK_MIB", "16")) * 256


def place(k):
    """Consecutive writes land in different segments."""
    return (k * 2654435761) % NBLOCKS


def stamp(k):
    return struct.pack("<Q", k + 1) * (BLOCK // 8)


def nbd_handle(sock, export):
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_unix(sock)
    return h


def iscsi_session(addr, iqn):
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "iscsi_raw", os.path.join(here, "iscsi-raw.py"))
    raw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(raw)
    host, _, port = addr.rpartition(":")
    opts = types.SimpleNamespace(addr=(host, int(port)), timeout=30,
                                 chap=None, lun=0, target=iqn,
                                 initiator="iqn.2024-01.test:group-writer")
    return raw.Session(opts).login()


def write(sock, portal, prefix, stopfile, vdisks):
    sess = iscsi_session(portal, prefix + ":" + vdisks[0])
    handles = [None] + [nbd_handle(sock, v) for v in vdisks[1:]]
    k = 0
    while not os.path.exists(stopfile):
        i = k % len(vdisks)
        if i == 0:
            status, sense, _ = sess.write(place(k) * BLOCK // sess.block_size,
                                          stamp(k))
            if status != 0:
                sys.exit("iSCSI write %d failed: status %d" % (k, status))
        else:
            handles[i].pwrite(stamp(k), place(k) * BLOCK)
        k += 1
    print(k)


def verify(sock, suffix, vdisks):
    found = []
    for v in vdisks:
        h = nbd_handle(sock, v + "@" + suffix)
        data = b"".join(h.pread(1 << 20, off)
                        for off in range(0, NBLOCKS * BLOCK, 1 << 20))
        h.shutdown()
        stamps = [struct.unpack_from("<Q", data, b * BLOCK)[0] - 1
                  for b in range(NBLOCKS)]
        for b, k in enumerate(stamps):
            block = data[b * BLOCK:(b + 1) * BLOCK]
            if block != (stamp(k) if k >= 0 else bytes(BLOCK)):
                sys.exit("%s@%s block %d is torn" % (v, suffix, b))
        found.append(stamps)
    K = max(max(f) for f in found) + 1
    want = [[-1] * NBLOCKS for _ in vdisks]
    for k in range(K):
        want[k % len(vdisks)][place(k)] = k
    for i, v in enumerate(vdisks):
        for b in range(NBLOCKS):
            if found[i][b] != want[i][b]:
                sys.exit("%s@%s block %d holds write %d, the prefix of %d "
                         "writes has %d there" % (v, suffix, b, found[i][b],
                                                  K, want[i][b]))
    print(K)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
    else:
        verify(sys.argv[2], sys.argv[3], sys.argv[4:])
