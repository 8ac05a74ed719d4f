#!/usr/bin/env python3
"""iscsi-raw.py -- a raw iSCSI initiator (RFC 7143) that abuses a target.

Used by tests/test-iscsi-badinput.sh.  Standard library only, so that it
runs anywhere python3 does; header and data digests (CRC32C) are
computed here.

Design.  A well-behaved *witness* session logs in before any abuse and
stays logged in for the whole run.  Each case in CASES opens its own
connections, misbehaves in one way, and checks that the answer is the
one the standard asks for: a Reject PDU with the right reason, a Login
Response with the right status, CHECK CONDITION with the right sense
key / ASC / ASCQ, silence where RFC 7143 says "silently ignore", or the
connection dropped where it allows that.  After every case the witness
writes and reads back a block of its own region and answers a NOP, and
--alive-cmd (e.g. `segmapctl status`) must succeed: abuse on one
connection must never hurt another one or the process.

A case passes, fails (AssertionError / CaseFailed: the message says
what was expected and what came back), or is skipped when it needs
something the command line did not give (CHAP credentials, a denied
initiator); --require-all turns skips into failures.

Sessions: InitialR2T=Yes and ImmediateData=No are offered, so every
write goes through R2T and Data-Out (the target cannot choose
otherwise: InitialR2T is OR-ed, ImmediateData AND-ed).  Target NOP-In
pings are answered whenever the connection is read; the witness is
serviced by a keepalive thread so that it is never idle long enough to
be dropped.

Usage:
  iscsi-raw.py --list
  iscsi-raw.py -p HOST:PORT -t TARGET-IQN -i INITIATOR-IQN [--lun N]
               [--chap USER:SECRETFILE] [--denied-initiator IQN]
               [--alive-cmd CMD] [--timeout S] [--require-all]
               [--case NAME]...
Exit status: 0 all cases passed, 1 a case failed, 2 usage or set-up
error (the witness could not log in).
"""

import argparse
import hashlib
import os
import random
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time

# ----------------------------------------------------------------------
# CRC32C (Castagnoli), reflected, as iSCSI digests use it (RFC 7143
# §13.1, test vectors in RFC 3720 appendix B.4).  The digest goes on
# the wire least significant byte first.

def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table

_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def digest(data):
    return struct.pack("<I", crc32c(data))

# ----------------------------------------------------------------------
# PDUs

OP_NOP_OUT, OP_SCSI_CMD, OP_TMF, OP_LOGIN, OP_TEXT, OP_DATA_OUT, \
    OP_LOGOUT = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
OP_NOP_IN, OP_SCSI_RSP, OP_TMF_RSP, OP_LOGIN_RSP, OP_TEXT_RSP, \
    OP_DATA_IN, OP_LOGOUT_RSP, OP_R2T, OP_ASYNC, OP_REJECT = \
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3F
I_BIT = 0x40
F_BIT = 0x80
RESERVED_TAG = 0xFFFFFFFF

REJECT_REASONS = {
    0x02: "data digest error", 0x03: "SNACK reject", 0x04: "protocol error",
    0x05: "command not supported", 0x06: "immediate command reject",
    0x07: "task in progress", 0x08: "invalid data ack",
    0x09: "invalid PDU field", 0x0A: "long operation reject",
    0x0B: "deprecated", 0x0C: "waiting for logout",
}

SENSE_KEYS = {0: "NO SENSE", 2: "NOT READY", 3: "MEDIUM ERROR",
              4: "HARDWARE ERROR", 5: "ILLEGAL REQUEST",
              6: "UNIT ATTENTION", 7: "DATA PROTECT", 0xB: "ABORTED COMMAND"}


class Closed(Exception):
    """The target closed (or reset) the connection."""


class Timeout(Exception):
    """No PDU arrived in time."""


class CaseFailed(Exception):
    """The target's answer is not what the standard asks for."""


class CaseSkipped(Exception):
    """The case needs something the command line did not give."""


class Pdu:
    """A received PDU: the 48-byte BHS and the data segment."""

    def __init__(self, bhs, data):
        self.bhs = bhs
        self.data = data

    opcode = property(lambda self: self.bhs[0] & 0x3F)
    flags = property(lambda self: self.bhs[1])
    itt = property(lambda self: struct.unpack_from(">I", self.bhs, 16)[0])
    ttt = property(lambda self: struct.unpack_from(">I", self.bhs, 20)[0])

    def u32(self, off):
        return struct.unpack_from(">I", self.bhs, off)[0]

    def __repr__(self):
        return "<PDU opcode 0x%02x flags 0x%02x itt 0x%08x dsl %d>" % (
            self.opcode, self.flags, self.itt, len(self.data))


def bhs(opcode, flags=0, b2=0, b3=0, lun=0, itt=0, rest=b"", dsl=0,
        immediate=False, spec8=None):
    """Build a 48-byte BHS.  REST fills bytes 20..47 (padded with
    zeros); SPEC8 replaces bytes 8..15 (the LUN) when given."""
    h = bytearray(48)
    h[0] = (opcode & 0x3F) | (I_BIT if immediate else 0)
    h[1], h[2], h[3] = flags, b2, b3
    struct.pack_into(">I", h, 4, dsl & 0xFFFFFF)  # byte 4: TotalAHSLength 0
    h[4] = 0
    if spec8 is not None:
        h[8:16] = spec8
    else:
        h[8:16] = struct.pack(">Q", (lun & 0x3FFF) << 48 if lun < 256
                              else lun)
    struct.pack_into(">I", h, 16, itt)
    h[20:20 + len(rest)] = rest
    return bytes(h)


def pad4(data):
    return data + b"\0" * (-len(data) % 4)

# ----------------------------------------------------------------------
# Connections


