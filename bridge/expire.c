/*
 * expire.c - the configuration side of the lifetime sweeper (see
 * expire.h): which warn-after and expire-after apply to a queue, and
 * how often it is looked at (an eighth of the shorter one, so a DSN is
 * at most that late, within 1 s .. EXPIRE_TICK_MAX).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dsn.h"
#include "log.h"
#include "expire.h"

/* lifetimes - the warn-after and expire-after of name; -1 if unknown. */
static int
lifetimes(const struct bridge_conf *c, const char *name, long *warn,
    long *expire)
{
	const struct customer *cu;

	*warn = c->queue.warn_after;
	*expire = c->queue.expire_after;
	if (strcmp(name, DSN_QUEUE) == 0)
		return 0;
	if ((cu = conf_customer(c, name)) == NULL)
		return -1;
	if (cu->warn_after > 0)
		*warn = cu->warn_after;
	if (cu->expire_after > 0)
		*expire = cu->expire_after;
	return 0;
}

/* other_lifetimes - qexpire_opts' lifetimes callback: arg is the config. */
static int
other_lifetimes(void *arg, const char *name, long *warn, long *expire)
{
	if (strcmp(name, DSN_QUEUE) == 0)
		return -1;
	return lifetimes(arg, name, warn, expire);
}

long
expire_tick(const struct bridge_conf *c, const char *name)
{
	long warn, expire, t;

	if (lifetimes(c, name, &warn, &expire) == -1)
		return EXPIRE_TICK_MAX;
	t = warn > 0 && (expire <= 0 || warn < expire) ? warn : expire;
	t = t > 0 ? t / 8 : EXPIRE_TICK_MAX;
	return t < 1 ? 1 : t > EXPIRE_TICK_MAX ? EXPIRE_TICK_MAX : t;
}

enum result
expire_queue(const struct bridge_conf *c, const char *name, time_t now,
    struct qexpire_stats *st)
{
	struct qexpire_opts o;
	enum result rs;

	memset(st, 0, sizeof(*st));
	memset(&o, 0, sizeof(o));
	if (lifetimes(c, name, &o.warn_after, &o.expire_after) == -1)
		return RS_PERM;
	o.spool = c->spool;
	o.customer = name;
	o.hostname = c->hostname;
	o.postmaster = c->postmaster;
	o.now = now;
	o.lifetimes = other_lifetimes;
	o.lifetimes_arg = (void *)(uintptr_t)c;
	rs = qexpire_run(&o, st);
	if (st->warned || st->expired || st->bundles || st->corrupt ||
	    st->skipped)
		log_info("%s: expire: %u entries, %u warned, %u expired, "
		    "%u bundles expired, %u damaged, %u DSNs, %u left for "
		    "later", name, st->entries, st->warned, st->expired,
		    st->bundles, st->corrupt, st->dsns, st->skipped);
	return rs;
}
