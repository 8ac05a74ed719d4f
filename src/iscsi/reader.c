/* segmap: the PDU reader of a connection and the dispatch of what it
 * reads (its I/O thread only).
 *
 * States (enum rx_state), for one PDU:
 *
 *   RX_BHS --48 bytes--> [frame: refuse a data segment above our
 *     MaxRecvDataSegmentLength before allocating anything]
 *        |--> RX_HEADER (AHS + header digest) --+
 *        +--------------------------------------+
 *        |  SCSI Command / Data-Out with data:  RX_DATA straight into
 *        |      the task's buffer --> RX_TRAILER (pad, data digest)
 *        |  other PDUs with data: RX_FRAME (the whole PDU, decoded
 *        |      and checked by iscsi_pdu_decode)
 *        +--> dispatch --> RX_BHS
 *
 * The header of a PDU read into a task buffer is decoded on its own
 * (decode_header: the header digest checked here, the data rules that
 * need the segment checked afterwards), so the data is never copied.
 * Data the target does not want (a rejected command, a Data-Out for an
 * unknown transfer) is read into a scratch buffer and dropped.
 *
 * Reads go through a read-ahead buffer (rxbuf): one recv takes what the
 * socket has, often several PDUs with their data, and the parts are
 * copied out of it; a part of RX_DIRECT_MIN bytes or more that finds
 * the buffer empty is received straight into its destination.
 *
 * Before login only Login Requests are accepted (anything else closes
 * the connection); a discovery session accepts no SCSI traffic.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

#define DISCARD_SIZE  65536
#define PDU_BUF_KEEP  65536
#define RX_BUF_SIZE   65536     /* the read-ahead buffer */
#define RX_DIRECT_MIN 16384     /* parts this large skip the buffer */

const char *
rx_state_to_string (enum rx_state s)
{
  switch (s) {
  case RX_BHS: return "bhs";
  case RX_HEADER: return "header";
  case RX_FRAME: return "frame";
  case RX_DATA: return "data";
  case RX_TRAILER: return "trailer";
  }
  return "unknown";
}

/* recv LEN bytes at most into BUF.  Returns the count, 0 if nothing is
 * there now, -1 if the connection ended or failed (it is closed). */
static ssize_t
recv_some (struct iscsi_conn *c, void *buf, size_t len)
{
  ssize_t r;

  do
    r = recv (c->fd, buf, len, MSG_DONTWAIT);
  while (r == -1 && errno == EINTR);
  if (r > 0)
    return r;
  if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  conn_close (c, r == 0 ? "end of stream" : "receive failed");
  return -1;
}

static bool
rx_buffered (const struct iscsi_conn *c)
{
  return c->rx_head < c->rx_tail;
}

/* Read up to LEN bytes into BUF: first what was read ahead, then
 * straight from the socket for a large part, else through the read-ahead
 * buffer (one recv then serves several PDUs).  Returns as recv_some. */
static ssize_t
read_some (struct iscsi_conn *c, void *buf, size_t len)
{
  size_t n;
  ssize_t r;

  if (!rx_buffered (c)) {
    if (c->rx_drain)
      return 0;
    if (len >= RX_DIRECT_MIN)
      return recv_some (c, buf, len);
    if (c->rxbuf == NULL && (c->rxbuf = malloc (RX_BUF_SIZE)) == NULL) {
      conn_close (c, "out of memory");
      return -1;
    }
    if ((r = recv_some (c, c->rxbuf, RX_BUF_SIZE)) <= 0)
      return r;
    c->rx_head = 0;
    c->rx_tail = r;
  }
  n = c->rx_tail - c->rx_head < len ? c->rx_tail - c->rx_head : len;
  memcpy (buf, &c->rxbuf[c->rx_head], n);
  c->rx_head += n;
  return n;
}

/*----------------------------------------------------------------------
 * Login.
 */