class Conn:
    """One TCP connection to the target, with optional digests."""

    def __init__(self, addr, timeout, rcvbuf=None):
        self.addr = addr
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hdigest = False
        self.ddigest = False
        self.buf = b""

    def close(self, reset=False):
        if self.sock is None:
            return
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()
        self.sock = None

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed("send: %s" % e)

    def send(self, header, data=b"", bad_hdigest=False, bad_ddigest=False,
             dsl=None):
        """Send a PDU.  DSL overrides the DataSegmentLength field (the
        data sent is still DATA)."""
        header = bytearray(header)
        n = len(data) if dsl is None else dsl
        header[5:8] = n.to_bytes(3, "big")
        out = bytes(header)
        if self.hdigest:
            d = crc32c(out) ^ (0xFFFF if bad_hdigest else 0)
            out += struct.pack("<I", d)
        if data:
            out += pad4(data)
            if self.ddigest:
                d = crc32c(pad4(data)) ^ (0xFFFF if bad_ddigest else 0)
                out += struct.pack("<I", d)
        self.send_raw(out)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no answer within %g s" % self.timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(max(n - len(self.buf), 65536))
            except socket.timeout:
                raise Timeout("no answer within %g s" % self.timeout)
            except ConnectionResetError:
                raise Closed("connection reset by the target")
            if not chunk:
                raise Closed("connection closed by the target")
            self.buf += chunk

    def _take(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=None):
        """Read one PDU; raise Closed or Timeout.  Digests, if on, are
        verified: a target sending a wrong digest is a failure."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        self._fill(48, deadline)
        header = self._take(48)
        ahs = header[4] * 4
        dsl = int.from_bytes(header[5:8], "big")
        self._fill(ahs, deadline)
        ahs_bytes = self._take(ahs)
        if self.hdigest:
            self._fill(4, deadline)
            got = self._take(4)
            if got != digest(header + ahs_bytes):
                raise CaseFailed("the target sent a wrong header digest")
        data = b""
        if dsl:
            padded = dsl + (-dsl % 4)
            self._fill(padded, deadline)
            raw = self._take(padded)
            if self.ddigest:
                self._fill(4, deadline)
                if self._take(4) != digest(raw):
                    raise CaseFailed("the target sent a wrong data digest")
            data = raw[:dsl]
        return Pdu(header, data)

    def expect_closed(self, timeout=None, what="the connection"):
        """Read until the target closes; PDUs on the way are returned."""
        got = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                got.append(self.recv(max(0.01, deadline - time.monotonic())))
            except Closed:
                return got
            except Timeout:
                raise CaseFailed("%s was not closed within %g s (got %s)"
                                 % (what, timeout or self.timeout, got))

# ----------------------------------------------------------------------
# Login text


def text_keys(pairs):
    """Encode [(key, value)] or raw byte strings as login/text data."""
    out = b""
    for p in pairs:
        out += (p if isinstance(p, bytes) else
                ("%s=%s" % p).encode()) + b"\0"
    return out


def parse_keys(data):
    keys = {}
    for item in data.split(b"\0"):
        if not item:
            continue
        k, _, v = item.decode(errors="replace").partition("=")
        keys.setdefault(k, []).append(v)
    return {k: v[0] if len(v) == 1 else v for k, v in keys.items()}


def chap_bytes(value):
    if value[:2] in ("0x", "0X"):
        return bytes.fromhex(value[2:])
    if value[:2] in ("0b", "0B"):
        import base64
        return base64.b64decode(value[2:])
    raise CaseFailed("undecodable CHAP value %r" % value)


class LoginResponse:
    def __init__(self, pdu):
        self.pdu = pdu
        self.transit = bool(pdu.flags & 0x80)
        self.cont = bool(pdu.flags & 0x40)
        self.csg = (pdu.flags >> 2) & 3
        self.nsg = pdu.flags & 3
        self.tsih = struct.unpack_from(">H", pdu.bhs, 14)[0]
        self.statsn, self.expcmdsn, self.maxcmdsn = (
            pdu.u32(24), pdu.u32(28), pdu.u32(32))
        self.status = (pdu.bhs[36] << 8) | pdu.bhs[37]
        self.keys = parse_keys(pdu.data)

    def __repr__(self):
        return "<Login Response status 0x%04x T=%d CSG=%d NSG=%d %s>" % (
            self.status, self.transit, self.csg, self.nsg, self.keys)


class LoginFailed(Exception):
    def __init__(self, status, resp=None):
        super().__init__("login failed with status 0x%04x" % status)
        self.status = status
        self.resp = resp

# ----------------------------------------------------------------------
# Sessions


class Session:
    """One connection and its session (ERL 0, one connection)."""

    def __init__(self, opts, initiator=None, target=None, discovery=False,
                 chap=None, rcvbuf=None, digests=False):
        self.opts = opts
        self.initiator = initiator or opts.initiator
        self.target = target or opts.target
        self.discovery = discovery
        self.chap = opts.chap if chap is None else chap
        self.digests = digests
        self.conn = Conn(opts.addr, opts.timeout, rcvbuf)
        self.isid = bytes([0x80, 0]) + os.urandom(4)
        self.tsih = 0
        self.cmdsn = 1
        self.expstatsn = 0
        self.itt = random.randrange(1, 1 << 20)
        self.lock = threading.RLock()
        self.max_send_dsl = 8192         # the target's MaxRecvDataSegmentLength
        self.params = {}
        self.lun = opts.lun
        self.block_size = None
        self.blocks = None
        self.last_sense_info = None      # of the last SCSI Response

    def close(self, reset=False):
        self.conn.close(reset)

    def next_itt(self):
        self.itt = (self.itt + 1) & 0x7FFFFFFF
        return self.itt

    # -- login --------------------------------------------------------

    def login_pdu(self, csg, nsg, transit, keys, cont=False, vmax=0, vmin=0,
                  flags=None, dsl=None, itt=None):
        """Send one Login Request; return the raw response PDU."""
        f = (0x80 if transit else 0) | (0x40 if cont else 0) | \
            (csg << 2) | (nsg if transit else 0)
        if flags is not None:
            f = flags
        rest = struct.pack(">HHII", 0, 0, self.cmdsn, self.expstatsn)
        h = bhs(OP_LOGIN, f, vmax, vmin, itt=self.itt if itt is None else itt,
                rest=rest, immediate=True,
                spec8=self.isid + struct.pack(">H", self.tsih))
        data = keys if isinstance(keys, bytes) else text_keys(keys)
        self.conn.send(h, data, dsl=dsl)
        return self.recv_skip_nop()

    def login_step(self, csg, nsg, transit, keys, **kw):
        """A Login Request whose response must be a Login Response."""
        pdu = self.login_pdu(csg, nsg, transit, keys, **kw)
        if pdu.opcode != OP_LOGIN_RSP:
            raise CaseFailed("expected a Login Response, got %r" % pdu)
        r = LoginResponse(pdu)
        self.expstatsn = r.statsn + 1
        self.tsih = r.tsih
        if r.status != 0:
            raise LoginFailed(r.status, r)
        return r

    def first_keys(self, auth=None):
        if auth is None:
            auth = "CHAP,None" if self.chap else "None"
        keys = [("InitiatorName", self.initiator),
                ("SessionType", "Discovery" if self.discovery else "Normal")]
        if not self.discovery:
            keys.append(("TargetName", self.target))
        keys.append(("AuthMethod", auth))
        return keys

    def operational_keys(self):
        d = "CRC32C" if self.digests else "None"
        keys = [("HeaderDigest", d), ("DataDigest", d),
                ("MaxRecvDataSegmentLength", "65536")]
        if not self.discovery:
            keys += [("InitialR2T", "Yes"), ("ImmediateData", "No"),
                     ("MaxBurstLength", "262144"),
                     ("FirstBurstLength", "65536"),
                     ("MaxOutstandingR2T", "1"), ("MaxConnections", "1"),
                     ("DataPDUInOrder", "Yes"),
                     ("DataSequenceInOrder", "Yes"),
                     ("ErrorRecoveryLevel", "0"),
                     ("DefaultTime2Wait", "2"), ("DefaultTime2Retain", "0")]
        return keys

    def security(self, chap_answer=None):
        """Run the security stage up to the transit to the operational
        stage.  CHAP_ANSWER(challenge_id, challenge) may return the keys
        of the CHAP answer, to misbehave."""
        auth = "CHAP,None" if self.chap else "None"
        r = self.login_step(0, 1, True, self.first_keys(auth))
        if r.transit:
            return r
        if r.keys.get("AuthMethod") != "CHAP":
            raise CaseFailed("security stage did not transit, AuthMethod=%s"
                             % r.keys.get("AuthMethod"))
        if not self.chap:
            raise CaseFailed("the target asks for CHAP, but no credentials "
                             "(--chap)")
        r = self.login_step(0, 1, False, [("CHAP_A", "5")])
        if r.keys.get("CHAP_A") != "5":
            raise CaseFailed("the target chose CHAP_A=%s" % r.keys.get("CHAP_A"))
        cid = int(r.keys["CHAP_I"])
        challenge = chap_bytes(r.keys["CHAP_C"])
        if chap_answer:
            answer = chap_answer(cid, challenge)
        else:
            answer = self.chap_response(cid, challenge)
        r = self.login_step(0, 1, True, answer)
        if not r.transit:
            raise CaseFailed("no transit after a good CHAP answer: %r" % r)
        return r

    def chap_response(self, cid, challenge, secret=None):
        user, sec = self.chap
        if secret is not None:
            sec = secret
        resp = hashlib.md5(bytes([cid]) + sec + challenge).hexdigest()
        return [("CHAP_N", user), ("CHAP_R", "0x" + resp)]

    def operational(self):
        keys = self.operational_keys()
        for _ in range(4):
            r = self.login_step(1, 3, True, keys)
            self.params.update(r.keys)
            if r.transit and r.nsg == 3:
                return r
            keys = []
        raise CaseFailed("the target never moved to full feature phase")

    def login(self, chap_answer=None):
        r = self.security(chap_answer)
        if r.nsg != 3:
            r = self.operational()
        self.params.update(r.keys)
        self.cmdsn = r.expcmdsn
        mrdsl = self.params.get("MaxRecvDataSegmentLength")
        if mrdsl:
            self.max_send_dsl = int(mrdsl)
        if self.digests:
            for k in ("HeaderDigest", "DataDigest"):
                if self.params.get(k) != "CRC32C":
                    raise CaseFailed("the target answered %s=%s to CRC32C"
                                     % (k, self.params.get(k)))
            self.conn.hdigest = self.conn.ddigest = True
        if not self.discovery:
            self.capacity()
        return self

    # -- full feature phase ---------------------------------------------

    def recv_skip_nop(self, timeout=None):
        """Receive a PDU, answering target NOP-In pings on the way."""
        while True:
            p = self.conn.recv(timeout)
            if p.opcode == OP_NOP_IN and p.itt == RESERVED_TAG:
                if p.ttt != RESERVED_TAG:
                    self.nop_reply(p.ttt)
                continue
            if p.opcode == OP_ASYNC:
                continue
            self.track(p)
            return p

    def track(self, p):
        if p.opcode in (OP_SCSI_RSP, OP_TEXT_RSP, OP_LOGOUT_RSP, OP_REJECT,
                        OP_NOP_IN, OP_TMF_RSP) or \
                (p.opcode == OP_DATA_IN and p.flags & 0x01):
            self.expstatsn = (p.u32(24) + 1) & 0xFFFFFFFF

    def nop_reply(self, ttt):
        rest = struct.pack(">III", ttt, self.cmdsn, self.expstatsn)
        self.conn.send(bhs(OP_NOP_OUT, F_BIT, itt=RESERVED_TAG, rest=rest,
                           immediate=True))

    def nop(self, timeout=None):
        """A NOP-Out ping; returns when its NOP-In arrives."""
        with self.lock:
            itt = self.next_itt()
            rest = struct.pack(">III", RESERVED_TAG, self.cmdsn,
                               self.expstatsn)
            self.conn.send(bhs(OP_NOP_OUT, F_BIT, itt=itt, rest=rest,
                               immediate=True))
            while True:
                p = self.recv_skip_nop(timeout)
                if p.opcode == OP_NOP_IN and p.itt == itt:
                    return p
                raise CaseFailed("expected the NOP-In answer, got %r" % p)

    def service(self):
        """Answer pending target pings without blocking (keepalive)."""
        with self.lock:
            while select.select([self.conn.sock], [], [], 0)[0] or \
                    len(self.conn.buf) >= 48:
                p = self.recv_skip_nop()
                raise CaseFailed("unexpected PDU on an idle session: %r" % p)

    def cmd_header(self, cdb, read=0, write=0, itt=None, cmdsn=None,
                   immediate=False):
        edtl = read or write
        flags = F_BIT | (0x40 if read else 0) | (0x20 if write else 0) | 1
        rest = struct.pack(">III", edtl,
                           self.cmdsn if cmdsn is None else cmdsn,
                           self.expstatsn) + cdb.ljust(16, b"\0")
        return bhs(OP_SCSI_CMD, flags, lun=self.lun,
                   itt=self.next_itt() if itt is None else itt, rest=rest,
                   immediate=immediate)

    def scsi(self, cdb, read=0, data_out=b"", timeout=None):
        """Run one command; returns (status, sense, data)."""
        with self.lock:
            h = self.cmd_header(cdb, read=read, write=len(data_out))
            itt = struct.unpack_from(">I", h, 16)[0]
            self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
            self.conn.send(h)
            return self.complete(itt, data_out, timeout)

    def complete(self, itt, data_out=b"", timeout=None):
        data = bytearray()
        while True:
            p = self.recv_skip_nop(timeout)
            if p.itt != itt:
                raise CaseFailed("PDU for an unknown task: %r" % p)
            if p.opcode == OP_DATA_IN:
                off = p.u32(40)
                if off != len(data):
                    raise CaseFailed("Data-In at offset %d, expected %d"
                                     % (off, len(data)))
                data += p.data
                if p.flags & 0x01:
                    return p.bhs[3], None, bytes(data)
            elif p.opcode == OP_R2T:
                self.send_data_out(itt, p.ttt, p.u32(40), p.u32(44), data_out)
            elif p.opcode == OP_SCSI_RSP:
                self.last_sense_info = parse_sense_info(p.data)
                return p.bhs[3], parse_sense(p.data), bytes(data)
            else:
                raise CaseFailed("unexpected PDU during a command: %r" % p)

    def send_data_out(self, itt, ttt, offset, length, data, dsn=0):
        end = offset + length
        while offset < end:
            n = min(self.max_send_dsl, end - offset)
            flags = F_BIT if offset + n == end else 0
            rest = struct.pack(">IIIIII", ttt, 0, self.expstatsn, 0, dsn,
                               offset)
            self.conn.send(bhs(OP_DATA_OUT, flags, lun=self.lun, itt=itt,
                               rest=rest), data[offset:offset + n])
            offset += n
            dsn += 1

    def capacity(self):
        status, sense, data = self.scsi(bytes([0x25]) + bytes(9), read=8)
        if status == 2 and sense and sense[0] == 6:      # unit attention
            status, sense, data = self.scsi(bytes([0x25]) + bytes(9), read=8)
        if status != 0:
            raise CaseFailed("READ CAPACITY(10): status %d sense %s"
                             % (status, sense_str(sense)))
        last, self.block_size = struct.unpack(">II", data)
        if last == 0xFFFFFFFF:
            cdb = bytes([0x9E, 0x10]) + bytes(8) + struct.pack(">I", 32) + \
                bytes(2)
            status, sense, data = self.scsi(cdb, read=32)
            last = struct.unpack_from(">Q", data)[0]
        self.blocks = last + 1

    def read(self, lba, nblocks):
        cdb = struct.pack(">BBQIBB", 0x88, 0, lba, nblocks, 0, 0)
        return self.scsi(cdb, read=nblocks * self.block_size)

    def write(self, lba, data):
        n = len(data) // self.block_size
        cdb = struct.pack(">BBQIBB", 0x8A, 0, lba, n, 0, 0)
        return self.scsi(cdb, data_out=data)

    def text(self, keys):
        with self.lock:
            itt = self.next_itt()
            rest = struct.pack(">III", RESERVED_TAG, self.cmdsn,
                               self.expstatsn)
            self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
            self.conn.send(bhs(OP_TEXT, F_BIT, itt=itt, rest=rest),
                           text_keys(keys))
            p = self.recv_skip_nop()
            if p.opcode != OP_TEXT_RSP:
                raise CaseFailed("expected a Text Response, got %r" % p)
            return p.data

    def logout(self):
        with self.lock:
            itt = self.next_itt()
            rest = struct.pack(">HHII", 0, 0, self.cmdsn, self.expstatsn)
            self.conn.send(bhs(OP_LOGOUT, F_BIT, itt=itt, rest=rest,
                               immediate=True))
            p = self.recv_skip_nop()
            if p.opcode != OP_LOGOUT_RSP or p.bhs[2] != 0:
                raise CaseFailed("bad logout answer %r" % p)
        self.close()


def parse_sense(data):
    """(key, asc, ascq) from a SCSI Response data segment, or None."""
    if len(data) < 2:
        return None
    n = struct.unpack_from(">H", data)[0]
    s = data[2:2 + n]
    if len(s) < 3:
        return None
    if s[0] & 0x7F in (0x72, 0x73):
        return s[1] & 0xF, s[2], s[3]
    if len(s) < 14:
        return s[2] & 0xF, 0, 0
    return s[2] & 0xF, s[12], s[13]


def parse_sense_info(data):
    """The INFORMATION field of the sense data in a SCSI Response's data
    segment, or None when it is absent or not VALID (fixed format: the
    VALID bit and bytes 3-6; descriptor format: descriptor type 0)."""
    if len(data) < 2:
        return None
    n = struct.unpack_from(">H", data)[0]
    s = data[2:2 + n]
    if len(s) >= 7 and s[0] & 0x7F in (0x70, 0x71):
        return struct.unpack_from(">I", s, 3)[0] if s[0] & 0x80 else None
    if len(s) >= 8 and s[0] & 0x7F in (0x72, 0x73):
        at, end = 8, 8 + s[7]
        while at + 2 <= min(end, len(s)):
            if s[at] == 0 and at + 12 <= len(s) and s[at + 2] & 0x80:
                return struct.unpack_from(">Q", s, at + 4)[0]
            at += 2 + s[at + 1]
    return None


def sense_str(sense):
    if not sense:
        return "none"
    return "%s (0x%x) ASC/ASCQ 0x%02x/0x%02x" % (
        SENSE_KEYS.get(sense[0], "?"), sense[0], sense[1], sense[2])

# ----------------------------------------------------------------------
# Checks shared by the cases


def expect_login_status(fn, allowed, what):
    """FN() must fail the login with one of ALLOWED statuses: ints, or
    (CLASS,) tuples for any status of that class except 0x0201 and
    0x0202 (authentication and authorization failures, which would hide
    that the target never looked at what the case is about)."""
    try:
        fn()
    except LoginFailed as e:
        for a in allowed:
            if (isinstance(a, tuple) and e.status >> 8 == a[0] and
                    e.status not in (0x0201, 0x0202)) or e.status == a:
                print("    %s: Login status 0x%04x" % (what, e.status))
                return e.status
        raise CaseFailed("%s: Login status 0x%04x, expected %s" % (
            what, e.status, " or ".join(
                "0x%02xxx" % a[0] if isinstance(a, tuple) else "0x%04x" % a
                for a in allowed)))
    except Closed:
        raise CaseFailed("%s: the connection was closed without a Login "
                         "Response (RFC 7143 §11.13.5 asks for a status)"
                         % what)
    except Timeout:
        raise CaseFailed("%s: no answer" % what)
    raise CaseFailed("%s: accepted (Login status 0)" % what)


def expect_reject(sess, reasons, what, allow_close=True):
    """The next PDU must be a Reject with one of REASONS (or, if
    ALLOW_CLOSE, the connection closed).  Returns the reason or None."""
    try:
        p = sess.recv_skip_nop()
    except Closed:
        if allow_close:
            print("    %s: connection closed" % what)
            return None
        raise CaseFailed("%s: connection closed, expected a Reject" % what)
    except Timeout:
        raise CaseFailed("%s: no answer, expected a Reject%s" % (
            what, " or a closed connection" if allow_close else ""))
    if p.opcode != OP_REJECT:
        raise CaseFailed("%s: expected a Reject, got %r" % (what, p))
    if p.bhs[2] not in reasons:
        raise CaseFailed("%s: Reject reason 0x%02x (%s), expected %s" % (
            what, p.bhs[2], REJECT_REASONS.get(p.bhs[2], "?"),
            " or ".join("0x%02x (%s)" % (r, REJECT_REASONS[r])
                        for r in reasons)))
    print("    %s: Reject, reason 0x%02x (%s)" % (
        what, p.bhs[2], REJECT_REASONS[p.bhs[2]]))
    return p.bhs[2]


def expect_silence(sess, secs, what):
    try:
        p = sess.recv_skip_nop(secs)
    except Timeout:
        print("    %s: no answer (ignored)" % what)
        return
    except Closed:
        raise CaseFailed("%s: the connection was closed; the standard asks "
                         "for the command to be silently ignored" % what)
    raise CaseFailed("%s: expected no answer, got %r" % (what, p))


def expect_check(sess, cdb, key, asc, ascq, what, read=0):
    status, sense, _ = sess.scsi(cdb, read=read)
    if status != 2:
        raise CaseFailed("%s: SCSI status 0x%02x, expected CHECK CONDITION"
                         % (what, status))
    if sense != (key, asc, ascq):
        raise CaseFailed("%s: sense %s, expected %s" % (
            what, sense_str(sense), sense_str((key, asc, ascq))))
    print("    %s: CHECK CONDITION, %s" % (what, sense_str(sense)))


def still_works(sess, what):
    """The same connection still answers a NOP after an error."""
    try:
        sess.nop()
    except (Closed, Timeout) as e:
        raise CaseFailed("%s: the connection no longer works: %s"
                         % (what, e))


def new_session(opts, **kw):
    return Session(opts, **kw).login()


def open_session(portal, target, initiator, timeout=30):
    """A logged-in session on LUN 0 of TARGET at PORTAL ("HOST:PORT"),
    for tests that import this file as a module."""
    host, _, port = portal.rpartition(":")
    opts = argparse.Namespace(addr=(host, int(port)), timeout=timeout,
                              chap=None, lun=0, target=target,
                              initiator=initiator)
    return Session(opts).login()

# ----------------------------------------------------------------------
# The cases.  Each takes (opts) and raises CaseFailed / CaseSkipped.

def case_truncated_pdu(opts):
    """Truncated PDUs: half a BHS, a BHS without its data segment, and
    half a Login PDU, each followed by a close."""
    s = new_session(opts)
    s.conn.send_raw(s.cmd_header(bytes([0]) * 6)[:20])
    expect_silence(s, 1, "half a BHS")
    s.close()
    s = new_session(opts)
    h = bytearray(bhs(OP_NOP_OUT, F_BIT, itt=s.next_itt(), immediate=True,
                      rest=struct.pack(">III", RESERVED_TAG, s.cmdsn,
                                       s.expstatsn)))
    h[5:8] = (1000).to_bytes(3, "big")
    s.conn.send_raw(bytes(h) + b"x" * 10)
    expect_silence(s, 1, "a NOP-Out missing most of its data")
    s.close()
    c = Conn(opts.addr, opts.timeout)
    login = bhs(OP_LOGIN, 0x87, 0, 0, itt=1, immediate=True,
                spec8=bytes([0x80, 0, 1, 2, 3, 4, 0, 0]), dsl=200)
    c.send_raw(login[:30])
    c.close()
    c = Conn(opts.addr, opts.timeout)
    c.send_raw(login + b"InitiatorName=")
    c.close(reset=True)


def case_oversized_data_segment(opts):
    """DataSegmentLength past the target's MaxRecvDataSegmentLength:
    2^24-1 and MaxRecvDSL+1 (with the data): Reject (protocol error) or
    a dropped connection, decided from the header alone."""
    for n, send_data in ((0xFFFFFF, False), (None, True)):
        s = new_session(opts)
        n = n or s.max_send_dsl + 1
        h = bhs(OP_NOP_OUT, F_BIT, itt=s.next_itt(), immediate=True,
                rest=struct.pack(">III", RESERVED_TAG, s.cmdsn, s.expstatsn))
        if send_data:
            s.conn.send(h, b"\xa5" * n)
        else:
            s.conn.send(h, b"", dsl=n)
        expect_reject(s, (0x04, 0x09), "NOP-Out with DataSegmentLength %d "
                      "(MaxRecvDataSegmentLength %d)" % (n, s.max_send_dsl))
        s.close()
    # In the login phase, before MaxRecvDataSegmentLength is negotiated,
    # the limit is 8192 (RFC 7143 §13.12).
    s = Session(opts)
    s.conn.send(bhs(OP_LOGIN, 0x81, 0, 0, itt=1, immediate=True,
                    spec8=s.isid + b"\0\0"), b"", dsl=0xFFFFFF)
    try:
        p = s.conn.recv()
    except Closed:
        return
    if p.opcode != OP_LOGIN_RSP or p.bhs[36] != 2:
        raise CaseFailed("a 16 MiB login data segment: expected Login status "
                         "0x02xx or a close, got %r" % p)


def case_header_digest(opts):
    """With HeaderDigest=CRC32C a PDU with a wrong header digest: at
    ERL 0 the target must drop the connection (RFC 7143 §7.8) or
    discard the PDU; it must not execute it."""
    s = new_session(opts, digests=True)
    lba = opts.scratch
    before = s.read(lba, 1)[2]
    itt = s.next_itt()
    cdb = struct.pack(">BBQIBB", 0x8A, 0, lba, 1, 0, 0)
    h = s.cmd_header(cdb, write=s.block_size, itt=itt)
    s.conn.send(h, bad_hdigest=True)
    try:
        p = s.recv_skip_nop(2)
        raise CaseFailed("a PDU with a wrong header digest was answered: %r"
                         % p)
    except (Closed, Timeout) as e:
        print("    WRITE with a bad header digest: %s" % (
            "connection closed" if isinstance(e, Closed) else
            "no answer (discarded)"))
    s.close()
    s = new_session(opts, digests=True)
    if s.read(lba, 1)[2] != before:
        raise CaseFailed("the block changed after a command with a bad "
                         "header digest")
    s.logout()


def case_data_digest(opts):
    """With DataDigest=CRC32C a NOP-Out whose data has a wrong digest:
    Reject with reason 0x02 (data digest error) and the PDU is
    discarded (RFC 7143 §7.8)."""
    s = new_session(opts, digests=True)
    status, _, _ = s.write(opts.scratch, os.urandom(s.block_size))
    if status != 0:
        raise CaseFailed("a write with good digests failed: %d" % status)
    itt = s.next_itt()
    h = bhs(OP_NOP_OUT, F_BIT, itt=itt, immediate=True,
            rest=struct.pack(">III", RESERVED_TAG, s.cmdsn, s.expstatsn))
    s.conn.send(h, b"ping" * 64, bad_ddigest=True)
    expect_reject(s, (0x02,), "NOP-Out with a bad data digest",
                  allow_close=False)
    s.close()


def case_cmdsn_window(opts):
    """Non-immediate commands with CmdSN outside [ExpCmdSN, MaxCmdSN]
    (far ahead, and one already used) are silently ignored (RFC 7143
    §4.2.2.1); the session goes on."""
    s = new_session(opts)
    tur = bytes(6)
    for label, cmdsn in (("CmdSN far ahead", (s.cmdsn + 0x40000000)),
                         ("CmdSN already used", (s.cmdsn - 1))):
        cmdsn &= 0xFFFFFFFF
        s.conn.send(s.cmd_header(tur, cmdsn=cmdsn))
        expect_silence(s, 1.5, label)
    status, sense, _ = s.scsi(tur)
    if status not in (0, 2):
        raise CaseFailed("TEST UNIT READY in the window: status %d" % status)
    s.logout()


def case_login_malformed_keys(opts):
    """Malformed login text: no '=', an empty key, a key with bad
    characters, a value over 255 bytes, not NUL-terminated: Login
    status 0x02xx."""
    bad = [b"InitiatorNameWithoutEquals", b"=value", b"Key With Spaces=1",
           ("InitiatorName=" + "x" * 300).encode()]
    for item in bad:
        s = Session(opts)
        keys = text_keys(s.first_keys()) + item + b"\0"
        expect_login_status(lambda: s.login_step(0, 1, True, keys),
                            [(2,)], "login text %r" % item[:40])
        s.close()
    s = Session(opts)
    keys = text_keys(s.first_keys())[:-1]     # no final NUL
    expect_login_status(lambda: s.login_step(0, 1, True, keys), [(2,)],
                        "login text without its final NUL")
    s.close()


def case_login_duplicate_keys(opts):
    """A key offered twice in one login: Login reject (RFC 7143 §6.2)."""
    s = Session(opts)
    keys = s.first_keys()
    keys.insert(1, ("InitiatorName", s.initiator))
    expect_login_status(lambda: s.login_step(0, 1, True, keys), [(2,)],
                        "InitiatorName twice")
    s.close()
    s = Session(opts)
    s.security()
    keys = [("MaxRecvDataSegmentLength", "8192"),
            ("MaxRecvDataSegmentLength", "4096")]
    expect_login_status(lambda: s.login_step(1, 3, True, keys), [(2,)],
                        "MaxRecvDataSegmentLength twice")
    s.close()


def case_login_text_too_long(opts):
    """Login text beyond 8 KiB: one 9000-byte PDU (past the login
    MaxRecvDataSegmentLength of 8192), and 1 MiB of text continued over
    8 KiB PDUs (C bit): refused (Login status 0x02xx, or a close for the
    single oversized PDU), never accumulated."""
    s = Session(opts)
    keys = text_keys(s.first_keys()) + text_keys(
        [("X-segmap-pad", "y" * 200)] * 44)
    assert len(keys) > 8192
    try:
        expect_login_status(lambda: s.login_step(0, 1, True, keys), [(2,)],
                            "a %d-byte login PDU" % len(keys))
    except CaseFailed as e:
        if "closed" not in str(e):
            raise
    s.close()
    s = Session(opts)
    text = text_keys(s.first_keys()) + text_keys(
        [("X-segmap-pad%d" % i, "y" * 200) for i in range(5000)])
    off = 0
    while off < len(text):
        chunk = text[off:off + 8192]
        off += len(chunk)
        last = off >= len(text)
        try:
            p = s.login_pdu(0, 1, last, chunk, cont=not last)
        except Closed:
            return
        if p.opcode != OP_LOGIN_RSP:
            raise CaseFailed("continued login text: got %r" % p)
        r = LoginResponse(p)
        if r.status >> 8 == 2 and r.status not in (0x0201, 0x0202):
            print("    refused after %d bytes: status 0x%04x" % (off, r.status))
            return
        if r.status != 0:
            raise CaseFailed("continued login text: status 0x%04x" % r.status)
    raise CaseFailed("1 MiB of continued login text was accepted")


def case_login_wrong_stage(opts):
    """Keys in the wrong stage: an operational key in the first login
    PDU is fine, but a security key (AuthMethod, CHAP_A) in the
    operational stage fails the login (RFC 7143 §6.3)."""
    for key in (("AuthMethod", "None"), ("CHAP_A", "5")):
        s = Session(opts)
        s.security()
        expect_login_status(lambda: s.login_step(1, 3, True, [key]), [(2,)],
                            "%s in the operational stage" % key[0])
        s.close()
    # Starting in the full feature phase is impossible: CSG=3.
    s = Session(opts)
    expect_login_status(
        lambda: s.login_step(3, 3, True, s.first_keys()), [(2,)],
        "a login PDU with CSG=3")
    s.close()


def case_login_t_and_c(opts):
    """T and C both set in a Login Request: protocol error, Login
    status 0x02xx (RFC 7143 §11.12.2)."""
    s = Session(opts)
    expect_login_status(
        lambda: s.login_step(0, 1, True, s.first_keys(), cont=True),
        [(2,)], "T and C both set")
    s.close()


def case_login_version(opts):
    """Version-min > Version-max, and a range without version 0: Login
    status 0x0205 (unsupported version) or 0x0200/0x0207."""
    for vmax, vmin in ((0, 5), (3, 1)):
        s = Session(opts)
        expect_login_status(
            lambda: s.login_step(0, 1, True, s.first_keys(),
                                 vmax=vmax, vmin=vmin),
            [0x0205, 0x0200, 0x0207],
            "Version-max %d Version-min %d" % (vmax, vmin))
        s.close()


def case_login_unknown_target(opts):
    """A login to a target name that does not exist: 0x0203 (not
    found)."""
    s = Session(opts, target=opts.target + "-no-such-target")
    expect_login_status(s.login, [0x0203], "unknown TargetName")
    s.close()


def case_unknown_opcodes(opts):
    """Reserved and vendor-specific initiator opcodes (0x1c, 0x1e,
    0x0d) and a target opcode sent by the initiator (0x21): Reject with
    'command not supported' or 'protocol error' (or a dropped
    connection)."""
    for op in (0x1C, 0x1E, 0x0D, 0x21):
        s = new_session(opts)
        h = bhs(op, F_BIT, itt=s.next_itt(), immediate=True,
                rest=struct.pack(">III", RESERVED_TAG, s.cmdsn, s.expstatsn))
        s.conn.send(h)
        r = expect_reject(s, (0x04, 0x05), "opcode 0x%02x" % op)
        if r is not None:
            try:
                s.nop()
            except Closed:
                pass
        s.close()


def case_reserved_itt(opts):
    """A SCSI command with the reserved ITT 0xffffffff: Reject
    (protocol error / invalid PDU field) or a dropped connection --
    never executed."""
    s = new_session(opts)
    s.conn.send(s.cmd_header(bytes(6), itt=RESERVED_TAG))
    s.cmdsn = (s.cmdsn + 1) & 0xFFFFFFFF
    expect_reject(s, (0x04, 0x09), "ITT 0xffffffff")
    s.close()


def case_read_past_end(opts):
    """READ(10)/READ(16) at and across the last LBA, and an LBA that
    wraps around 2^64: CHECK CONDITION, ILLEGAL REQUEST, LOGICAL BLOCK
    ADDRESS OUT OF RANGE (0x21/0x00)."""
    s = new_session(opts)
    n = s.blocks
    bs = s.block_size
    cases = [
        ("READ(16) at the capacity",
         struct.pack(">BBQIBB", 0x88, 0, n, 1, 0, 0), bs),
        ("READ(16) across the end",
         struct.pack(">BBQIBB", 0x88, 0, n - 1, 2, 0, 0), 2 * bs),
        ("READ(16) wrapping at 2^64",
         struct.pack(">BBQIBB", 0x88, 0, (1 << 64) - 1, 2, 0, 0), 2 * bs),
    ]
    if n <= 0xFFFFFFFF:
        cases.append(("READ(10) at the capacity",
                      struct.pack(">BBIBHB", 0x28, 0, n, 0, 1, 0), bs))
    for what, cdb, length in cases:
        expect_check(s, cdb, 5, 0x21, 0x00, what, read=length)
    status, _, data = s.read(n - 1, 1)
    if status != 0 or len(data) != bs:
        raise CaseFailed("READ of the last block: status %d, %d bytes"
                         % (status, len(data)))
    s.logout()


def case_dataout_unknown_ttt(opts):
    """Data-Out for no task and with a TTT never issued, and Data-Out
    with a wrong TTT for a write that has an R2T: Reject / a dropped
    connection, or silently discarded -- but then the connection must
    still work and the write must not take the stray data."""
    s = new_session(opts)
    rest = struct.pack(">IIIIII", 0x12345678, 0, s.expstatsn, 0, 0, 0)
    s.conn.send(bhs(OP_DATA_OUT, F_BIT, lun=s.lun, itt=0x7abcdef0,
                    rest=rest), b"\x5a" * 512)
    try:
        p = s.recv_skip_nop(1.5)
        if p.opcode != OP_REJECT or p.bhs[2] not in (0x04, 0x09):
            raise CaseFailed("Data-Out for no task: got %r" % p)
        print("    Data-Out for no task: Reject, reason 0x%02x" % p.bhs[2])
    except Timeout:
        print("    Data-Out for no task: no answer (discarded)")
    except Closed:
        print("    Data-Out for no task: connection closed")
        return
    still_works(s, "after a stray Data-Out")
    # A write waiting for data, and Data-Out with a TTT it was not given.
    bs = s.block_size
    good = os.urandom(bs)
    with s.lock:
        cdb = struct.pack(">BBQIBB", 0x8A, 0, opts.scratch, 1, 0, 0)
        h = s.cmd_header(cdb, write=bs)
        itt = struct.unpack_from(">I", h, 16)[0]
        s.cmdsn = (s.cmdsn + 1) & 0xFFFFFFFF
        s.conn.send(h)
        p = s.recv_skip_nop()
        if p.opcode != OP_R2T:
            raise CaseFailed("expected an R2T, got %r" % p)
        s.send_data_out(itt, p.ttt ^ 0x5555, 0, bs, b"\xee" * bs)
        try:
            p2 = s.recv_skip_nop(1.5)
            if p2.opcode not in (OP_REJECT, OP_SCSI_RSP):
                raise CaseFailed("Data-Out with a wrong TTT: got %r" % p2)
            if p2.opcode == OP_REJECT and p2.bhs[2] not in (0x04, 0x09):
                raise CaseFailed("Data-Out with a wrong TTT: Reject reason "
                                 "0x%02x" % p2.bhs[2])
            if p2.opcode == OP_SCSI_RSP and p2.bhs[3] == 0:
                raise CaseFailed("a write completed with data sent under "
                                 "a wrong TTT")
            print("    Data-Out with a wrong TTT: %r" % p2)
            return
        except Timeout:
            print("    Data-Out with a wrong TTT: no answer (discarded)")
        except Closed:
            print("    Data-Out with a wrong TTT: connection closed")
            return
        s.send_data_out(itt, p.ttt, 0, bs, good)
        status, sense, _ = s.complete(itt)
    if status != 0:
        raise CaseFailed("the write after a wrong-TTT Data-Out: status %d "
                         "sense %s" % (status, sense_str(sense)))
    if s.read(opts.scratch, 1)[2] != good:
        raise CaseFailed("the block holds the wrong-TTT data")
    s.logout()


def case_vanish_mid_command(opts):
    """Clients that vanish mid-command: after the R2T of a write
    without sending its data, halfway through the data, and between a
    command's header and its completion (FIN and RST)."""
    for reset in (False, True):
        s = new_session(opts)
        bs = s.block_size
        n = 64
        cdb = struct.pack(">BBQIBB", 0x8A, 0, opts.scratch, n, 0, 0)
        h = s.cmd_header(cdb, write=n * bs)
        itt = struct.unpack_from(">I", h, 16)[0]
        s.conn.send(h)
        p = s.recv_skip_nop()
        if p.opcode != OP_R2T:
            raise CaseFailed("expected an R2T, got %r" % p)
        s.close(reset)
        s = new_session(opts)
        s.conn.send(h)
        p = s.recv_skip_nop()
        if p.opcode != OP_R2T:
            raise CaseFailed("expected an R2T, got %r" % p)
        s.send_data_out(itt, p.ttt, 0, min(p.u32(44), s.max_send_dsl),
                        os.urandom(n * bs))
        s.close(reset)
        s = new_session(opts)
        s.conn.send(s.cmd_header(bytes([0x35]) + bytes(9)))  # SYNC CACHE
        s.close(reset)


