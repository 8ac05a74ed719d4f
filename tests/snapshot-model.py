#!/usr/bin/env python3
"""Model-based test of snapshots, clones, rollback, groups and CBT.

    snapshot-model.py run  NBDSOCK CTLSOCK SEGMAPCTL SEED OPS [VERIFY_EVERY]
    snapshot-model.py cut  NBDSOCK CTLSOCK SEGMAPCTL SEED OPS STATE PIDFILE

The model.  Every vdisk, snapshot and clone of one seed is a bytearray
(8 MiB vdisks with 1 MiB segments; names carry the seed, so several
seeds share one server).  A random stream of operations runs against
the server and the model at once: writes (4 KiB aligned and unaligned,
up to a few segments), trims and zeroes (both read back as zeros, the
edges of a partial segment included), flushes, reads of random ranges
of any export, snapshot create / delete / rollback, snapshot
create-group over several of the seed's vdisks, clone create, clone
flatten (a job, waited for, sometimes cancelled, sometimes left running
under I/O for a while), deletion of clones, and `vdisk diff'.  Every
VERIFY_EVERY operations and at the end every export (vdisk, VDISK@SNAP,
clone) is read whole and compared with the model, `vdisk list' must link
each clone to its snapshot (until a flatten or the snapshot's deletion)
and `segmapctl check' must pass.

Changed-block tracking is modelled as a tree per vdisk: a node per
snapshot and one for the vdisk now, each with the blocks written and the
blocks touched (written, trimmed or zeroed) since its parent.  A new
snapshot takes the vdisk's node as its own and the vdisk gets a fresh
child; a rollback to S makes the vdisk's node a fresh child of S;
deleting a snapshot merges its sets into each child.  The blocks touched
on the branch a rollback discards are allowed (not required) in the
diffs of the new branch: the server may keep their marks.  `vdisk diff V A
B' must hold every block written on the tree path between A and B and
every block whose bytes differ, and only blocks touched on that path.

`cut' is the crash variant (tests/test-snapshot-model-crash.sh): it
loads STATE (the model after the previous cut; a new model with its
vdisks when STATE is missing), first checks the restarted server
against it -- every snapshot reads exactly its bytes, every block of a
vdisk reads its durable value (the last value flushed: a flush of the
vdisk or a snapshot of it) or the value of a write, trim or zero issued
after it, `segmapctl check' passes, and the diffs since every snapshot
and between them cover every block whose bytes differ -- then adopts
what it read, runs the stream of operations and, from a random
operation among the first OPS on, sends SIGKILL to the server (pid in
PIDFILE) after a random delay of up to 50 ms: between operations, in
the middle of a write, a flush or a control command.  A command cut
off may or may not have happened: the next cut asks the server
(snapshot and vdisk lists, the bytes of a rolled back vdisk) and
follows it.  With OPS 0 it only checks.  The model is saved to STATE.
Exit status 0, or 1 on a divergence.
"""

import json
import os
import pickle
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import nbd

B = 4096
M = 1 << 20
SIZE = 8 * M
NBLOCKS = SIZE // B
MAX_SNAPS = 4          # per vdisk
MAX_VDISKS = 5         # base vdisks and clones of one seed
BASE_VDISKS = 3


class Divergence(Exception):
    pass


class ServerGone(Exception):
    pass


class Node:
    """A point of a vdisk's change history: the blocks written and
    touched since its parent point (None: before tracking began)."""

    def __init__(self, parent=None):
        self.parent = parent
        self.written = set()
        self.touched = set()
        # blocks touched on a branch a rollback discarded: the server
        # may keep their marks (allowed in a diff, not required)
        self.loose = set()


