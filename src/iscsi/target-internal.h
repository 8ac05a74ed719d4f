/* segmap: the iSCSI target's internals, shared by src/iscsi/{target,
 * server,ioloop,conn,login,discovery,session,task,tmf,nop,textreq,
 * workers}.c.  Not for use outside the target.
 *
 * Objects and who owns them:
 *
 *   iscsi_target  1 -- n  ioloop      (I/O threads, epoll)
 *                 1 -- 1  workers     (a pool running scsi_lu_execute)
 *                 1 -- n  iscsi_conn  (t->conns, under t->lock)
 *   iscsi_conn    1 -- 1  iscsi_session (MaxConnections=1: a session
 *                                        is its one connection)
 *                 1 -- n  iscsi_task  (a pool per connection)
 *
 * Threads and locks:
 *   - An I/O thread owns the connections assigned to it: it alone reads
 *     their sockets, runs the login, dispatches PDUs and closes them.
 *   - Workers run tasks and send the results themselves, under
 *     conn->send_lock; the I/O thread also sends under it.  The I/O
 *     thread runs quick commands (short cached READ / WRITE) itself
 *     after each read batch (task.c).  StatSN is
 *     given out under send_lock, so it grows in wire order.
 *   - conn->task_lock guards the task pool, the task states and the
 *     waiters (TMF / Logout answers that wait for running tasks).
 *   - t->lock guards the connection list, the counts and TSIH numbers.
 *   Lock order: t->lock, then task_lock, then send_lock.
 *
 * Lifetime: a connection is reference counted.  Its I/O loop holds one
 * reference until it closes the connection; every task queued on or
 * running in a worker holds one.  The socket is closed, the session
 * detached from its logical unit and the memory freed when the last
 * reference goes, so a worker finishing a command after its initiator
 * vanished only finds a dead connection and drops the result.
 */
#ifndef SEGMAP_ISCSI_TARGET_INTERNAL_H
#define SEGMAP_ISCSI_TARGET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "iscsi/chap.h"
#include "iscsi/params.h"
#include "iscsi/pdu.h"
#include "iscsi/target.h"
#include "iscsi/text.h"
#include "scsi/lu.h"

#define ISCSI_MAX_CONNS        1024   /* all connections of a target */
#define ISCSI_MAX_LOGINS       64     /* connections not yet logged in */
#define ISCSI_LOGIN_TIMEOUT    15     /* seconds to complete a login */
#define ISCSI_QUEUE_DEPTH      128    /* CmdSN window */
#define ISCSI_TASKS_MAX        (ISCSI_QUEUE_DEPTH + 16)  /* + immediate */
#define ISCSI_R2T_MAX          4      /* our MaxOutstandingR2T */
#define ISCSI_HEADER_MAX       (ISCSI_BHS_SIZE + 1020 + ISCSI_DIGEST_SIZE)
#define ISCSI_CDB_MAX          260    /* 16 + the extended CDB AHS */
#define ISCSI_BUF_KEEP         (1024 * 1024)  /* task buffers kept */
#define ISCSI_INLINE_MAX       (64 * 1024)    /* quick commands run inline */
#define ISCSI_REPLY_BATCH      64     /* answers of inline commands per flush */
#define ISCSI_INLINE_SLOW_US   1000   /* an inline command slower than this */
#define ISCSI_INLINE_BACKOFF_MS 1000  /* sends the connection's commands to
                                       * the workers for this long */
#define ISCSI_PORTAL_TAG       1
#define ISCSI_TARGET_PORT_ID   1

struct ioloop;
struct iscsi_conn;
struct iscsi_task;

enum io_kind { IO_LISTENER, IO_CONN, IO_WAKE };

/* What an epoll event points to (the first member of each source). */
struct io_source {
  enum io_kind kind;
};

/*----------------------------------------------------------------------
 * login.c: the login phase, pure (no sockets): PDUs in, PDUs out.
 */

