/* segmap: agent <-> controller messages (DESIGN §4, seed 002).
 *
 * The agent talks to the controller only through these messages, in
 * process and (later) over TCP alike, so every message is encoded into
 * a self-contained binary frame even in process.  A frame is
 *
 *   magic "SGMP" (4) | version (1) | type (1) | reserved, 0 (2) |
 *   body length (4) | body
 *
 * all integers big-endian.  The body carries the fields that the type's
 * row in the codec's layout table names, in a fixed order (see msg.c).
 * Decoding is pure and total: any byte string either decodes into a
 * well-formed struct msg or is rejected with -1 (never a crash, never an
 * allocation larger than the frame justifies).
 *
 * Requests carry an id chosen by the sender; every answer echoes it.
 *
 *   agent -> controller         answer (controller -> agent)
 *   REGISTER name,version       REPLY status,agent id (arg),
 *                                 controller's version (arg2)
 *   HEARTBEAT                   REPLY status
 *   MAP_FAULT vdisk,first,      RETRY entries,zero_after | FAIL status |
 *     count,op,blocks             DO_WRITE orig,alt,blocks |
 *                                 DO_SPLIT_READ orig,alt,blocks |
 *                                 DELEGATE vdisk,seg,orig,alt,blocks |
 *                                 COMPLETE_TO_HOST
 *   IO_DONE vdisk,seg,status,   COMPLETE_TO_HOST | FAIL status
 *     order id,blocks
 *   FLUSH vdisk                 REPLY status
 *   ALLOCATED vdisk,seg,alt     (none: recorded in queue order)
 *   REPORT op,container,status  (none: an event, e.g. a failed sync)
 *   MARK vdisk,seg,blocks       (none: recorded in queue order, like
 *                                 ALLOCATED; version 5)
 *   MOVED vdisk,seg,blocks      (none: blocks of a delegated movement
 *                                 written at alt; version 6)
 *   GET_DIFF vdisk (to),        DIFF status,size,extents (the ranges
 *     arg (from)                  changed between the two, version 4)
 *
 *   controller -> agent         answer (agent -> controller)
 *   NEW_TABLE vdisk,size,       REPLY status
 *     seg_shift,name,read_only
 *   DELETE_TABLE vdisk          REPLY status
 *   GET_ENTRY vdisk,first,count REPLY status,entries
 *   GET_STATUS vdisk,first,count REPLY status,entries (flags only)
 *   SET_ENTRY vdisk,first,      REPLY status   (entries: 1 = same entry
 *     entries,blocking                           for the whole range)
 *   SET_STATUS vdisk,first,     REPLY status
 *     count,bits,on|off,blocking
 *   QUIESCE vdisks,timeout      REPLY status
 *   ACTIVATE vdisks             REPLY status
 *   GRANT vdisk,entries         REPLY status
 *   RECALL vdisk                REPLY status,entries (grants given back)
 *   CONTAINER_ATTACH container, REPLY status   (the agent opens its own
 *     size,name,path                            handle)
 *   CONTAINER_DETACH container  REPLY status   (blocking: after no I/O
 *                                                uses the handle)
 *   SET_DEGRADED on|off         REPLY status
 *   GET_STATS                   REPLY status,counters (enum msg_stat)
 *   REVOKE vdisk,first,count    REPLY status   (delegated movements
 *                                                given back, version 6)
 *
 * Version 3: agents REGISTER and get an id; every command carries an id
 * unique in the controller and its REPLY echoes it (a REPLY with
 * another id or type is a protocol error: the command's outcome is
 * unknown); containers, degraded mode and statistics travel as
 * messages.  A REGISTER frame is decoded whatever version its header
 * says (its body is the same in every version), so that a peer of
 * another version is refused with both versions named rather than
 * with an undecodable frame.
 *
 * Grants (version 2): the controller reserves zeroed segments for a
 * vdisk and GRANTs them to the agent; a write to a segment the agent
 * holds as ZERO takes one at once and tells the controller with
 * ALLOCATED, which the controller records in queue order (so a FLUSH
 * sent after it covers it).  RETRY's zero_after (msg.arg) says that the
 * ZERO_AFTER segments following its range are zero too (a hint the
 * agent may keep where it holds nothing).  RECALL takes a vdisk's
 * unused grants back (its REPLY lists them) when a container is full.
 *
 * Version 3: NEW_TABLE carries flags; MSG_F_READ_ONLY says the vdisk
 * refuses writes (sent at start-up and again whenever it changes: a
 * NEW_TABLE for a table the agent has sets the flag as it is).
 *
 * Redirected I/O (version 3; DESIGN §5, seed 001 FIG. 6).  While a
 * segment's data moves (snapshot copy, migration) the controller holds
 * an alternate location and a bitmap of the segment's 4 KiB blocks
 * (SM_BLOCK_SIZE) that are already there.  Every `blocks' field is
 * such a bitmap: bit I (bit I % 8 of byte I / 8, least significant
 * first) is block I of the segment, counted from the segment's start;
 * bytes past the end of a bitmap read as clear bits, and no bitmap is
 * longer than the segment has blocks (so at most MSG_MAX_BITMAP bytes,
 * a 64 MiB segment).  A fault on such a segment is answered by
 *
 *   write:  MAP_FAULT(write, blocks = the blocks the I/O touches)
 *           -> DO_WRITE(orig = entries[0], alt, blocks = at alt now)
 *           agent: writes the I/O's bytes to alt, whole 4 KiB blocks
 *           only; a block the I/O covers in part is first read from
 *           alt if its bit is set, else from orig (zeros if orig is
 *           ZERO), then merged
 *           -> IO_DONE(arg = the DO_WRITE's id, status, blocks =
 *           the blocks written to alt)
 *           controller: marks the blocks at alt (only now: the data is
 *           there) -> COMPLETE_TO_HOST (or FAIL); only then the host
 *           is told
 *   read:   MAP_FAULT(read, blocks) -> DO_SPLIT_READ(orig, alt, blocks
 *           = at alt) -> agent reads each block from alt if its bit is
 *           set, else from orig -> IO_DONE(arg = its id, status, no
 *           blocks) -> COMPLETE_TO_HOST (or FAIL)
 *
 * The agent issues no container I/O for the faulting piece before the
 * answer, and none after IO_DONE; IO_DONE tells the controller that the
 * agent no longer uses orig or alt for that order, so a movement can end
 * (and a location be freed) only when every order it gave is done.
 *
 * Changed-block tracking (version 4).  An entry may be TRACK
 * (proto/entry.h): a write to it faults unless every block it touches
 * is one the agent knows to be marked.  The controller answers such a
 * fault, and a write fault on a tracked vdisk's ZERO entry, with a
 * RETRY flagged MSG_F_MARKED once the fault's blocks are marked and
 * the mark is committed; the agent then adds those blocks to its cache
 * of marks (agent/marks.h), which it forgets whenever a SET_ENTRY or
 * SET_STATUS touches the segment.
 *
 * Delegated movements (version 6).  A write fault on a moving segment
 * may be answered with DELEGATE(vdisk, seg, orig, alt, blocks = at
 * alt) instead of
 * DO_WRITE: the agent then holds the movement and does every later
 * read and write of that segment itself, as DO_SPLIT_READ and DO_WRITE
 * would, without asking, and reports the blocks it wrote to alt with
 * MOVED (queued before the host's acknowledgement of the last write it
 * covers is... at the latest before the FLUSH that follows it, and
 * before the reply to any command that ends the delegation).  A
 * delegation ends at REVOKE, and at any SET_ENTRY, SET_STATUS, QUIESCE
 * or DELETE_TABLE that touches the segment: the agent waits for its
 * I/O on the segment, sends MOVED for the blocks not yet reported, then
 * answers.  So when such a command's REPLY arrives, the MOVED frames of
 * that segment are already queued at the controller, ahead of anything
 * the agent sends later.
 */
