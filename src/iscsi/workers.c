/* segmap: the worker pool that runs SCSI commands (task_run) so that
 * the I/O threads never block on storage.
 *
 * One FIFO queue under one lock; workers sleep on a condition variable.
 * Stopping lets the workers empty the queue first (aborted tasks are
 * skipped quickly by task_run), so every task -- and the connection
 * reference it holds -- is released before the threads are joined.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

int
workers_init (struct workers *w, unsigned n)
{
  w->head = w->tail = NULL;
  w->stopping = false;
  w->n = n;
  w->started = 0;
  pthread_mutex_init (&w->lock, NULL);
  pthread_cond_init (&w->cond, NULL);
  w->threads = calloc (n, sizeof *w->threads);
  if (w->threads == NULL) {
    sm_error ("iscsi: out of memory for %u workers", n);
    return -1;
  }
  return 0;
}

static struct iscsi_task *
next_task (struct workers *w)
{
  struct iscsi_task *task;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&w->lock);
  while (w->head == NULL && !w->stopping)
    pthread_cond_wait (&w->cond, &w->lock);
  task = w->head;
  if (task != NULL) {
    w->head = task->next;
    if (w->head == NULL)
      w->tail = NULL;
    task->next = NULL;
  }
  return task;
}

static void *
worker_thread (void *arg)
{
  struct workers *w = arg;
  struct iscsi_task *task;

  pthread_setname_np (pthread_self (), "sm-iscsi-work");
  while ((task = next_task (w)) != NULL)
    task_run (task);
  return NULL;
}

int
workers_start (struct workers *w)
{
  for (; w->started < w->n; w->started++) {
    int err = pthread_create (&w->threads[w->started], NULL, worker_thread,
                              w);

    if (err != 0) {
      errno = err;
      sm_error ("iscsi: cannot start a worker thread: %m");
      return -1;
    }
  }
  return 0;
}

void
workers_queue (struct workers *w, struct iscsi_task *task)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&w->lock);
  task->next = NULL;
  if (w->tail != NULL)
    w->tail->next = task;
  else
    w->head = task;
  w->tail = task;
  pthread_cond_signal (&w->cond);
}

void
workers_stop (struct workers *w)
{
  unsigned i;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&w->lock);
    w->stopping = true;
    pthread_cond_broadcast (&w->cond);
  }
  for (i = 0; i < w->started; i++)
    pthread_join (w->threads[i], NULL);
  w->started = 0;
}

void
workers_destroy (struct workers *w)
{
  free (w->threads);
  w->threads = NULL;
  pthread_mutex_destroy (&w->lock);
  pthread_cond_destroy (&w->cond);
}