/* What the login needs from the target. */
struct login_env {
  const struct iscsi_target_hooks *hooks;
  void *h;
  const char *prefix;           /* target names are PREFIX:VDISK */
  const struct iscsi_target_config *cfg;
};

enum login_state {
  LOGIN_SECURITY,               /* CSG 0: AuthMethod, CHAP */
  LOGIN_OPERATIONAL,            /* CSG 1: operational keys */
  LOGIN_DONE,                   /* answered T=1 NSG=3: full feature */
  LOGIN_FAILED,                 /* answered with a failure status */
};

struct login {
  const struct login_env *env;
  enum login_state state;
  bool started;                 /* the first PDU was seen */
  uint64_t isid;
  uint16_t tsih, cid;
  uint32_t itt, cmdsn;
  /* the request being accumulated (C bit) */
  struct iscsi_text_acc acc;
  /* an answer larger than one PDU, sent in pieces */
  struct iscsi_text_builder resp;
  size_t resp_off;
  bool resp_transit;            /* the answer's T bit once complete */
  uint8_t resp_nsg;
  /* negotiation */
  struct iscsi_target_config cfg;   /* env->cfg, auth for this initiator */
  struct iscsi_params params;
  struct iscsi_negotiation neg;
  bool identified;               /* initiator and target checked */
  bool chap_required, authenticated;
  struct chap chap;
  bool chap_mutual;
  char vdisk[ISCSI_NAME_MAX + 1];
};

/* One Login Response: the PDU (data points into the login). */
struct login_reply {
  struct iscsi_pdu pdu;
  bool close;                   /* failed: close after sending */
  bool done;                    /* the login is complete (success) */
};

void login_init (struct login *l, const struct login_env *env);
void login_clear (struct login *l);
/* Handle one decoded Login Request; fills *R (StatSN and the CmdSN
 * fields are the caller's).  Returns -1 (sm_error) only when out of
 * memory; protocol failures are replies with a failure status. */
int login_step (struct login *l, const struct iscsi_pdu *req,
                struct login_reply *r);
/* Turn *R into a failure with STATUS (e.g. the session could not be
 * set up after all). */
void login_fail (struct login *l, uint16_t status, struct login_reply *r);
const char *login_state_to_string (enum login_state s);

/*----------------------------------------------------------------------
 * discovery.c: SendTargets.
 */

/* Append TargetName / TargetAddress pairs for VALUE ("All", a target
 * name, or "" for CURRENT, the session's own target) to RESP: only
 * targets ENV's hooks allow INITIATOR; addresses from PORTALS, with
 * LOCAL (the connection's local address) standing in for wildcard
 * addresses.  Returns 0 or -1 (sm_error). */
int discovery_send_targets (const struct login_env *env,
                            const char *initiator, const char *value,
                            const char *current,
                            const char *const *portals, size_t n_portals,
                            const struct sockaddr_storage *local,
                            struct iscsi_text_builder *resp);
/* Is NAME PREFIX:VDISK of an existing vdisk?  Copies VDISK out. */
bool discovery_vdisk_of (const struct login_env *env, const char *name,
                         char *vdisk, size_t size);

/*----------------------------------------------------------------------
 * server.c: portals.
 */

struct portal {
  struct io_source src;         /* first: epoll data points here */
  int fd;
  struct sockaddr_storage addr;
  socklen_t addr_len;
};

/* Parse "ADDR:PORT" or "[ADDR6]:PORT".  Returns 0 or -1 (sm_error). */
int portal_parse (const char *s, struct sockaddr_storage *ss,
                  socklen_t *len);
int server_listen (struct iscsi_target *t);
void server_close (struct iscsi_target *t);
/* Accept every pending connection on portal P (listener callback). */
void server_accept (struct iscsi_target *t, struct portal *p);
/* "ADDR:PORT" / "[ADDR6]:PORT" of SS into OUT. */
void sockaddr_format (const struct sockaddr_storage *ss, char *out,
                      size_t size);