#ifndef SEGMAP_MSG_H
#define SEGMAP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "proto/entry.h"

#define MSG_MAGIC 0x53474d50u   /* "SGMP" */
#define MSG_VERSION 7
#define MSG_HEADER_SIZE 12
#define MSG_MAX_BODY (16u << 20)     /* a frame body is at most 16 MiB */
#define MSG_MAX_ENTRIES (1u << 20)   /* entries in one message */
#define MSG_MAX_BITMAP (1u << 11)    /* bitmap bytes: 64 MiB / 4 KiB / 8 */
#define MSG_MAX_NAME 255
#define MSG_MAX_PATH 4096            /* CONTAINER_ATTACH path */
#define MSG_MAX_COUNTERS 64          /* REPLY to GET_STATS */
#define MSG_MAX_VDISKS 4096          /* quiesce/activate list */
#define MSG_MAX_EXTENTS (1u << 20)   /* DIFF: words (offset, length pairs) */

enum msg_type {
  MSG_REGISTER = 1,
  MSG_HEARTBEAT = 2,
  MSG_MAP_FAULT = 3,
  MSG_FLUSH = 4,
  MSG_RETRY = 5,
  MSG_FAIL = 6,
  MSG_DO_WRITE = 7,
  MSG_DO_SPLIT_READ = 8,
  MSG_COMPLETE_TO_HOST = 9,
  MSG_NEW_TABLE = 10,
  MSG_DELETE_TABLE = 11,
  MSG_GET_ENTRY = 12,
  MSG_GET_STATUS = 13,
  MSG_SET_ENTRY = 14,
  MSG_SET_STATUS = 15,
  MSG_QUIESCE = 16,
  MSG_ACTIVATE = 17,
  MSG_REPLY = 18,
  MSG_GRANT = 19,
  MSG_ALLOCATED = 20,
  MSG_RECALL = 21,
  MSG_IO_DONE = 22,
  MSG_CONTAINER_ATTACH = 23,
  MSG_CONTAINER_DETACH = 24,
  MSG_SET_DEGRADED = 25,
  MSG_REPORT = 26,
  MSG_GET_STATS = 27,
  MSG_GET_DIFF = 28,
  MSG_DIFF = 29,
  MSG_MARK = 30,
  MSG_DELEGATE = 31,
  MSG_MOVED = 32,
  MSG_REVOKE = 33,
};
#define MSG_TYPE_MAX MSG_REVOKE

