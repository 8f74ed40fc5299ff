/*
 * expire.h - queue lifetimes for bridged's expire jobs and "bridgectl
 * expire": the configured warn-after and expire-after of a customer
 * (its own, else the queue section's) applied by the sweeper
 * (qexpire.h) to its queue and outbox, or to the _dsn queue.
 */
#ifndef EXPIRE_H
#define EXPIRE_H

#include <time.h>

#include "conf.h"
#include "qexpire.h"

/*
 * expire_queue - sweep the queue name (a customer or DSN_QUEUE) of c
 * at time now; one summary line is logged when anything happened.
 * RS_PERM: no such customer.  Otherwise like qexpire_run.
 */
enum result expire_queue(const struct bridge_conf *c, const char *name,
	    time_t now, struct qexpire_stats *st);
/* expire_tick - seconds between sweeps of name (1 to EXPIRE_TICK_MAX). */
long	expire_tick(const struct bridge_conf *c, const char *name);

#define EXPIRE_TICK_MAX	300

#endif