/*----------------------------------------------------------------------
 * ioloop.c: I/O threads.
 */

struct ioloop {
  struct iscsi_target *t;
  pthread_t thread;
  bool started;
  int epfd, wakefd;
  struct io_source wake_src;
  atomic_bool stopping;
  pthread_mutex_t lock;         /* protects incoming */
  struct iscsi_conn *incoming;  /* handed over, not yet registered */
  /* the loop thread only: */
  struct iscsi_conn *conns;     /* registered connections */
  bool reap;                    /* some of them were closed */
  uint64_t last_tick;
};

int ioloop_init (struct ioloop *l, struct iscsi_target *t);
int ioloop_start (struct ioloop *l);
void ioloop_stop (struct ioloop *l);      /* closes its connections */
void ioloop_destroy (struct ioloop *l);
void ioloop_wake (struct ioloop *l);
/* Hand CONN over to loop L (any thread). */
void ioloop_add_conn (struct ioloop *l, struct iscsi_conn *c);
int ioloop_add_listener (struct ioloop *l, struct portal *p);

/*----------------------------------------------------------------------
 * session.c
 */

struct iscsi_session {
  uint16_t tsih;
  uint64_t isid;
  bool discovery;
  struct iscsi_params params;   /* negotiated */
  char initiator[ISCSI_NAME_MAX + 1];
  char initiator_port[ISCSI_NAME_MAX + 32];
  char target[ISCSI_NAME_MAX + 1];
  char vdisk[ISCSI_NAME_MAX + 1];
  bool chap;
  struct scsi_lu *lu;           /* normal sessions */
  struct scsi_itl *itl;
  /* CmdSN window (task_lock) */
  uint32_t exp_cmdsn;
  atomic_uint max_cmdsn;        /* read by senders without task_lock */
  atomic_uint exp_cmdsn_pub;    /* exp_cmdsn, for senders */
  unsigned outstanding;         /* non-immediate tasks not finished */
  atomic_uint_fast64_t commands;
};

/* Set up the session of C after a successful login L: allocate a
 * TSIH, reinstate (close) an older session of the same initiator
 * port, open and attach the logical unit.  Returns 0 or a Login status
 * (sm_error logged). */
uint16_t session_create (struct iscsi_conn *c, const struct login *l);
void session_destroy (struct iscsi_target *t, struct iscsi_session *s);
/* The window after the outstanding count changed (task_lock held). */
void session_update_window (struct iscsi_session *s);
/* Is TSIH in use by a live session of this ISID and initiator? */
bool session_tsih_in_use (struct iscsi_target *t, uint16_t tsih);

/*----------------------------------------------------------------------
 * conn.c: connections, the PDU reader and the writer.
 */

enum conn_state {
  CONN_LOGIN,                   /* reading Login Requests */
  CONN_FULL_FEATURE,
  CONN_LOGOUT,                  /* Logout received: no new commands */
  CONN_CLOSED,                  /* closed by its I/O thread */
};

enum rx_state {
  RX_BHS,                       /* reading the 48-byte BHS */
  RX_HEADER,                    /* AHS and header digest */
  RX_FRAME,                     /* the rest of a PDU read whole */
  RX_DATA,                      /* a data segment into a task buffer */
  RX_TRAILER,                   /* its padding and data digest */
};

/* One buffer waiting to be written. */
struct outbuf {
  struct outbuf *next;
  size_t len, off;
  uint8_t data[];
};

/* What to do once the tasks a waiter waits for are gone. */
enum waiter_action {
  WAIT_ANSWER,                  /* only send the answer */
  WAIT_LU_RESET,                /* scsi_lu_reset, then answer */
  WAIT_TASK_SET_CLEARED,        /* scsi_lu_task_set_cleared, then answer */
};

/* A TMF or Logout answer waiting for tasks to finish (task_lock). */
struct waiter {
  unsigned count;               /* tasks still to finish */
  enum waiter_action action;
  struct iscsi_pdu pdu;         /* the answer */
  bool close;                   /* close the connection after it */
};