def case_vanish_mid_reply(opts):
    """Clients that issue big READs (8 MiB each, four at once) on a
    small receive window and close without reading the Data-In."""
    for reset in (False, True):
        s = new_session(opts, rcvbuf=4096)
        nblocks = min((8 << 20) // s.block_size, s.blocks)
        for _ in range(4):
            cdb = struct.pack(">BBQIBB", 0x88, 0, 0, nblocks, 0, 0)
            s.conn.send(s.cmd_header(cdb, read=nblocks * s.block_size))
            s.cmdsn = (s.cmdsn + 1) & 0xFFFFFFFF
        time.sleep(0.5)
        s.close(reset)


def case_many_connections(opts):
    """1000 simultaneous connections, each sending a first Login PDU:
    every one gets a Login Response (any status) or is closed, and the
    witness keeps working while they are all open."""
    want = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(hard, want + 256), hard))
    conns = []
    try:
        for i in range(want):
            s = Session(opts)
            conns.append(s)
            h = bhs(OP_LOGIN, 0x81, 0, 0, itt=i, immediate=True,
                    spec8=s.isid + b"\0\0",
                    rest=struct.pack(">HHII", 0, 0, 1, 0))
            s.conn.send(h, text_keys(s.first_keys(
                "CHAP,None" if opts.chap else "None")))
        pending = {s.conn.sock: s for s in conns}
        answered = closed = 0
        deadline = time.monotonic() + max(30, opts.timeout)
        while pending and time.monotonic() < deadline:
            ready = select.select(list(pending), [], [], 1)[0]
            for sock in ready:
                s = pending.pop(sock)
                try:
                    p = s.conn.recv()
                    if p.opcode != OP_LOGIN_RSP:
                        raise CaseFailed("first login PDU answered with %r"
                                         % p)
                    answered += 1
                except Closed:
                    closed += 1
        if pending:
            raise CaseFailed("%d of %d connections got no answer within "
                             "%d s" % (len(pending), want,
                                       max(30, opts.timeout)))
        print("    %d answered, %d closed by the target" % (answered, closed))
        opts.witness_check("with %d connections open" % want)
    finally:
        for s in conns:
            s.close()


