/* segmap: iSCSI connections -- lifetime and the writer.
 *
 * (The reader is reader.c.)
 *
 * Writer: any thread sends with conn_send under send_lock.  When
 * nothing is queued the PDUs go out at once with one sendmsg (headers
 * and data segments gathered, MSG_NOSIGNAL | MSG_DONTWAIT); whatever
 * the socket does not take is copied to the queue and EPOLLOUT is armed,
 * and the I/O thread flushes the queue.  StatSN is given out here, in
 * the order PDUs reach the wire.  Once the connection is dead nothing is
 * sent and conn_send fails.
 *
 * Data segments are not copied on the direct path: each PDU is its
 * encoded header, the caller's data, and a trailer (padding and data
 * digest).
 *
 * Close: conn_close (its I/O thread only) marks the connection dead,
 * stops watching the socket, shuts it down and aborts the tasks no
 * worker holds; the socket is closed and the memory freed by the last
 * conn_unref.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

#define SEND_BATCH 32           /* PDUs per sendmsg */

const char *
conn_state_to_string (enum conn_state s)
{
  switch (s) {
  case CONN_LOGIN: return "login";
  case CONN_FULL_FEATURE: return "full feature";
  case CONN_LOGOUT: return "logout";
  case CONN_CLOSED: return "closed";
  }
  return "unknown";
}

struct iscsi_conn *
conn_new (struct iscsi_target *t, int fd)
{
  struct iscsi_conn *c = calloc (1, sizeof *c);
  struct sockaddr_storage peer;
  socklen_t len;

  if (c == NULL) {
    sm_error ("iscsi: out of memory for a connection");
    return NULL;
  }
  c->src.kind = IO_CONN;
  c->t = t;
  c->fd = fd;
  atomic_init (&c->refs, 1);
  c->state = CONN_LOGIN;
  c->rx = RX_BHS;
  len = sizeof c->local_addr;
  if (getsockname (fd, (struct sockaddr *) &c->local_addr, &len) == 0)
    sockaddr_format (&c->local_addr, c->local, sizeof c->local);
  len = sizeof peer;
  if (getpeername (fd, (struct sockaddr *) &peer, &len) == 0)
    sockaddr_format (&peer, c->peer, sizeof c->peer);
  iscsi_pdu_limits_init (&c->rx_lim);
  iscsi_pdu_limits_init (&c->tx_lim);
  pthread_mutex_init (&c->send_lock, NULL);
  pthread_mutex_init (&c->task_lock, NULL);
  c->outq_tail = &c->outq;
  c->statsn = 1;
  c->login_env = t->login_env;
  login_init (&c->login, &c->login_env);
  iscsi_text_acc_init (&c->text_acc, ISCSI_TEXT_MAX);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    c->next = t->conns;
    t->conns = c;
  }
  sm_debug ("iscsi: connection from %s to %s", c->peer, c->local);
  return c;
}

void
conn_ref (struct iscsi_conn *c)
{
  atomic_fetch_add (&c->refs, 1);
}

static void
free_outq (struct iscsi_conn *c)
{
  struct outbuf *b, *next;

  for (b = c->outq; b != NULL; b = next) {
    next = b->next;
    free (b);
  }
  c->outq = NULL;
  c->outq_tail = &c->outq;
}

static void
conn_free (struct iscsi_conn *c)
{
  struct iscsi_target *t = c->t;

  sm_debug ("iscsi: connection from %s freed", c->peer);
  target_forget_conn (t, c);
  if (c->sess != NULL)
    session_destroy (t, c->sess);
  task_pool_free (c);
  free_outq (c);
  close (c->fd);
  login_clear (&c->login);
  iscsi_text_acc_clear (&c->text_acc);
  iscsi_text_builder_clear (&c->text_resp);
  free (c->pdu_buf);
  free (c->discard);
  free (c->rxbuf);
  free (c->logout);
  pthread_mutex_destroy (&c->send_lock);
  pthread_mutex_destroy (&c->task_lock);
  free (c);
}

void
conn_unref (struct iscsi_conn *c)
{
  if (atomic_fetch_sub (&c->refs, 1) == 1)
    conn_free (c);
}

void
conn_request_close (struct iscsi_conn *c)
{
  atomic_store (&c->kill, true);
  if (c->loop != NULL)
    ioloop_wake (c->loop);
}

void
conn_close (struct iscsi_conn *c, const char *why)
{
  struct iscsi_target *t = c->t;

  if (c->state == CONN_CLOSED)
    return;
  sm_debug ("iscsi: closing the connection from %s (%s): %s", c->peer,
            conn_state_to_string (c->state), why);
  if (c->state == CONN_LOGIN) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    t->n_logins--;
  }
  c->state = CONN_CLOSED;
  atomic_store (&c->closed, true);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->send_lock);
    c->dead = true;
    free_outq (c);
  }
  epoll_ctl (c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  shutdown (c->fd, SHUT_RDWR);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
    task_abort_all_locked (c);
  }
  c->loop->reap = true;
}