/* One PDU to send: the header fields, and data by pointer. */
struct out_pdu {
  struct iscsi_pdu pdu;
  bool statsn;                  /* takes a StatSN (advance it) */
  bool sn;                      /* carries StatSN/ExpCmdSN/MaxCmdSN */
};

struct iscsi_conn {
  struct io_source src;         /* first: epoll data points here */
  struct iscsi_target *t;
  struct ioloop *loop;
  struct iscsi_conn *next;      /* t->conns (t->lock) */
  struct iscsi_conn *loop_next; /* loop->conns (loop thread) */
  int fd;
  atomic_uint refs;
  atomic_bool kill;             /* close requested (any thread) */
  atomic_bool close_after_flush;  /* close once the queue is sent */
  atomic_bool closed;           /* conn_close ran */
  enum conn_state state;        /* the I/O thread */
  struct sockaddr_storage local_addr;
  char local[64], peer[64];
  uint16_t cid;

  /* reader (I/O thread) */
  enum rx_state rx;
  struct iscsi_pdu_limits rx_lim;
  struct iscsi_frame frame;
  uint8_t hdr[ISCSI_HEADER_MAX];
  size_t got;                   /* bytes of the current part */
  uint8_t *pdu_buf;             /* RX_FRAME: the whole PDU */
  size_t pdu_buf_cap;
  uint8_t *data_dst;            /* RX_DATA: destination, or NULL: discard */
  struct iscsi_task *data_task; /* the task the data goes to */
  struct iscsi_pdu data_pdu;    /* the decoded header of that PDU */
  uint8_t trailer[8];
  uint8_t *discard;             /* scratch for discarded data */
  uint8_t *rxbuf;               /* bytes read ahead from the socket: */
  size_t rx_head, rx_tail;      /* [rx_head, rx_tail) not yet used */
  bool rx_drain;                /* use up rxbuf, recv nothing more */
  /* quick commands the I/O thread runs itself after a read batch (see
   * task.c): collected only while inline_ok */
  bool inline_ok;
  struct iscsi_task *inline_head, **inline_tail;
  uint64_t inline_off_until;    /* monotonic ms: no inline commands
                                 * before (the backend was slow) */
  /* their answers, sent together at the end (tasks released then) */
  struct out_pdu reply[ISCSI_REPLY_BATCH];
  size_t n_reply;
  struct iscsi_task *replied[ISCSI_REPLY_BATCH];
  size_t n_replied;

  /* login */
  struct login login;
  struct login_env login_env;
  uint64_t login_deadline;      /* monotonic ms */

  /* text request continuation (I/O thread) */
  struct iscsi_text_acc text_acc;
  struct iscsi_text_builder text_resp;
  size_t text_off;
  uint32_t text_itt, text_ttt;

  /* NOP ping (I/O thread) */
  uint64_t last_rx;             /* monotonic ms of the last PDU */
  uint64_t ping_sent;           /* 0: no ping outstanding */
  uint32_t ping_ttt;

  /* writer (send_lock) */
  pthread_mutex_t send_lock;
  struct outbuf *outq, **outq_tail;
  bool want_out;                /* EPOLLOUT armed */
  bool dead;                    /* nothing more is sent */
  struct iscsi_pdu_limits tx_lim;
  uint32_t statsn;
  bool digests_pending;         /* switch digests after the next send */
  struct iscsi_pdu_limits pending_rx, pending_tx;

  /* session and tasks (task_lock) */
  struct iscsi_session *sess;
  pthread_mutex_t task_lock;
  struct iscsi_task *tasks[ISCSI_TASKS_MAX];  /* the pool, lazily */
  struct iscsi_task *free_tasks;
  struct iscsi_task *active;    /* every task not free */
  struct iscsi_task *held;      /* waiting for their CmdSN, sorted */
  unsigned n_active;
  struct waiter *logout;        /* a Logout waiting for tasks */
};