def case_chap_wrong_secret(opts):
    """CHAP with a wrong secret, and with a wrong user name: Login
    status 0x0201 (authentication failure)."""
    if not opts.chap:
        raise CaseSkipped("needs --chap")
    s = Session(opts)
    expect_login_status(lambda: s.login(
        lambda cid, ch: s.chap_response(cid, ch, b"wrong secret 123")),
        [0x0201], "CHAP with a wrong secret")
    s.close()
    s = Session(opts)
    expect_login_status(lambda: s.login(
        lambda cid, ch: [("CHAP_N", "nobody-" + s.chap[0])] +
        s.chap_response(cid, ch)[1:]), [0x0201], "CHAP with a wrong name")
    s.close()
    s = Session(opts, chap=False)
    expect_login_status(s.login, [0x0201, (2,)],
                        "AuthMethod=None when CHAP is required")
    s.close()


def case_chap_reflected(opts):
    """Mutual CHAP with the target's own challenge sent back (a
    reflection attack): refused, Login status 0x0201."""
    if not opts.chap:
        raise CaseSkipped("needs --chap")
    s = Session(opts)
    expect_login_status(lambda: s.login(
        lambda cid, ch: s.chap_response(cid, ch) +
        [("CHAP_I", str(cid)), ("CHAP_C", "0x" + ch.hex())]),
        [0x0201], "reflected CHAP challenge")
    s.close()