/*----------------------------------------------------------------------
 * The writer.
 */

/* Arm or disarm EPOLLOUT (send_lock held). */
static void
want_out (struct iscsi_conn *c, bool on)
{
  struct epoll_event ev = {
    .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
    .data.ptr = &c->src,
  };

  if (c->want_out == on || c->loop == NULL)
    return;
  c->want_out = on;
  epoll_ctl (c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queue the bytes of IOV[0..N) from byte SKIP on (send_lock held). */
static int
queue_rest (struct iscsi_conn *c, const struct iovec *iov, size_t n,
            size_t skip)
{
  struct outbuf *b;
  size_t total = 0, i, off = 0;

  for (i = 0; i < n; i++)
    total += iov[i].iov_len;
  total -= skip;
  b = malloc (sizeof *b + total);
  if (b == NULL) {
    sm_error ("iscsi: out of memory queueing %zu bytes", total);
    return -1;
  }
  for (i = 0; i < n; i++) {
    size_t len = iov[i].iov_len;
    const uint8_t *p = iov[i].iov_base;

    if (skip >= len) {
      skip -= len;
      continue;
    }
    memcpy (&b->data[off], p + skip, len - skip);
    off += len - skip;
    skip = 0;
  }
  b->next = NULL;
  b->len = total;
  b->off = 0;
  *c->outq_tail = b;
  c->outq_tail = &b->next;
  want_out (c, true);
  return 0;
}

/* Send IOV now, queueing what the socket does not take (send_lock
 * held).  Returns 0 or -1 (the connection is dead). */
static int
send_iov (struct iscsi_conn *c, struct iovec *iov, size_t n)
{
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
  ssize_t r;

  if (c->outq != NULL)
    return queue_rest (c, iov, n, 0);
  do
    r = sendmsg (c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r == -1 && errno == EINTR);
  if (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
    sm_debug ("iscsi: send to %s: %m", c->peer);
    c->dead = true;
    return -1;
  }
  if (r == -1)
    r = 0;
  {
    size_t total = 0, i;

    for (i = 0; i < n; i++)
      total += iov[i].iov_len;
    if ((size_t) r == total)
      return 0;
  }
  return queue_rest (c, iov, n, r);
}

/* Encode the header of P (data by pointer, not copied) into HDR.
 * Returns its length, or 0 on a bug (the PDU is not valid). */
static size_t
encode_header (const struct iscsi_pdu *p, const struct iscsi_pdu_limits *lim,
               uint8_t *hdr)
{
  struct iscsi_pdu h = *p;
  struct iscsi_pdu_limits l = *lim;
  enum iscsi_pdu_error e;
  size_t n;

  h.data_len = 0;
  h.data = NULL;
  l.header_digest = l.data_digest = false;
  e = iscsi_pdu_encode (&h, &l, hdr, ISCSI_HEADER_MAX, &n);
  if (e != ISCSI_PDU_OK) {
    sm_error ("iscsi: cannot encode %s: %s",
              iscsi_opcode_to_string (p->opcode),
              iscsi_pdu_error_to_string (e));
    return 0;
  }
  hdr[5] = p->data_len >> 16;
  hdr[6] = p->data_len >> 8;
  hdr[7] = p->data_len;
  if (lim->header_digest) {
    iscsi_digest_put (&hdr[n], iscsi_crc32c (hdr, n));
    n += ISCSI_DIGEST_SIZE;
  }
  return n;
}

struct wire_pdu {
  uint8_t hdr[ISCSI_BHS_SIZE + 40 + ISCSI_DIGEST_SIZE];
  uint8_t trailer[8];
};

/* The iovecs of one PDU (send_lock held).  Returns how many, 0 on a
 * bug. */
static size_t
wire_one (struct iscsi_conn *c, struct out_pdu *o, struct wire_pdu *w,
          struct iovec *iov)
{
  struct iscsi_pdu *p = &o->pdu;
  struct iscsi_session *s = c->sess;
  size_t hlen, n = 0, pad;

  if (o->sn) {
    p->statsn = c->statsn;
    if (o->statsn)
      c->statsn++;
    if (s != NULL) {
      p->expcmdsn = atomic_load (&s->exp_cmdsn_pub);
      p->maxcmdsn = atomic_load (&s->max_cmdsn);
    }
    else {
      p->expcmdsn = c->login.cmdsn;
      p->maxcmdsn = c->login.cmdsn + ISCSI_QUEUE_DEPTH - 1;
    }
  }
  if ((hlen = encode_header (p, &c->tx_lim, w->hdr)) == 0)
    return 0;
  iov[n].iov_base = w->hdr;
  iov[n++].iov_len = hlen;
  if (p->data_len == 0)
    return n;
  iov[n].iov_base = (void *) p->data;
  iov[n++].iov_len = p->data_len;
  pad = (4 - (p->data_len & 3)) & 3;
  memset (w->trailer, 0, pad);
  if (c->tx_lim.data_digest) {
    uint32_t crc = iscsi_crc32c_update (~UINT32_C (0), p->data, p->data_len);

    crc = iscsi_crc32c_update (crc, w->trailer, pad);
    iscsi_digest_put (&w->trailer[pad], crc ^ ~UINT32_C (0));
    pad += ISCSI_DIGEST_SIZE;
  }
  if (pad > 0) {
    iov[n].iov_base = w->trailer;
    iov[n++].iov_len = pad;
  }
  return n;
}

int
conn_send (struct iscsi_conn *c, struct out_pdu *pdus, size_t n)
{
  struct wire_pdu w[SEND_BATCH];
  struct iovec iov[SEND_BATCH * 3];
  size_t i = 0;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->send_lock);
  if (c->dead)
    return -1;
  while (i < n) {
    size_t k, niov = 0;

    for (k = 0; k < SEND_BATCH && i < n; k++, i++) {
      size_t m = wire_one (c, &pdus[i], &w[k], &iov[niov]);

      if (m == 0) {
        c->dead = true;
        conn_request_close (c);
        return -1;
      }
      niov += m;
    }
    if (send_iov (c, iov, niov) == -1) {
      conn_request_close (c);
      return -1;
    }
  }
  return 0;
}

void
conn_on_writable (struct iscsi_conn *c)
{
  bool close_now = false;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->send_lock);
    while (c->outq != NULL && !c->dead) {
      struct outbuf *b = c->outq;
      ssize_t r = send (c->fd, &b->data[b->off], b->len - b->off,
                        MSG_NOSIGNAL | MSG_DONTWAIT);

      if (r == -1 && errno == EINTR)
        continue;
      if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (r == -1) {
        c->dead = true;
        close_now = true;
        break;
      }
      b->off += r;
      if (b->off == b->len) {
        c->outq = b->next;
        if (c->outq == NULL)
          c->outq_tail = &c->outq;
        free (b);
      }
    }
    if (c->outq == NULL)
      want_out (c, false);
  }
  if (close_now)
    conn_close (c, "send failed");
}

