#!/usr/bin/env python3
# A writer that keeps a model of what a vdisk must read, for the tests
# that move data under a client (test-migrate.sh, test-evacuate.sh).
#
#   flushing-writer.py URI MODEL STOP MODE [SIZE]
#
# MODE fill: write random bytes over the whole vdisk (SIZE bytes,
# default 64 MiB), flush, save them as MODEL.  write: until the file
# STOP exists, random 4 KiB writes, a flush every 16 and at the end,
# each flushed one recorded in MODEL; every 5th write reads back a
# block written since the last flush.  verify: the vdisk must read
# MODEL.  A write whose connection breaks (the server was killed) ends
# the writer; the model then holds what was flushed, the blocks
# written since are kept in MODEL.unflushed, and the next verify
# accepts either value for them.
import os, pickle, random, sys, nbd
uri, model, stop, mode = sys.argv[1:5]
SIZE = int(sys.argv[5]) if len(sys.argv) > 5 else 64 << 20
B = 4096
h = nbd.NBD()
h.connect_uri(uri)
if mode == "fill":
    data = bytearray(os.urandom(SIZE))
    for o in range(0, SIZE, 1 << 20):
        h.pwrite(bytes(data[o:o + (1 << 20)]), o)
    h.flush()
    open(model, "wb").write(data)
    sys.exit(0)
data = bytearray(open(model, "rb").read())
if mode == "verify":
    # Blocks written but not flushed when the server was killed may
    # read either value; what they read becomes the model.
    unsure = {}
    if os.path.exists(model + ".unflushed"):
        unsure = pickle.load(open(model + ".unflushed", "rb"))
    got = b"".join(h.pread(1 << 20, o) for o in range(0, SIZE, 1 << 20))
    for k, v in unsure.items():
        if got[k * B:(k + 1) * B] == v:
            data[k * B:(k + 1) * B] = v
    if got != bytes(data):
        k = next(i for i in range(SIZE) if got[i] != data[i])
        sys.exit("v differs from the model at byte %d" % k)
    open(model, "wb").write(data)
    if unsure:
        os.unlink(model + ".unflushed")
    sys.exit(0)
rng = random.Random(os.getpid())
pending = {}
n = 0
try:
    while not os.path.exists(stop):
        b = rng.randrange(SIZE // B)
        buf = rng.randbytes(B)
        h.pwrite(buf, b * B)
        pending[b] = buf
        n += 1
        if n % 5 == 0:
            c = rng.choice(list(pending))
            if h.pread(B, c * B) != pending[c]:
                sys.exit("block %d does not read what was just written" % c)
        if n % 16 == 0:
            h.flush()
            for k, v in pending.items():
                data[k * B:(k + 1) * B] = v
            pending.clear()
            open(model + ".tmp", "wb").write(data)
            os.rename(model + ".tmp", model)
    h.flush()
except nbd.Error as e:
    print("writer: %s after %d writes" % (e, n))
    pickle.dump(pending, open(model + ".unflushed", "wb"))
    pending.clear()
for k, v in pending.items():
    data[k * B:(k + 1) * B] = v
open(model, "wb").write(data)
print("writer: %d writes" % n)