struct iscsi_conn *conn_new (struct iscsi_target *t, int fd);
void conn_ref (struct iscsi_conn *c);
void conn_unref (struct iscsi_conn *c);
/* Readable: read and handle PDUs until EAGAIN (I/O thread). */
void conn_on_readable (struct iscsi_conn *c);
/* Writable: flush the queue (I/O thread). */
void conn_on_writable (struct iscsi_conn *c);
/* Close the connection (its I/O thread): abort tasks, stop I/O. */
void conn_close (struct iscsi_conn *c, const char *why);
/* Ask the I/O thread to close the connection (any thread). */
void conn_request_close (struct iscsi_conn *c);

/* Send N PDUs in order (any thread).  Fields StatSN, ExpCmdSN and
 * MaxCmdSN are filled in here.  Returns 0, or -1 if the connection is
 * dead or failed (it is then closed by its I/O thread). */
int conn_send (struct iscsi_conn *c, struct out_pdu *pdus, size_t n);
/* Send a Reject of the PDU whose BHS is BHS. */
void conn_reject (struct iscsi_conn *c, uint8_t reason, const uint8_t *bhs);
/* Handle a decode error of a PDU with BHS per iscsi_pdu_error_answer:
 * returns -1 if the connection was closed. */
int conn_pdu_error (struct iscsi_conn *c, enum iscsi_pdu_error e,
                    const uint8_t *bhs);
const char *conn_state_to_string (enum conn_state s);
const char *rx_state_to_string (enum rx_state s);

/*----------------------------------------------------------------------
 * task.c: SCSI commands, Data-Out, R2T, Data-In, SCSI Response.
 */

enum task_state {
  TASK_FREE,
  TASK_HELD,                    /* waiting for its CmdSN */
  TASK_DATA,                    /* waiting for Data-Out */
  TASK_QUEUED,                  /* in the worker queue */
  TASK_RUNNING,                 /* a worker runs it */
  TASK_RESPONDING,              /* done, its answer is being sent */
};

struct r2t {
  bool used;
  uint32_t ttt, offset, len, got, datasn;
};

struct iscsi_task {
  struct iscsi_conn *conn;
  struct iscsi_task *next;      /* free list, held list, worker queue */
  struct iscsi_task *anext, *aprev;   /* conn->active */
  uint16_t index;               /* in conn->tasks */
  uint8_t gen;                  /* changes at each reuse (TTTs) */
  enum task_state state;
  bool aborted;
  struct waiter *waiter;        /* an answer waiting for this task */
  /* the command */
  uint32_t itt, cmdsn;
  bool immediate, read, write, bidi;
  size_t cdb_len;
  uint8_t attr;
  uint32_t datain_pdus;         /* Data-In PDUs sent (ExpDataSN) */
  uint64_t lun;
  uint8_t cdb[ISCSI_CDB_MAX];
  uint32_t exp_len;             /* ExpectedDataTransferLength */
  uint32_t read_len;            /* expected Data-In bytes */
  /* Data-Out */
  uint8_t *buf;
  size_t buf_cap;
  uint32_t out_got;             /* bytes received, in order */
  uint32_t unsol_len;           /* unsolicited bytes expected (Data-Out) */
  uint32_t unsol_got;
  uint32_t unsol_datasn;
  uint32_t r2t_next;            /* first byte not yet asked for */
  uint32_t r2tsn;
  struct r2t r2ts[ISCSI_R2T_MAX];
  /* the SCSI layer */
  struct scsi_task st;
  uint8_t sense_seg[2 + SCSI_SENSE_MAX];  /* the answer's sense data */
};

/* A SCSI Command whose header was decoded (I/O thread).  Sets
 * *DST / *DST_LEN where its immediate data goes (NULL: discard).
 * Returns -1 if the connection must close. */
int task_on_command (struct iscsi_conn *c, const struct iscsi_pdu *p,
                     const uint8_t *bhs, uint8_t **dst,
                     struct iscsi_task **task);
