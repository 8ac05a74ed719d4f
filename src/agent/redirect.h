/* segmap: the agent's side of redirected I/O (DO_WRITE, DO_SPLIT_READ).
 *
 * Internal to the agent: io.c hands a faulting piece whose fault was
 * answered with DO_WRITE or DO_SPLIT_READ to redirect_run(), which does
 * the container I/O the answer orders, reports it with IO_DONE and
 * waits for the controller's last word.  The protocol is in
 * proto/msg.h ("Redirected I/O") and segmap-protocol(7).
 */
#ifndef SEGMAP_REDIRECT_H
#define SEGMAP_REDIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"

/* The part of one host I/O that lies in one segment. */
struct redirect_io {
  struct table *t;
  bool write;                   /* else a read */
  void *buf;                    /* read: destination; write: source,
                                   NULL to write zeros */
  uint32_t len;                 /* > 0 */
  uint64_t seg;
  uint64_t off;                 /* offset inside the segment */
};

/* The bitmap of the 4 KiB blocks of a segment of 2^SEG_SHIFT bytes
 * that [OFF, OFF+LEN) touches, covering the whole segment: *N bytes,
 * caller frees.  NULL with errno ENOMEM. */
uint8_t *redirect_blocks (unsigned seg_shift, uint64_t off, uint32_t len,
                          uint32_t *n);

/* Execute ORDER, the DO_WRITE or DO_SPLIT_READ answering IO's fault,
 * then send IO_DONE and wait for the answer.  Clears ORDER.  Returns 1
 * when the controller answered COMPLETE_TO_HOST (the I/O is done), 0
 * for RETRY (look the entry up again), -1 with errno otherwise (FAIL,
 * a malformed order, a lost message). */
int redirect_run (struct agent *a, const struct redirect_io *io,
                  struct msg *order);

/* Do IO as an order naming ORIG, ALT and the bitmap AT_ALT (N_AT_ALT
 * bytes) of blocks at alt would have it done (a held movement's I/O,
 * held.h), inside the caller's epoch section.  0 or -1. */
int redirect_io_at (struct agent *a, const struct redirect_io *io,
                    sm_entry orig, sm_entry alt, const uint8_t *at_alt,
                    uint32_t n_at_alt);

#endif /* SEGMAP_REDIRECT_H */
