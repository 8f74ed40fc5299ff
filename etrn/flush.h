/*
 * flush.h - deliver one customer's queue over SMTP (or LMTP): the
 * delivery behind ETRN, "bridgectl flush" and scheduled retries.
 *
 * Entries go oldest first, many per connection, over
 * flush-connections connections at once, widened up to
 * flush-connections-max while each message costs a round trip that
 * leaves the link idle (see flush.c).  Per recipient: 2xx is done;
 * 4xx stays queued (attempts + 1; with flush_opts.backoff, also its own
 * next-attempt); 5xx is returned to the sender with a
 * DSN (dsn.h) and is done.  An entry is rewritten with the recipients
 * left, or removed once none is left, only after any DSN it needs is
 * committed; so a crash loses nothing and re-sends at most what was in
 * flight.  While a flush runs it holds an exclusive flock(2) on the
 * customer's queue directory <spool>/q/<customer>/; anything else that
 * takes entries out of that queue should take the same lock.
 */
#ifndef FLUSH_H
#define FLUSH_H

#include "conf.h"
#include "smtpc.h"

/*
 * BDAT messages in flight per connection (the octet bound stays
 * smtpc's 1 MiB): small messages must still fill a long thin link's
 * bandwidth-delay product (2 Mbit/s x 600 ms is 150 KB, 32 messages
 * of 4 KB are not).
 */
#define FLUSH_WINDOW_MSGS	256

struct flush_target {
	const char *const *hosts;	/* "host", "host:port", "[v6]:port" */
	int	nhosts;			/* tried in order until one works */
	const char *helo;		/* NULL: the config's hostname */
	const char *one[1];		/* storage for a single peer */
	char  **mx;			/* storage for MX hosts (mx.h) */
};

struct flush_opts {
	struct smtpc_opts smtp;		/* timeouts, LMTP, windows */
	int	connections;		/* 0: the customer's flush-connections */
	int	connections_max;	/* 0: the customer's ...-max, or
					   connections when that is set */
	/*
	 * > 0: every entry keeps its own schedule (its next-attempt):
	 * one whose time has not come is left alone; one left queued
	 * (4xx, or no connection) gets next-attempt = now + backoff,
	 * doubled per attempt it has had, up to backoff_max.  0: every
	 * entry is tried (the customer asked).
	 */
	long	backoff;
	long	backoff_max;
};

struct flush_stats {
	long	entries;		/* entries looked at */
	long	done;			/* entries finished and removed */
	long	sent;			/* recipients delivered */
	long	deferred;		/* recipients left queued */
	long	bounced;		/* recipients returned (5xx) */
	long	dsns;			/* DSNs queued */
	long	connections;		/* connections made */
	int	busy;			/* another flush holds the queue */
};

/*
 * flush_opts_default - RFC timeouts, SMTP, the customer's connections,
 * FLUSH_WINDOW_MSGS.
 */
void	flush_opts_default(struct flush_opts *o);
/*
 * flush_target_conf - where the customer's mail goes: its deliver-to
 * list, peer ("addr" or "[addr]:port", the ETRN client) for deliver-to
 * = "peer", or for "mx" the MX hosts of domain (the customer's domain
 * an ETRN named; NULL: its first plain route key, mx_domain) not
 * preferred less than conf's hostname (mx.h).  RS_PERM (err says why) when there is nowhere to
 * go: no peer given, no domain, no such domain, this hub is the best
 * MX; RS_TEMP when DNS fails.  t points into cu and peer (and, for a
 * peer, into itself: do not copy it); flush_target_free releases what
 * an MX lookup allocated.
 */
enum result flush_target_conf(const struct bridge_conf *conf,
	    const struct customer *cu, const char *peer, const char *domain,
	    struct flush_target *t, char *err, size_t errlen);
void	flush_target_free(struct flush_target *t);
/*
 * flush_customer - deliver every entry in the customer's queue to t.
 * RS_OK: every entry was delivered or bounced; RS_TEMP: some stay
 * queued (deferred, no connection, or st->busy); RS_PERM: the
 * customer or target is unusable.  Blocks until done; forks one
 * worker per connection when more than one is used.  st may be NULL.
 */
enum result flush_customer(const struct bridge_conf *conf,
	    const struct customer *cu, const struct flush_target *t,
	    const struct flush_opts *o, struct flush_stats *st);
/*
 * flush_lock - take the customer's queue lock (the one flush_customer
 * and the bundler take).  The open descriptor holding it, or -1: *busy
 * is 1 when somebody else holds it, else the queue could not be opened.
 */
int	flush_lock(const struct bridge_conf *conf, const struct customer *cu,
	    int *busy);
/*
 * flush_customer_conn - flush_customer over one connection that is
 * already open, greeted and past EHLO (ODMR: the customer's end of a
 * turned-round session).  lockfd is the caller's flush_lock; the lock
 * and the connection are released here (QUIT when it is still usable).
 * No reconnection: what is left stays queued.  RS_OK when every entry
 * was delivered or bounced, else RS_TEMP.
 */
enum result flush_customer_conn(const struct bridge_conf *conf,
	    const struct customer *cu, struct smtpc *c, int lockfd,
	    const struct flush_opts *o, struct flush_stats *st);

#endif
