/* admin: the admin API (status JSON, runtime server state) on the admin
 * socket, served from the checker's event loop. */
#ifndef CERB_ADMIN_H
#define CERB_ADMIN_H

#include <stddef.h>

#include "event.h"
#include "worker.h"

struct admin;

/* Starts accepting on a->admin_fd (the caller checked it is >= 0).
 * on_idle(arg) runs when a drain has finished its last connection.
 * NULL on failure (logged). */
struct admin *admin_start(struct ev_loop *loop, struct worker_args *a,
                          void (*on_idle)(void *), void *arg);
/* Graceful stop: no new connection is accepted; those in progress end
 * (bounded by their timeouts), then on_idle runs. */
void admin_drain(struct admin *ad);
size_t admin_conns(const struct admin *ad);
/* Closes everything at once. */
void admin_free(struct admin *ad);

#endif