def case_chap_oversize(opts):
    """Oversized and malformed CHAP values: CHAP_C of 1025 and 4000
    bytes, CHAP_R of 1025 bytes, CHAP_I of 256, -1 and 'x': Login status
    0x0201 (authentication failure) or another 0x02xx."""
    if not opts.chap:
        raise CaseSkipped("needs --chap")
    variants = [
        ("CHAP_C of 1025 bytes", lambda cid, ch, s: s.chap_response(cid, ch)
         + [("CHAP_I", "7"), ("CHAP_C", "0x" + "ab" * 1025)]),
        ("CHAP_C of 4000 bytes", lambda cid, ch, s: s.chap_response(cid, ch)
         + [("CHAP_I", "7"), ("CHAP_C", "0x" + "cd" * 4000)]),
        ("CHAP_R of 1025 bytes", lambda cid, ch, s:
         [("CHAP_N", s.chap[0]), ("CHAP_R", "0x" + "ef" * 1025)]),
        ("CHAP_I=256", lambda cid, ch, s: s.chap_response(cid, ch)
         + [("CHAP_I", "256"), ("CHAP_C", "0x" + "01" * 16)]),
        ("CHAP_I=-1", lambda cid, ch, s: s.chap_response(cid, ch)
         + [("CHAP_I", "-1"), ("CHAP_C", "0x" + "01" * 16)]),
        ("CHAP_I=x", lambda cid, ch, s: s.chap_response(cid, ch)
         + [("CHAP_I", "x"), ("CHAP_C", "0x" + "01" * 16)]),
    ]
    for what, fn in variants:
        s = Session(opts)
        expect_login_status(lambda: s.login(
            lambda cid, ch: fn(cid, ch, s)), [0x0201, (2,)], what)
        s.close()