static void
login_succeeded (struct iscsi_conn *c)
{
  const struct iscsi_params *p = &c->sess->params;
  struct iscsi_target *t = c->t;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    t->n_logins--;
  }
  c->state = CONN_FULL_FEATURE;
  c->cid = c->login.cid;
  c->rx_lim.max_recv_dsl = c->login.neg.declared_mrdsl
    ? t->cfg.want.max_recv_dsl : ISCSI_LOGIN_DSL;
  c->rx_lim.header_digest = p->header_digest == ISCSI_DIGEST_CRC32C;
  c->rx_lim.data_digest = p->data_digest == ISCSI_DIGEST_CRC32C;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->send_lock);
    c->tx_lim.max_recv_dsl = p->max_recv_dsl;
    c->tx_lim.header_digest = c->rx_lim.header_digest;
    c->tx_lim.data_digest = c->rx_lim.data_digest;
  }
  sm_debug ("iscsi: %s logged in from %s (%s%s), TSIH %u", c->sess->initiator,
            c->peer, c->sess->discovery ? "discovery" : "target ",
            c->sess->target, c->sess->tsih);
}

static int
on_login (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  struct login_reply r;
  struct out_pdu o = { .statsn = true, .sn = true };

  if (login_step (&c->login, p, &r) == -1) {
    conn_close (c, "out of memory in login");
    return -1;
  }
  if (r.done) {
    uint16_t st = session_create (c, &c->login);

    if (st != 0)
      login_fail (&c->login, st, &r);
    else
      r.pdu.tsih = c->sess->tsih;
  }
  o.pdu = r.pdu;
  if (conn_send (c, &o, 1) == -1) {
    conn_close (c, "cannot answer the login");
    return -1;
  }
  if (r.close) {
    atomic_store (&c->close_after_flush, true);
    return -1;
  }
  if (r.pdu.transit && r.pdu.nsg == ISCSI_STAGE_FULL_FEATURE && r.done)
    login_succeeded (c);
  return 0;
}

/*----------------------------------------------------------------------
 * Dispatch.
 */

/* A PDU fully read (data, if any, in P->data). */
static int
dispatch (struct iscsi_conn *c, const struct iscsi_pdu *p,
          const uint8_t *bhs)
{
  struct iscsi_task *task = NULL;
  uint8_t *dst;

  if (c->state == CONN_LOGIN)
    return on_login (c, p);
  switch (p->opcode) {
  case ISCSI_OP_NOP_OUT:
    return nop_on_out (c, p);
  case ISCSI_OP_SCSI_CMD:
    if (task_on_command (c, p, bhs, &dst, &task) == -1)
      return -1;
    return task == NULL ? 0 : task_on_command_data (c, task, p, true, bhs);
  case ISCSI_OP_DATA_OUT:
    if (task_on_data_out (c, p, bhs, &dst, &task) == -1)
      return -1;
    return task == NULL ? 0 : task_on_data_out_done (c, task, p, true, bhs);
  case ISCSI_OP_TASK_MGMT:
    return tmf_on_request (c, p);
  case ISCSI_OP_TEXT:
    return textreq_on_request (c, p, bhs);
  case ISCSI_OP_LOGOUT:
    return logout_on_request (c, p);
  case ISCSI_OP_SNACK:
    conn_reject (c, ISCSI_REJECT_NOT_SUPPORTED, bhs);
    return 0;
  default:                      /* a Login in full feature phase */
    conn_reject (c, ISCSI_REJECT_PROTOCOL_ERROR, bhs);
    atomic_store (&c->close_after_flush, true);
    return -1;
  }
}

/* Is OPCODE welcome now?  Returns 0, or -1 (the connection closes). */
static int
admissible (struct iscsi_conn *c, uint8_t opcode)
{
  if (c->state == CONN_LOGIN && opcode != ISCSI_OP_LOGIN) {
    conn_close (c, "a PDU other than Login before login");
    return -1;
  }
  if (c->sess != NULL && c->sess->discovery
      && (opcode == ISCSI_OP_SCSI_CMD || opcode == ISCSI_OP_DATA_OUT
          || opcode == ISCSI_OP_TASK_MGMT)) {
    conn_reject (c, ISCSI_REJECT_PROTOCOL_ERROR, c->hdr);
    atomic_store (&c->close_after_flush, true);
    return -1;
  }
  return 0;
}

/*----------------------------------------------------------------------
 * Reading.
 */

/* Decode the header in c->hdr of a PDU whose data segment is read
 * elsewhere. */