/* Its immediate data arrived (OK false: data digest error). */
int task_on_command_data (struct iscsi_conn *c, struct iscsi_task *task,
                          const struct iscsi_pdu *p, bool ok,
                          const uint8_t *bhs);
/* A Data-Out header: *DST where its data goes (NULL: discard). */
int task_on_data_out (struct iscsi_conn *c, const struct iscsi_pdu *p,
                      const uint8_t *bhs, uint8_t **dst,
                      struct iscsi_task **task);
/* Its data arrived. */
int task_on_data_out_done (struct iscsi_conn *c, struct iscsi_task *task,
                           const struct iscsi_pdu *p, bool ok,
                           const uint8_t *bhs);
/* Run (worker thread): execute and answer. */
void task_run (struct iscsi_task *task);
/* Start collecting quick commands to run on the I/O thread (its
 * reader, before a read batch). */
void task_inline_begin (struct iscsi_conn *c);
/* Run the quick commands collected since task_inline_begin, in order
 * (the I/O thread, after the batch, even if the connection closed). */
void task_inline_run (struct iscsi_conn *c);
/* Return the task to its pool (task_lock held); wakes its waiter. */
void task_release_locked (struct iscsi_task *task);
/* Free every task of a closing connection that no worker holds
 * (task_lock held); the others are marked aborted. */
void task_abort_all_locked (struct iscsi_conn *c);
void task_pool_free (struct iscsi_conn *c);
/* The ExpCmdSN advanced: dispatch the held tasks now in order. */
void task_dispatch_held (struct iscsi_conn *c);
const char *task_state_to_string (enum task_state s);

/*----------------------------------------------------------------------
 * tmf.c, nop.c, textreq.c, logout (conn.c): full feature requests.
 */

int tmf_on_request (struct iscsi_conn *c, const struct iscsi_pdu *p);
/* A task W waits for finished (task_lock held): once none is left,
 * send W's answer and free W. */
void waiter_task_done (struct iscsi_conn *c, struct waiter *w);

int nop_on_out (struct iscsi_conn *c, const struct iscsi_pdu *p);
/* Timer tick (I/O thread): ping idle, drop unanswering connections. */
void nop_tick (struct iscsi_conn *c, uint64_t now_ms);

int textreq_on_request (struct iscsi_conn *c, const struct iscsi_pdu *p,
                        const uint8_t *bhs);
int logout_on_request (struct iscsi_conn *c, const struct iscsi_pdu *p);

/*----------------------------------------------------------------------
 * workers.c
 */

struct workers {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct iscsi_task *head, *tail;
  bool stopping;
  pthread_t *threads;
  unsigned n, started;
};

int workers_init (struct workers *w, unsigned n);
int workers_start (struct workers *w);
void workers_stop (struct workers *w);   /* runs what is queued first */
void workers_destroy (struct workers *w);
void workers_queue (struct workers *w, struct iscsi_task *task);

/*----------------------------------------------------------------------
 * target.c
 */

struct iscsi_target {
  struct iscsi_target_hooks hooks;
  void *h;
  char **portal_names;
  size_t n_portals;
  char *prefix;
  unsigned nop_interval, nop_timeout;
  struct iscsi_target_config cfg;
  struct login_env login_env;
  struct portal *portals;
  struct ioloop *loops;
  unsigned n_loops;
  atomic_uint next_loop;
  struct workers workers;
  bool running;
  pthread_mutex_t lock;         /* protects the fields below */
  struct iscsi_conn *conns;
  bool stopping;
  unsigned n_conns, n_logins;
  uint16_t next_tsih;
};

/* Remove C from the target's list (when freed). */
void target_forget_conn (struct iscsi_target *t, struct iscsi_conn *c);

uint64_t iscsi_now_ms (void);   /* monotonic clock */
uint64_t iscsi_now_us (void);

#endif /* SEGMAP_ISCSI_TARGET_INTERNAL_H */