/* REPORT: what happened (msg.op). */
enum report_op {
  REPORT_SYNC_FAILED = 1,       /* container arg2 failed a sync, status */
  REPORT_UNRECORDED = 2,        /* an ALLOCATED could not be sent */
  REPORT_IO_FAILED = 3,         /* container arg2 failed an I/O, status */
  REPORT_UNSYNCED = 4,          /* vdisk's writes to the failed container
                                 * arg2 were never synced */
};
#define REPORT_OP_MAX REPORT_UNSYNCED

/* The counters of a REPLY to GET_STATS, by index (a peer may send
 * fewer or more; a missing one reads as 0). */
enum msg_stat {
  MSG_STAT_FAULTS,
  MSG_STAT_TABLES,
  MSG_STAT_ENTRIES,
  MSG_STAT_MEMORY,
  MSG_STAT_MEMORY_LIMIT,
  MSG_STAT_EVICTED,
  MSG_STAT_GRANTS_USED,
  MSG_STAT_DEGRADED,
  MSG_STAT_CONTAINERS,
  MSG_STAT_TIMEOUTS,
  MSG_STAT_COUNT
};

/* What the faulting I/O was doing. */
enum fault_op {
  FAULT_READ = 1,
  FAULT_WRITE = 2,
  FAULT_TRIM = 3,       /* whole segments: back to zero, free them */
  FAULT_ZERO = 4,       /* whole segments: same effect as trim */
};
#define FAULT_OP_MAX FAULT_ZERO

/* msg.flags */
#define MSG_F_BLOCKING 0x01     /* set_entry/set_status: drain before answer */
#define MSG_F_ON       0x02     /* set_status: set (else clear) the bits;
                                   set_degraded: on (else off) */
#define MSG_F_READ_ONLY 0x04    /* new_table: writes fail with EROFS */
#define MSG_F_MARKED   0x08     /* retry: the write fault's blocks are
                                   marked changed, durably (version 4) */
#define MSG_F_KNOWN    (MSG_F_BLOCKING | MSG_F_ON | MSG_F_READ_ONLY \
                        | MSG_F_MARKED)

/* A decoded message.  Fields a type does not use are zero / NULL.
 * entries, blocks, vdisks and name are owned by the struct after
 * msg_decode (free with msg_clear); msg_encode only reads them.
 */
