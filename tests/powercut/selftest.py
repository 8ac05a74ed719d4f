#!/usr/bin/env python3
"""Self-test of powercut.so, run by test-powercut.sh before the cuts.

    selftest.py DIR POWERCUT_SO SEED ROUNDS

Each round starts a child under LD_PRELOAD=POWERCUT_SO (POWERCUT_DIR=DIR)
that applies random operations to DIR/self.img -- pwrite at any offset
and length, ftruncate up and down, fallocate PUNCH_HOLE and ZERO_RANGE,
close and reopen, fdatasync -- checking after every one that pread and
fstat agree with a model of the file the process sees, then kills itself
with SIGKILL.  The parent (not under the interposer) checks that the real
file is exactly the model as of the child's last sync: the power cut
lost everything after it, and nothing before it.  Every other round runs
with POWERCUT_WRITEBACK=2 (changes written back early at random): there
only the reads in the child are checked (what the cut keeps is then a
random subset).  Exits 1 on a mismatch.
"""

import ctypes
import os
import random
import signal
import subprocess
import sys

PUNCH = 0x01 | 0x02         # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
ZERO = 0x10                 # FALLOC_FL_ZERO_RANGE
MAXSIZE = 1 << 20


def child(path, rng, synced_path):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                               ctypes.c_long]
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    model = bytearray(os.pread(fd, MAXSIZE * 2, 0))
    for step in range(rng.randint(20, 200)):
        op = rng.random()
        off = rng.randrange(MAXSIZE)
        n = rng.choice([1, 511, 4096, 4097, 12288, rng.randrange(1, 65536)])
        if op < 0.45:
            data = bytes([rng.randrange(1, 256)]) * n
            assert os.pwrite(fd, data, off) == n
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off:off + n] = data
        elif op < 0.55:
            size = rng.randrange(MAXSIZE)
            os.ftruncate(fd, size)
            del model[size:]
            model.extend(bytes(size - len(model)))
        elif op < 0.7:
            mode = rng.choice([PUNCH, ZERO, ZERO | 0x01])
            if libc.fallocate(fd, mode, off, n) != 0:
                raise OSError(ctypes.get_errno(), "fallocate")
            end = off + n if mode == ZERO else min(off + n, len(model))
            if end > len(model):
                model.extend(bytes(end - len(model)))
            if off < end:
                model[off:end] = bytes(end - off)
        elif op < 0.8:
            os.close(fd)
            fd = os.open(path, os.O_RDWR)
        elif op < 0.9:
            os.fdatasync(fd)
            with open(synced_path, "wb") as f:
                f.write(model)
        got = os.pread(fd, len(model) + 8192, 0)
        if got != bytes(model) or os.fstat(fd).st_size != len(model):
            print("selftest: step %d: the overlay reads differ from the "
                  "model (size %d, expected %d)" % (
                      step, os.fstat(fd).st_size, len(model)),
                  file=sys.stderr)
            os._exit(1)
    os.kill(os.getpid(), signal.SIGKILL)


def main():
    if sys.argv[1] == "child":
        child(sys.argv[2], random.Random(int(sys.argv[3])), sys.argv[4])
        return
    d, so, seed, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    path = os.path.join(d, "self.img")
    synced = os.path.join(d, "self.synced")     # not tracked: no match
    env = dict(os.environ, LD_PRELOAD=so, POWERCUT_DIR=d,
               POWERCUT_MATCH="self.img")
    env_wb = dict(env, POWERCUT_WRITEBACK="2")
    rng = random.Random(seed)
    open(path, "wb").close()
    open(synced, "wb").close()
    for r in range(rounds):
        st = subprocess.call([sys.executable, __file__, "child", path,
                              str(rng.randrange(1 << 30)), synced],
                             env=env_wb if r % 2 else env)
        if st != -signal.SIGKILL:
            sys.exit("selftest: round %d: child failed (status %d)" % (r, st))
        if r % 2:
            # (the next round starts from whatever the cut kept)
            with open(path, "rb") as f, open(synced, "wb") as g:
                g.write(f.read())
            continue
        with open(path, "rb") as f:
            real = f.read()
        with open(synced, "rb") as f:
            want = f.read()
        if real != want:
            diff = next((i for i in range(min(len(real), len(want)))
                         if real[i] != want[i]), min(len(real), len(want)))
            sys.exit("selftest: round %d: after the cut the file holds %d "
                     "bytes, first difference at %d; the last sync left %d"
                     % (r, len(real), diff, len(want)))
    print("selftest: %d rounds, the overlay matches its model and a cut "
          "keeps exactly the synced content" % rounds)


if __name__ == "__main__":
    main()