def discovered_targets(opts, initiator):
    """SendTargets=All for INITIATOR: the TargetName values, or None if
    the discovery login itself was refused."""
    s = Session(opts, initiator=initiator, discovery=True)
    try:
        s.login()
    except LoginFailed:
        s.close()
        return None
    except Closed:
        return None
    keys = s.text([("SendTargets", "All")])
    s.logout()
    names = [item[len(b"TargetName="):].decode()
             for item in keys.split(b"\0") if item.startswith(b"TargetName=")]
    return names


def case_access_list(opts):
    """An initiator not on the access list cannot discover the target,
    log in to it, or read and write without logging in; the allowed
    initiator discovers it."""
    if not opts.denied_initiator:
        raise CaseSkipped("needs --denied-initiator")
    names = discovered_targets(opts, opts.initiator)
    if names is None or opts.target not in names:
        raise CaseFailed("the allowed initiator does not discover %s (%s)"
                         % (opts.target, names))
    names = discovered_targets(opts, opts.denied_initiator)
    if names and opts.target in names:
        raise CaseFailed("the denied initiator discovers %s" % opts.target)
    s = Session(opts, initiator=opts.denied_initiator)
    expect_login_status(s.login, [0x0202, 0x0203],
                        "login by an initiator not on the access list")
    s.close()
    # Commands without a login: no data may come back.
    for what, cdb, read, data in (
            ("READ", struct.pack(">BBQIBB", 0x88, 0, 0, 1, 0, 0), 512, b""),
            ("WRITE", struct.pack(">BBQIBB", 0x8A, 0, 0, 1, 0, 0), 0,
             b"\x66" * 512)):
        c = Conn(opts.addr, opts.timeout)
        flags = F_BIT | (0x40 if read else 0x20) | 1
        rest = struct.pack(">III", read or len(data), 1, 0) + cdb
        c.send(bhs(OP_SCSI_CMD, flags, lun=opts.lun, itt=5, rest=rest), data)
        try:
            for p in c.expect_closed(what=what + " before login"):
                if p.opcode in (OP_DATA_IN, OP_SCSI_RSP, OP_R2T):
                    raise CaseFailed("%s before login was answered with %r"
                                     % (what, p))
        finally:
            c.close()