static enum iscsi_pdu_error
decode_header (struct iscsi_conn *c, struct iscsi_pdu *p)
{
  const struct iscsi_frame *f = &c->frame;
  struct iscsi_pdu_limits lim = c->rx_lim;
  uint8_t dsl[3];
  enum iscsi_pdu_error e;

  if (lim.header_digest
      && iscsi_crc32c (c->hdr, f->header_len)
      != iscsi_digest_get (&c->hdr[f->header_len]))
    return ISCSI_PDU_ERR_HEADER_DIGEST;
  lim.header_digest = lim.data_digest = false;
  memcpy (dsl, &c->hdr[5], 3);
  memset (&c->hdr[5], 0, 3);
  e = iscsi_pdu_decode (c->hdr, f->header_len, &lim, p);
  memcpy (&c->hdr[5], dsl, 3);
  p->data_len = f->data_len;
  p->data = NULL;
  if (e == ISCSI_PDU_OK && p->opcode == ISCSI_OP_SCSI_CMD && !p->write)
    e = ISCSI_PDU_ERR_DIRECTION;
  return e;
}

static void
next_pdu (struct iscsi_conn *c)
{
  c->rx = RX_BHS;
  c->got = 0;
  c->data_task = NULL;
  c->data_dst = NULL;
}

/* The header of a PDU whose data goes into a task buffer. */
static int
start_direct (struct iscsi_conn *c)
{
  struct iscsi_pdu *p = &c->data_pdu;
  enum iscsi_pdu_error e = decode_header (c, p);
  int r;

  c->data_task = NULL;
  c->data_dst = NULL;
  c->rx = RX_DATA;
  c->got = 0;
  if (e != ISCSI_PDU_OK) {
    if (conn_pdu_error (c, e, c->hdr) == -1)
      return -1;
    return 0;                   /* rejected: discard the data */
  }
  c->last_rx = iscsi_now_ms ();
  if (p->opcode == ISCSI_OP_SCSI_CMD)
    r = task_on_command (c, p, c->hdr, &c->data_dst, &c->data_task);
  else
    r = task_on_data_out (c, p, c->hdr, &c->data_dst, &c->data_task);
  return r;
}

/* Allocate the buffer for a whole PDU of c->frame.total bytes. */
static int
start_frame (struct iscsi_conn *c)
{
  size_t total = c->frame.total;

  if (c->pdu_buf_cap < total) {
    uint8_t *b = realloc (c->pdu_buf, total);

    if (b == NULL) {
      conn_close (c, "out of memory for a PDU");
      return -1;
    }
    c->pdu_buf = b;
    c->pdu_buf_cap = total;
  }
  memcpy (c->pdu_buf, c->hdr, c->frame.data_off);
  c->got = c->frame.data_off;
  c->rx = RX_FRAME;
  return 0;
}

/* The header (BHS, AHS, digest) is in c->hdr. */
static int
header_done (struct iscsi_conn *c)
{
  uint8_t op = c->hdr[0] & 0x3f;
  struct iscsi_pdu p;
  enum iscsi_pdu_error e;

  if (admissible (c, op) == -1)
    return -1;
  if (c->frame.data_len > 0) {
    if ((op == ISCSI_OP_SCSI_CMD || op == ISCSI_OP_DATA_OUT)
        && c->state != CONN_LOGIN)
      return start_direct (c);
    return start_frame (c);
  }
  e = iscsi_pdu_decode (c->hdr, c->frame.total, &c->rx_lim, &p);
  next_pdu (c);
  if (e != ISCSI_PDU_OK)
    return conn_pdu_error (c, e, c->hdr);
  c->last_rx = iscsi_now_ms ();
  return dispatch (c, &p, c->hdr);
}

static int
frame_done (struct iscsi_conn *c)
{
  struct iscsi_pdu p;
  enum iscsi_pdu_error e = iscsi_pdu_decode (c->pdu_buf, c->frame.total,
                                             &c->rx_lim, &p);
  int r;

  next_pdu (c);
  if (e != ISCSI_PDU_OK)
    r = conn_pdu_error (c, e, c->pdu_buf);
  else {
    c->last_rx = iscsi_now_ms ();
    r = dispatch (c, &p, c->pdu_buf);
  }
  if (c->pdu_buf_cap > PDU_BUF_KEEP) {
    free (c->pdu_buf);
    c->pdu_buf = NULL;
    c->pdu_buf_cap = 0;
  }
  return r;
}