void
conn_reject (struct iscsi_conn *c, uint8_t reason, const uint8_t *bhs)
{
  struct out_pdu o = { .statsn = true, .sn = true };

  sm_debug ("iscsi: %s: reject %s: %s", c->peer,
            iscsi_opcode_to_string (bhs[0] & 0x3f),
            iscsi_reject_reason_to_string (reason));
  iscsi_pdu_make_reject (&o.pdu, reason, bhs);
  /* The DataSN/R2TSN field of a Reject is only for SNACKs: 0. */
  conn_send (c, &o, 1);
}

int
conn_pdu_error (struct iscsi_conn *c, enum iscsi_pdu_error e,
                const uint8_t *bhs)
{
  uint8_t op = bhs[0] & 0x3f;
  struct iscsi_pdu_answer a = iscsi_pdu_error_answer (e, op);

  sm_debug ("iscsi: %s: bad %s: %s", c->peer, iscsi_opcode_to_string (op),
            iscsi_pdu_error_to_string (e));
  switch (a.kind) {
  case ISCSI_ANSWER_NONE:
    return 0;
  case ISCSI_ANSWER_REJECT:
    conn_reject (c, a.reject_reason, bhs);
    break;
  case ISCSI_ANSWER_LOGIN_REJECT:
    {
      struct login_reply r;

      memset (&r, 0, sizeof r);
      iscsi_pdu_init (&r.pdu, ISCSI_OP_LOGIN_RESP);
      r.pdu.itt = (uint32_t) bhs[16] << 24 | (uint32_t) bhs[17] << 16
        | (uint32_t) bhs[18] << 8 | bhs[19];
      login_fail (&c->login, a.login_status, &r);
      {
        struct out_pdu o = { .pdu = r.pdu, .statsn = true, .sn = true };

        conn_send (c, &o, 1);
      }
    }
    break;
  case ISCSI_ANSWER_DROP:
    conn_close (c, iscsi_pdu_error_to_string (e));
    return -1;
  }
  if (a.close) {
    atomic_store (&c->close_after_flush, true);
    return -1;
  }
  return 0;
}