struct msg {
  uint8_t type;             /* enum msg_type */
  uint8_t op;               /* MAP_FAULT: enum fault_op; REPORT: enum
                               report_op */
  uint8_t flags;            /* MSG_F_* */
  uint64_t id;              /* request id, echoed by the answer */
  uint32_t vdisk;           /* vdisk id */
  uint64_t first;           /* first segment of the range */
  uint32_t count;           /* segments in the range */
  uint32_t status;          /* FAIL, REPLY, IO_DONE, REPORT: 0 or a
                               positive errno */
  uint64_t arg;             /* NEW_TABLE: size in bytes; SET_STATUS: bits;
                               QUIESCE: timeout in ms; REGISTER: version;
                               HEARTBEAT: lease in ms; MAP_FAULT: byte
                               offset of the I/O in the first segment;
                               RETRY: zero segments after the range;
                               IO_DONE: id of the DO_* it reports;
                               CONTAINER_ATTACH: size in bytes; REPLY to
                               REGISTER: the agent's id */
  uint32_t arg2;            /* NEW_TABLE: segment shift; MAP_FAULT: I/O
                               length in bytes (capped to the range);
                               CONTAINER_*, REPORT: container id; REPLY
                               to REGISTER: the controller's version */
  sm_entry alt;             /* DO_WRITE, DO_SPLIT_READ: alternate location;
                               ALLOCATED: the granted location used */
  uint32_t n_entries;
  sm_entry *entries;        /* RETRY, SET_ENTRY, REPLY to GET_*; GRANT:
                               the granted locations; DO_WRITE,
                               DO_SPLIT_READ: entries[0] = the original
                               location (or a ZERO entry) */
  uint32_t n_blocks;        /* bytes in blocks */
  uint8_t *blocks;          /* 4 KiB blocks of a segment (see above).
                               MAP_FAULT: blocks the I/O touches;
                               DO_WRITE, DO_SPLIT_READ: blocks at alt;
                               IO_DONE: blocks written to alt */
  uint32_t n_vdisks;
  uint32_t *vdisks;         /* QUIESCE, ACTIVATE */
  char *name;               /* REGISTER: agent name; NEW_TABLE: vdisk name;
                               CONTAINER_ATTACH: container name */
  uint32_t n_counters;
  uint64_t *counters;       /* REPLY to GET_STATS: enum msg_stat */
  char *path;               /* CONTAINER_ATTACH: file or device */
  uint32_t n_extents;       /* words in extents: twice the ranges */
  uint64_t *extents;        /* DIFF: (offset, length) byte ranges */
};

/* Encode M into a newly allocated frame (*FRAME, *LEN).  Returns 0, or -1
 * (with sm_error) if M is not a valid message of its type. */
int msg_encode (const struct msg *m, uint8_t **frame, size_t *len);

/* Decode one whole frame.  Returns 0 and fills *M (caller calls
 * msg_clear), or -1 with sm_error saying what is malformed, leaving *M
 * cleared. */
int msg_decode (const uint8_t *frame, size_t len, struct msg *m);

/* Peek at a header: 0 and the total frame length, or -1 if the header
 * is malformed (bad magic/version/type, body too long).  LEN must be at
 * least MSG_HEADER_SIZE.  For stream transports. */
int msg_frame_length (const uint8_t *hdr, size_t len, size_t *frame_len);

/* The type byte of a frame whose header msg_frame_length accepted (or
 * 0 if LEN is too short to hold one). */
static inline unsigned
msg_frame_type (const uint8_t *frame, size_t len)
{
  return len >= MSG_HEADER_SIZE ? frame[5] : 0;
}

/* Free what M owns and zero it. */
void msg_clear (struct msg *m);

const char *msg_type_to_string (unsigned type);

/* Is block I set in the bitmap BLOCKS of N bytes (past the end: no)? */
static inline int
msg_block_is_set (const uint8_t *blocks, uint32_t n, uint64_t i)
{
  return i / 8 < n && (blocks[i / 8] >> (i % 8)) & 1;
}
const char *fault_op_to_string (unsigned op);
const char *report_op_to_string (unsigned op);

/* Is TYPE a command (controller -> agent, answered by a REPLY with its
 * id)? */
int msg_is_command (unsigned type);

#endif /* SEGMAP_MSG_H */