def blocks_of(off, n):
    return range(off // B, (off + n + B - 1) // B)


class Vdisk:
    def __init__(self, name, data, clone_of=None):
        self.name = name
        self.data = bytearray(data)
        self.node = Node()
        self.snaps = {}           # name -> [bytes, Node]
        self.clone_of = clone_of
        self.job = None           # running flatten job id
        # crash mode: block -> list of values allowed after a cut
        self.pending = {}

    def exports(self):
        yield self.name, self.data
        for s, (data, _) in self.snaps.items():
            yield self.name + "@" + s, data


class Model:
    def __init__(self, args, seed):
        self.nbdsock, self.ctlsock, self.ctl = args
        self.seed = seed
        self.rng = random.Random(seed)
        self.prefix = "m%d" % seed
        self.vdisks = {}
        self.counter = 0
        self.handles = {}
        self.ops = 0
        self.history = []         # the last operations, for a report
        self.crash = False
        self.state = None
        self.killed = False
        self.pending_cmd = None
        self.stats = {}
        self.times = {}

    # --- plumbing -----------------------------------------------------

    def note(self, what):
        self.history.append("%d: %s" % (self.ops, what))
        if not self.crash and not os.environ.get("SNAPMODEL_FULL_HISTORY"):
            del self.history[:-40]

    def fail(self, msg):
        if self.killed:
            raise ServerGone(msg)     # whatever failed, the cut did it
        if self.crash and self.state:
            with open(self.state + ".history", "w") as f:
                f.write("\n".join(self.history) + "\n")
        raise Divergence("seed %d op %d: %s\nlast operations%s:\n  %s" %
                         (self.seed, self.ops, msg,
                          " (all in %s.history)" % self.state
                          if self.crash and self.state else "",
                          "\n  ".join(self.history[-40:] if self.crash
                                       else self.history)))

    def ctlcmd(self, *argv, ok=True, retry=True):
        """segmapctl --json ARGV; retried while the server says to try
        again.  Returns (status, parsed JSON or None, stderr)."""
        for _ in range(400):
            try:
                p = subprocess.run([self.ctl, "-s", self.ctlsock, "--json"] +
                                   list(argv), capture_output=True,
                                   text=True, timeout=120)
            except subprocess.TimeoutExpired:
                self.fail("segmapctl %s: no answer" % " ".join(argv))
            if p.returncode == 0 or not retry or "again" not in p.stderr:
                break
            time.sleep(0.05)
        if p.returncode != 0 and self.killed:
            raise ServerGone()
        if ok and p.returncode != 0:
            self.fail("segmapctl %s failed: %s" % (" ".join(argv),
                                                   p.stderr.strip()))
        out = None
        if p.returncode == 0 and p.stdout.strip():
            out = json.loads(p.stdout)
        return p.returncode, out, p.stderr

    def handle(self, export):
        h = self.handles.get(export)
        if h is None:
            h = nbd.NBD()
            h.set_export_name(export)
            h.connect_unix(self.nbdsock)
            self.handles[export] = h
        return h

    def close(self, export):
        h = self.handles.pop(export, None)
        if h is not None:
            try:
                h.shutdown()
            except nbd.Error:
                pass

    def close_all(self):
        for e in list(self.handles):
            self.close(e)

    def command(self, pending, *argv):
        """segmapctl ARGV, noted; PENDING says what a cut in the middle
        leaves undecided (see reconcile)."""
        self.note(" ".join(argv))
        self.pending_cmd = pending
        out = self.ctlcmd(*argv)
        self.pending_cmd = None
        return out

    def read_export(self, export, off, n):
        h = self.handle(export)
        return h.pread(n, off)

    def bump(self, k):
        self.stats[k] = self.stats.get(k, 0) + 1

    def new_name(self, kind):
        self.counter += 1
        return "%s%s%d" % (self.prefix, kind, self.counter)

    def pick_vdisk(self):
        return self.vdisks[self.rng.choice(sorted(self.vdisks))]

    # --- data operations ----------------------------------------------

    def rand_range(self, aligned):
        r = self.rng
        if aligned:
            n = r.choice([1, 1, 2, 4, 16, 64, 256, 300]) * B
            off = r.randrange(0, NBLOCKS) * B
        else:
            n = r.choice([1, 511, 512, 3000, 4097, 9000, 70000, M + 5])
            off = r.randrange(0, SIZE)
        return off, min(n, SIZE - off)

    def touch(self, v, off, n, value, written):
        blocks = blocks_of(off, n)
        if self.crash:
            for b in blocks:
                if b not in v.pending:
                    v.pending[b] = [bytes(v.data[b * B:(b + 1) * B])]
        v.data[off:off + n] = value
        v.node.touched.update(blocks)
        if written:
            v.node.written.update(blocks)
        if self.crash:
            for b in blocks:
                v.pending[b].append(bytes(v.data[b * B:(b + 1) * B]))

    def op_write(self, aligned):
        v = self.pick_vdisk()
        off, n = self.rand_range(aligned)
        byte = self.rng.randrange(1, 256)
        # a pattern that differs per sector, so a misplaced sector shows
        data = bytes([byte]) * n
        if n >= 16:
            data = bytearray(data)
            for k in range(0, n, 512):
                tag = ((off + k) | (self.ops << 40)).to_bytes(8, "little")
                data[k:k + 8] = tag[:n - k]
            data = bytes(data)
        self.note("write %s %d+%d" % (v.name, off, n))
        assert len(data) == n
        self.touch(v, off, n, data, True)
        self.handle(v.name).pwrite(data, off)

    def op_discard(self, zero):
        v = self.pick_vdisk()
        r = self.rng.random()
        if r < 0.3:      # whole segments
            s = self.rng.randrange(0, SIZE // M)
            off, n = s * M, min(self.rng.choice([1, 2, 3]) * M, SIZE - s * M)
        else:
            off, n = self.rand_range(r < 0.6)
        self.note("%s %s %d+%d" % ("zero" if zero else "trim", v.name,
                                   off, n))
        self.touch(v, off, n, bytes(n), False)
        h = self.handle(v.name)
        if zero:
            h.zero(n, off)
        else:
            h.trim(n, off)

    def op_flush(self):
        v = self.pick_vdisk()
        self.note("flush %s" % v.name)
        self.handle(v.name).flush()
        v.pending.clear()

    def op_read(self):
        v = self.pick_vdisk()
        exports = list(v.exports())
        export, data = self.rng.choice(exports)
        off, n = self.rand_range(self.rng.random() < 0.5)
        self.note("read %s %d+%d" % (export, off, n))
        got = self.read_export(export, off, n)
        if got != bytes(data[off:off + n]):
            k = _first_diff(got, data[off:off + n])
            self.fail("read %s %d+%d differs from the model at byte %d "
                      "(read %r, want %r)" %
                      (export, off, n, off + k, got[k:k + 8],
                       bytes(data[off + k:off + k + 8])))

    # --- snapshots, clones ----------------------------------------------

    def finish_job(self, v, cancel=None):
        """End V's flatten job: wait for it, or cancel it first."""
        if v.job is None:
            return
        job, v.job = v.job, None
        if cancel is None:
            cancel = self.rng.random() < 0.3
        if cancel:
            self.note("job cancel %d (%s)" % (job, v.name))
            self.ctlcmd("job", "cancel", str(job), ok=False)
        st, row, err = self.ctlcmd("job", "wait", str(job), ok=False)
        if st != 0 and not cancel:
            self.fail("job wait %d (flatten %s) failed: %s" % (job, v.name, err))
        self.bump("flatten-" + ("done" if st == 0 else "cancelled"))
        if st == 0:
            v.clone_of = None

    def take_snapshot(self, v, snap):
        v.snaps[snap] = [bytes(v.data), v.node]
        v.node = Node(v.node)
        v.pending.clear()         # a snapshot implies a flush

    def op_snapshot(self):
        v = self.pick_vdisk()
        if len(v.snaps) >= MAX_SNAPS:
            return self.op_snapshot_delete(v)
        self.finish_job(v)
        snap = self.new_name("s")
        self.command(("snapshot", [v.name], snap),
                     "snapshot", "create", v.name, snap)
        self.take_snapshot(v, snap)
        self.bump("snapshot")

    def op_group(self):
        names = [n for n in sorted(self.vdisks)
                 if len(self.vdisks[n].snaps) < MAX_SNAPS]
        if len(names) < 2:
            return
        names = self.rng.sample(names, self.rng.randint(2, len(names)))
        for n in names:
            self.finish_job(self.vdisks[n])
        snap = self.new_name("g")
        self.command(("snapshot", names, snap),
                     "snapshot", "create-group", snap, *names)
        for n in names:
            self.take_snapshot(self.vdisks[n], snap)
        self.bump("group")

    def delete_snapshot_model(self, v, snap):
        _, node = v.snaps.pop(snap)
        for child in self.nodes(v):
            if child.parent is node:
                child.parent = node.parent
                child.written |= node.written
                child.touched |= node.touched
                child.loose |= node.loose
        for c in self.vdisks.values():
            if c.clone_of == (v.name, snap):
                c.clone_of = None
        self.close(v.name + "@" + snap)

    def op_snapshot_delete(self, v=None):
        v = v or self.pick_vdisk()
        if not v.snaps:
            return
        snap = self.rng.choice(sorted(v.snaps))
        self.command(("snapshot-delete", [v.name], snap),
                     "snapshot", "delete", v.name, snap)
        self.delete_snapshot_model(v, snap)
        self.bump("snapshot-delete")

    def op_rollback(self):
        v = self.pick_vdisk()
        if not v.snaps:
            return
        self.finish_job(v)
        snap = self.rng.choice(sorted(v.snaps))
        self.command(("rollback", [v.name], snap),
                     "snapshot", "rollback", v.name, snap)
        self.do_rollback(v, snap)
        self.bump("rollback")

    def do_rollback(self, v, snap):
        data, node = v.snaps[snap]
        v.data = bytearray(data)
        old = v.node
        v.node = Node(node)
        v.node.loose = old.touched | old.loose
        v.pending.clear()

    def op_clone(self):
        if len(self.vdisks) >= MAX_VDISKS:
            return self.op_clone_delete()
        v = self.pick_vdisk()
        if not v.snaps:
            return
        snap = self.rng.choice(sorted(v.snaps))
        name = self.new_name("c")
        self.command(("clone", [v.name], snap, name),
                     "clone", "create", v.name, snap, name)
        self.vdisks[name] = Vdisk(name, v.snaps[snap][0], (v.name, snap))
        self.bump("clone")

    def op_clone_delete(self):
        clones = [n for n in sorted(self.vdisks)
                  if not n.startswith(self.prefix + "v")]
        if not clones:
            return
        c = self.vdisks[self.rng.choice(clones)]
        self.finish_job(c)
        for snap in sorted(c.snaps):
            self.command(("snapshot-delete", [c.name], snap),
                         "snapshot", "delete", c.name, snap)
            self.delete_snapshot_model(c, snap)
        self.close(c.name)
        self.command(("vdisk-delete", [c.name]), "vdisk", "delete", c.name)
        del self.vdisks[c.name]
        self.bump("clone-delete")

    def op_flatten(self):
        v = self.pick_vdisk()
        if v.job is not None:
            return self.finish_job(v)
        self.note("clone flatten %s" % v.name)
        _, row, _ = self.ctlcmd("clone", "flatten", v.name)
        v.job = row["id"]
        # Half the time the job is ended now; otherwise it runs while
        # the stream goes on and ends before the next snapshot or
        # rollback of the vdisk, or at the next verification.
        if self.rng.random() < 0.5:
            self.finish_job(v)

    # --- changed-block tracking ---------------------------------------

    def nodes(self, v):
        return [v.node] + [n for _, n in v.snaps.values()]

    def path(self, a, b):
        """(written, touched) on the tree path between nodes a and b,
        or None when they have no common ancestor."""
        up = []
        n = a
        while n is not None:
            up.append(n)
            n = n.parent
        ids = {id(x): i for i, x in enumerate(up)}
        w, t = set(), set()
        n = b
        while n is not None and id(n) not in ids:
            w |= n.written
            t |= n.touched | n.loose
            n = n.parent
        if n is None:
            return None
        for x in up[:ids[id(n)]]:
            w |= x.written
            t |= x.touched | x.loose
        return w, t

    def op_diff(self):
        v = self.pick_vdisk()
        if not v.snaps:
            return
        a = self.rng.choice(sorted(v.snaps))
        b = self.rng.choice(sorted(v.snaps) + [None, None])
        self.check_diff(v, a, b)
        self.bump("diff")

    def check_diff(self, v, a, b, exact=True, now=None):
        """vdisk diff V A [B] against the model (NOW: V's bytes, if
        already read)."""
        argv = ["vdisk", "diff", v.name, a] + ([b] if b else [])
        self.note(" ".join(argv))
        na = v.snaps[a][1]
        nb = v.snaps[b][1] if b else v.node
        p = self.path(na, nb)
        st, d, err = self.ctlcmd(*argv, ok=p is None and False)
        if st != 0:
            if p is None:
                return
            self.fail("%s failed: %s" % (" ".join(argv), err))
        got = set()
        for r in d["ranges"]:
            if r["offset"] % B or r["length"] % B:
                self.fail("%s: unaligned range %s" % (" ".join(argv), r))
            got.update(range(r["offset"] // B, (r["offset"] + r["length"]) // B))
        x = v.snaps[a][0]
        if b:
            y = v.snaps[b][0]
        else:
            y = now if now is not None else self.read_whole(v.name)
        differ = {k for k in range(NBLOCKS)
                  if x[k * B:(k + 1) * B] != y[k * B:(k + 1) * B]}
        if not differ <= got:
            self.fail("%s misses blocks whose bytes differ: %s" %
                      (" ".join(argv), sorted(differ - got)[:10]))
        if p is None or not exact:
            return
        w, t = p
        if not w <= got:
            self.fail("%s misses written blocks: %s" %
                      (" ".join(argv), sorted(w - got)[:10]))
        if not got <= t:
            self.fail("%s lists untouched blocks: %s" %
                      (" ".join(argv), sorted(got - t)[:10]))

    # --- verification ---------------------------------------------------

    def read_whole(self, export):
        h = self.handle(export)
        if h.get_size() != SIZE:
            self.fail("%s: size %d, want %d" % (export, h.get_size(), SIZE))
        return b"".join(h.pread(M, o) for o in range(0, SIZE, M))

    def verify_all(self, snaps=True):
        for v in list(self.vdisks.values()):
            self.finish_job(v, cancel=False)
            for export, data in v.exports():
                if "@" in export and not snaps:
                    continue
                got = self.read_whole(export)
                if got != bytes(data):
                    k = _first_diff(got, data)
                    self.fail("%s differs from the model at byte %d "
                              "(read %r, want %r)" %
                              (export, k, got[k:k + 8], bytes(data[k:k + 8])))
        _, rows, _ = self.ctlcmd("vdisk", "list")
        links = {r["name"]: r.get("clone_of") for r in rows}
        for v in self.vdisks.values():
            want = "%s@%s" % v.clone_of if v.clone_of else None
            if links.get(v.name, "missing") != want:
                self.fail("vdisk list: %s is a clone of %s, want %s" %
                          (v.name, links.get(v.name, "missing"), want))
        st, _, err = self.ctlcmd("check", ok=False)
        if st != 0:
            self.fail("segmapctl check failed: %s" % err)
        self.bump("verify")

    # --- the stream ------------------------------------------------------

    OPS = [
        (30, "op_write", (True,)), (20, "op_write", (False,)),
        (5, "op_discard", (False,)), (5, "op_discard", (True,)),
        (6, "op_flush", ()), (10, "op_read", ()),
        (2.5, "op_snapshot", ()), (1.2, "op_snapshot_delete", ()),
        (0.8, "op_rollback", ()), (0.7, "op_clone", ()),
        (0.5, "op_flatten", ()), (0.5, "op_group", ()),
        (1.5, "op_diff", ()),
    ]

    def setup(self):
        for i in range(BASE_VDISKS):
            name = "%sv%d" % (self.prefix, i)
            self.ctlcmd("vdisk", "create", name, str(SIZE),
                        "--segment-size", "1M", "--container", "c")
            self.vdisks[name] = Vdisk(name, bytes(SIZE))

    def step(self):
        self.ops += 1
        weights = [w for w, _, _ in self.OPS]
        _, fn, a = self.rng.choices(self.OPS, weights)[0]
        t = time.monotonic()
        getattr(self, fn)(*a)
        k = fn + "".join(str(x)[0] for x in a)
        self.times[k] = self.times.get(k, 0) + time.monotonic() - t

    def teardown(self):
        """Delete everything of this seed (clones first)."""
        for name in sorted(self.vdisks, key=lambda n: n.startswith(self.prefix + "v")):
            v = self.vdisks[name]
            self.finish_job(v, cancel=True)
            for snap in sorted(v.snaps):
                self.ctlcmd("snapshot", "delete", name, snap)
            self.close(name)
            self.ctlcmd("vdisk", "delete", name)
        self.close_all()


def _first_diff(a, b):
    for k in range(0, len(a), 4096):
        if a[k:k + 4096] != bytes(b[k:k + 4096]):
            for j in range(k, min(k + 4096, len(a))):
                if a[j] != b[j]:
                    return j
    return len(a)


def run(args, seed, nops, every):
    m = Model(args, seed)
    t0 = time.monotonic()
    m.setup()
    for _ in range(nops):
        m.step()
        if m.ops % every == 0:
            m.verify_all(snaps=m.rng.random() < 0.5)
    m.verify_all()
    for v in list(m.vdisks.values()):
        for s in sorted(v.snaps):
            m.check_diff(v, s, None)
    m.teardown()
    print("seed %d: %d operations, 0 divergences, %.1f s (%s)" %
          (seed, nops, time.monotonic() - t0,
           " ".join("%s=%d" % kv for kv in sorted(m.stats.items()))))
    if os.environ.get("SNAPMODEL_TIMES"):
        print(" ".join("%s=%.1f" % kv for kv in sorted(m.times.items())))


# --- crash cuts ---------------------------------------------------------

def reconcile(m):
    """A command cut off by the kill: follow what the server says."""
    cmd, m.pending_cmd = m.pending_cmd, None
    if cmd is None:
        return
    kind, names = cmd[0], cmd[1]
    m.note("after the cut: was %s %s done?" % (kind, cmd[2:]))
    if kind in ("snapshot", "snapshot-delete"):
        snap = cmd[2]
        taken = []
        for n in names:
            _, rows, _ = m.ctlcmd("snapshot", "list", n)
            taken.append(any(r["name"] == snap for r in rows))
        if kind == "snapshot" and len(set(taken)) > 1:
            m.fail("group snapshot %s cut off: taken on %s only" %
                   (snap, [n for n, t in zip(names, taken) if t]))
        for n, t in zip(names, taken):
            v = m.vdisks[n]
            if kind == "snapshot" and t:
                m.take_snapshot(v, snap)
            elif kind == "snapshot-delete" and not t:
                m.delete_snapshot_model(v, snap)
    elif kind == "rollback":
        v = m.vdisks[names[0]]
        if m.read_whole(v.name) == v.snaps[cmd[2]][0]:
            m.do_rollback(v, cmd[2])
    elif kind in ("clone", "vdisk-delete"):
        _, rows, _ = m.ctlcmd("vdisk", "list")
        exists = any(r["name"] == cmd[-1] for r in rows)
        if kind == "clone" and exists:
            src = m.vdisks[names[0]]
            m.vdisks[cmd[3]] = Vdisk(cmd[3], src.snaps[cmd[2]][0],
                                     (src.name, cmd[2]))
        elif kind == "vdisk-delete" and not exists:
            del m.vdisks[names[0]]


def _concerns(note, name, seg):
    """Could the history line NOTE have changed segment SEG of vdisk
    NAME?  I/O on it, and every command that changes segments (on any
    vdisk: they share segments), kills included."""
    what = note.split(": ", 1)[-1]
    r = re.match(r"(write|trim|zero) (\S+) (\d+)\+(\d+)$", what)
    if r:
        off, n = int(r.group(3)), int(r.group(4))
        return (r.group(2) == name and off < (seg + 1) * M
                and off + n > seg * M)
    if what.startswith(("read ", "vdisk diff ")):
        return False
    return not what.startswith("flush ") or what == "flush " + name


def diagnose(m, name, block):
    """What the history and the database say about NAME's segment of
    BLOCK, for a divergence report (a crash cut's state is gone once the
    test has ended)."""
    seg = block * B // M
    lines = ["history of %s segment %d:" % (name, seg)]
    lines += ["  " + h for h in m.history if _concerns(h, name, seg)][-80:]
    db = os.path.join(os.path.dirname(m.ctlsock), "segmap.db")
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        q = con.execute
        v = q("SELECT id, kind, parent_id, clone_of, base_id FROM vdisk"
              " WHERE name = ?", (name,)).fetchone()
        if v is None and "@" in name:
            v = q("SELECT s.id, s.kind, s.parent_id, s.clone_of, s.base_id"
                  " FROM vdisk s JOIN vdisk p ON s.parent_id = p.id"
                  " WHERE p.name = ? AND s.snap_name = ?",
                  tuple(name.split("@", 1))).fetchone()
        lines.append("vdisk row (id, kind, parent, clone_of, base): %r" % (v,))
        if v is None:
            return "\n".join(lines)
        locs = set()
        for r in q("SELECT container_id, unit, flags FROM map"
                   " WHERE vdisk_id = ? AND vseg = ?", (v[0], seg)):
            lines.append("map row (container, unit, flags): %r" % (r,))
            locs.add(r[:2])
        for r in q("SELECT orig_container_id, orig_unit, alt_container_id,"
                   " alt_unit, redirect, hex(at_alt) FROM movement"
                   " WHERE vdisk_id = ? AND vseg = ?", (v[0], seg)):
            lines.append("movement (orig, alt, redirect, at_alt): %r" % (r,))
            locs.update({r[0:2], r[2:4]})
        for c, u in sorted(x for x in locs if x[0] is not None):
            seg_row = q("SELECT refcount, units FROM segment WHERE"
                        " container_id = ? AND unit = ?", (c, u)).fetchone()
            users = q("SELECT vdisk_id, vseg, flags FROM map WHERE"
                      " container_id = ? AND unit = ?", (c, u)).fetchall()
            lines.append("segment %d:%d (refcount, units) %r, map rows %r"
                         % (c, u, seg_row, users))
        con.close()
    except sqlite3.Error as e:
        lines.append("database %s: %s" % (db, e))
    return "\n".join(lines)


def verify_cut(m):
    """Check the restarted server against the model and adopt what the
    vdisks read (each block one of its allowed values)."""
    for v in m.vdisks.values():
        for export, data in v.exports():
            if "@" not in export:
                continue
            got = m.read_whole(export)
            if got != data:
                k = _first_diff(got, data)
                m.fail("snapshot %s differs at byte %d after the cut "
                       "(read %r, want %r)\n%s" %
                       (export, k, got[k:k + 8], data[k:k + 8],
                        diagnose(m, export, k // B)))
        got = m.read_whole(v.name)
        for b in range(NBLOCKS):
            x = got[b * B:(b + 1) * B]
            allowed = v.pending.get(b, [bytes(v.data[b * B:(b + 1) * B])])
            if x not in allowed:
                m.fail("%s block %d after the cut reads %r..., neither its "
                       "flushed value %r... nor a later one (%d allowed)\n%s"
                       % (v.name, b, x[:8], allowed[0][:8], len(allowed),
                          diagnose(m, v.name, b)))
        m.stats["unflushed-kept"] = m.stats.get("unflushed-kept", 0) + sum(
            1 for b, a in v.pending.items() if a[-1] != a[0] and
            got[b * B:(b + 1) * B] == a[-1])
        # A write lost by the cut need not be marked: what was written
        # since the vdisk's last snapshot and not flushed is no longer
        # required in its diffs (blocks whose bytes differ still are).
        v.node.written -= set(v.pending)
        v.data = bytearray(got)
        v.pending.clear()
    st, _, err = m.ctlcmd("check", ok=False)
    if st != 0:
        m.fail("segmapctl check failed after the cut: %s" % err)
    for v in m.vdisks.values():
        snaps = sorted(v.snaps)
        for a in snaps:
            m.check_diff(v, a, None, exact=False, now=bytes(v.data))
            if len(snaps) > 1:
                m.check_diff(v, a, m.rng.choice(snaps), exact=False)


def cut(args, seed, nops, state, pidfile):
    m = None
    if os.path.exists(state):
        with open(state, "rb") as f:
            m = pickle.load(f)
        m.nbdsock, m.ctlsock, m.ctl = args
        m.handles = {}
    else:
        m = Model(args, seed)
        m.setup()
    m.crash = True
    m.state = state
    m.killed = False
    m.times = {}
    reconcile(m)
    verify_cut(m)
    nchecked = sum(1 + len(v.snaps) for v in m.vdisks.values())
    if nops > 0:
        pid = int(open(pidfile).read())
        kill_at = m.ops + m.rng.randint(1, nops)
        delay = m.rng.random() * 0.05
        timer = None

        def kill():
            m.killed = True
            os.kill(pid, signal.SIGKILL)

        try:
            while True:
                if m.ops == kill_at:
                    timer = threading.Timer(delay, kill)
                    timer.start()
                m.step()
                if m.ops > kill_at + 100000:
                    m.fail("the server did not go away")
        except (ServerGone, nbd.Error) as e:
            if not m.killed:
                m.fail("operation failed with the server up: %s" % e)
        timer.join()
        m.note("kill")
        m.handles = {}
    m.close_all()
    with open(state + ".new", "wb") as f:
        pickle.dump(m, f)
    os.rename(state + ".new", state)
    print("cut: %d exports as the model, %d unflushed blocks kept, op %d"
          % (nchecked, m.stats.get("unflushed-kept", 0), m.ops))


def main():
    cmd = sys.argv[1]
    args = sys.argv[2:5]
    seed, nops = int(sys.argv[5]), int(sys.argv[6])
    try:
        if cmd == "run":
            every = int(sys.argv[7]) if len(sys.argv) > 7 else 1000
            run(args, seed, nops, every)
        elif cmd == "cut":
            cut(args, seed, nops, sys.argv[7], sys.argv[8])
        else:
            sys.exit("unknown command " + cmd)
    except Divergence as e:
        print("DIVERGENCE: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