CASES = [
    ("truncated-pdu", case_truncated_pdu),
    ("oversized-data-segment", case_oversized_data_segment),
    ("header-digest", case_header_digest),
    ("data-digest", case_data_digest),
    ("cmdsn-window", case_cmdsn_window),
    ("login-malformed-keys", case_login_malformed_keys),
    ("login-duplicate-keys", case_login_duplicate_keys),
    ("login-text-too-long", case_login_text_too_long),
    ("login-wrong-stage", case_login_wrong_stage),
    ("login-t-and-c", case_login_t_and_c),
    ("login-version", case_login_version),
    ("login-unknown-target", case_login_unknown_target),
    ("unknown-opcodes", case_unknown_opcodes),
    ("reserved-itt", case_reserved_itt),
    ("read-past-end", case_read_past_end),
    ("dataout-unknown-ttt", case_dataout_unknown_ttt),
    ("vanish-mid-command", case_vanish_mid_command),
    ("vanish-mid-reply", case_vanish_mid_reply),
    ("many-connections", case_many_connections),
    ("chap-wrong-secret", case_chap_wrong_secret),
    ("chap-reflected", case_chap_reflected),
    ("chap-oversize", case_chap_oversize),
    ("access-list", case_access_list),
]

# ----------------------------------------------------------------------
# The witness and the driver