/* The data segment and its trailer were read. */
static int
data_done (struct iscsi_conn *c)
{
  const struct iscsi_frame *f = &c->frame;
  struct iscsi_task *task = c->data_task;
  struct iscsi_pdu p = c->data_pdu;
  bool ok = true;

  if (c->rx_lim.data_digest && c->data_dst != NULL) {
    uint32_t crc = iscsi_crc32c_update (~UINT32_C (0), c->data_dst,
                                        f->data_len);

    crc = iscsi_crc32c_update (crc, c->trailer, f->pad_len);
    ok = (crc ^ ~UINT32_C (0)) == iscsi_digest_get (&c->trailer[f->pad_len]);
  }
  p.data = c->data_dst;
  next_pdu (c);
  if (task == NULL)
    return 0;
  if (p.opcode == ISCSI_OP_SCSI_CMD)
    return task_on_command_data (c, task, &p, ok, c->hdr);
  return task_on_data_out_done (c, task, &p, ok, c->hdr);
}

/* Read into the current part.  Returns 1 when it is complete, 0 when
 * the socket is empty, -1 when the connection closed. */
static int
fill (struct iscsi_conn *c, uint8_t *buf, size_t want)
{
  while (c->got < want) {
    ssize_t r = read_some (c, buf + c->got, want - c->got);

    if (r <= 0)
      return r;
    c->got += r;
  }
  return 1;
}

static int
read_data (struct iscsi_conn *c)
{
  size_t len = c->frame.data_len;
  ssize_t r;

  if (c->data_dst != NULL)
    return fill (c, c->data_dst, len);
  if (c->discard == NULL && (c->discard = malloc (DISCARD_SIZE)) == NULL) {
    conn_close (c, "out of memory");
    return -1;
  }
  while (c->got < len) {
    r = read_some (c, c->discard,
                   len - c->got < DISCARD_SIZE ? len - c->got : DISCARD_SIZE);
    if (r <= 0)
      return r;
    c->got += r;
  }
  return 1;
}

/* One step of the state machine.  Returns 1 to go on, 0 when the
 * socket is empty, -1 when the connection is closing. */
static int
rx_step (struct iscsi_conn *c)
{
  enum iscsi_pdu_error e;
  int r;

  switch (c->rx) {
  case RX_BHS:
    if ((r = fill (c, c->hdr, ISCSI_BHS_SIZE)) <= 0)
      return r;
    e = iscsi_pdu_frame (c->hdr, &c->rx_lim, &c->frame);
    if (e != ISCSI_PDU_OK) {
      conn_pdu_error (c, e, c->hdr);
      atomic_store (&c->close_after_flush, true);
      return -1;
    }
    c->rx = RX_HEADER;
    return 1;
  case RX_HEADER:
    if ((r = fill (c, c->hdr, c->frame.data_off)) <= 0)
      return r;
    return header_done (c) == -1 ? -1 : 1;
  case RX_FRAME:
    if ((r = fill (c, c->pdu_buf, c->frame.total)) <= 0)
      return r;
    return frame_done (c) == -1 ? -1 : 1;
  case RX_DATA:
    if ((r = read_data (c)) <= 0)
      return r;
    c->rx = RX_TRAILER;
    c->got = 0;
    return 1;
  case RX_TRAILER:
    if ((r = fill (c, c->trailer, c->frame.pad_len + c->frame.ddigest_len))
        <= 0)
      return r;
    return data_done (c) == -1 ? -1 : 1;
  }
  return -1;
}

/* Read a batch of PDUs, then run the quick commands among them here
 * (task.c): the batch's commands reach the backend without a hand-off,
 * and those that are not quick went to the workers as they came.  The
 * read-ahead buffer is always used up (epoll does not see it): once the
 * budget is spent, no more is received (rx_drain), the rest of the
 * buffer is handled, and a PDU cut short waits for the next event. */
void
conn_on_readable (struct iscsi_conn *c)
{
  unsigned budget = 64;         /* PDUs before letting others run */

  task_inline_begin (c);
  while (c->state != CONN_CLOSED && !atomic_load (&c->close_after_flush)
         && !atomic_load (&c->kill) && (budget > 0 || rx_buffered (c))) {
    int r = rx_step (c);

    if (r <= 0)
      break;
    if (c->rx == RX_BHS && c->got == 0 && budget > 0 && --budget == 0)
      c->rx_drain = true;
  }
  c->rx_drain = false;
  task_inline_run (c);
}
