/* segmap: the in-process transport (transport-local.c). */
#ifndef SEGMAP_TRANSPORT_LOCAL_H
#define SEGMAP_TRANSPORT_LOCAL_H

struct agent;
struct controller;
struct transport;

/* Wire an in-process agent and controller together through TR. */
void transport_local_init (struct transport *tr, struct agent *a,
                           struct controller *c);

#endif /* SEGMAP_TRANSPORT_LOCAL_H */