class Witness:
    """The well-behaved session opened before the abuse."""

    def __init__(self, opts):
        self.sess = new_session(opts)
        bs = self.sess.block_size
        # Its own 1 MiB at the end of the LUN; the cases use the 1 MiB
        # before it (opts.scratch).
        self.region = self.sess.blocks - (1 << 20) // bs
        opts.scratch = self.region - (1 << 20) // bs
        self.round = 0
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.keepalive, daemon=True)
        self.thread.start()

    def keepalive(self):
        while not self.stop.wait(1):
            try:
                self.sess.service()
            except Exception as e:      # reported at the next check
                self.error = e
                return

    def check(self, what):
        if self.error:
            raise CaseFailed("witness session broke %s: %s" % (what,
                                                                self.error))
        s = self.sess
        self.round += 1
        lba = self.region + (self.round * 8) % ((1 << 20) // s.block_size - 8)
        data = os.urandom(8 * s.block_size)
        try:
            s.nop()
            status, sense, _ = s.write(lba, data)
            if status != 0:
                raise CaseFailed("witness write %s: status %d sense %s"
                                 % (what, status, sense_str(sense)))
            status, sense, got = s.read(lba, 8)
            if status != 0 or got != data:
                raise CaseFailed("witness read-back %s: status %d, %s" % (
                    what, status, "same data" if got == data
                    else "different data"))
        except (Closed, Timeout) as e:
            raise CaseFailed("witness session %s: %s" % (what, e))

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sess.logout()


def alive(opts, what):
    if not opts.alive_cmd:
        return
    r = subprocess.run(opts.alive_cmd, shell=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise CaseFailed("%s: `%s' failed (status %d): %s" % (
            what, opts.alive_cmd, r.returncode,
            r.stdout.decode(errors="replace").strip()))


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Raw iSCSI abuse cases against a target.")
    p.add_argument("--list", action="store_true", help="list the cases")
    p.add_argument("-p", "--portal", help="HOST:PORT")
    p.add_argument("-t", "--target", help="target IQN")
    p.add_argument("-i", "--initiator",
                   default="iqn.2026-11.org.segmap.test:raw",
                   help="initiator IQN allowed on the target")
    p.add_argument("--lun", type=int, default=0)
    p.add_argument("--chap", help="USER:SECRETFILE")
    p.add_argument("--denied-initiator", help="an IQN not on the access list")
    p.add_argument("--alive-cmd", help="shell command that must succeed "
                   "after every case")
    p.add_argument("--timeout", type=float, default=10,
                   help="seconds to wait for an answer (default 10)")
    p.add_argument("--require-all", action="store_true",
                   help="a skipped case is a failure")
    p.add_argument("--case", action="append", default=[],
                   help="run this case (repeatable; default all)")
    opts = p.parse_args(argv)
    if opts.list:
        return opts
    if not opts.portal or not opts.target:
        p.error("--portal and --target are required")
    host, _, port = opts.portal.rpartition(":")
    opts.addr = (host, int(port))
    if opts.chap:
        user, _, path = opts.chap.partition(":")
        with open(path, "rb") as f:
            opts.chap = (user, f.readline().rstrip(b"\r\n"))
    names = [n for n, _ in CASES]
    for c in opts.case:
        if c not in names:
            p.error("unknown case %s (see --list)" % c)
    return opts


def selftest():
    assert crc32c(b"123456789") == 0xE3069283
    assert digest(bytes(32)) == bytes.fromhex("aa36918a")     # RFC 3720 B.4
    assert digest(b"\xff" * 32) == bytes.fromhex("43aba862")


def main(argv):
    selftest()
    opts = parse_args(argv)
    if opts.list:
        for name, fn in CASES:
            print("%-24s %s" % (name, " ".join(fn.__doc__.split())))
        return 0
    try:
        witness = Witness(opts)
    except (LoginFailed, CaseFailed, Closed, Timeout, OSError) as e:
        print("iscsi-raw: the witness session cannot log in: %s" % e)
        return 2
    opts.witness_check = witness.check
    witness.check("before any case")
    failed, skipped, passed = [], [], []
    for name, fn in CASES:
        if opts.case and name not in opts.case:
            continue
        t0 = time.monotonic()
        try:
            fn(opts)
            witness.check("after case %s" % name)
            alive(opts, "after case %s" % name)
            passed.append(name)
            print("PASS %s (%.1f s)" % (name, time.monotonic() - t0))
        except CaseSkipped as e:
            skipped.append(name)
            print("SKIP %s: %s" % (name, e))
        except (CaseFailed, LoginFailed, Closed, Timeout, AssertionError,
                OSError) as e:
            failed.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            try:
                witness.check("after the failed case %s" % name)
                alive(opts, "after the failed case %s" % name)
            except CaseFailed as e2:
                print("FAIL %s: %s" % (name, e2))
                print("iscsi-raw: the witness is gone; stopping")
                break
        sys.stdout.flush()
    else:
        witness.close()
    print("iscsi-raw: %d passed, %d failed, %d skipped%s" % (
        len(passed), len(failed), len(skipped),
        (": " + " ".join(failed)) if failed else ""))
    if failed or (skipped and opts.require_all):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
