/*
 * bexpire.h - the outbox part of the lifetime sweeper (bexpire.c, rules
 * in qexpire.h): bundles published for a uucp or ssh customer that
 * nobody took get delayed and failed DSNs like queue entries.
 */
#ifndef BEXPIRE_H
#define BEXPIRE_H

#include "qexpire.h"

#define BEXPIRE_COPIES_MAX	32	/* other outboxes' copies taken along */

/* bexpire_outbox - sweep the customer's outbox (its queue lock held). */
enum result bexpire_outbox(const struct qexpire_opts *o,
	    struct qexpire_stats *st);

/*
 * The copies of one message (by queue id) in other customers' outboxes,
 * for the one delayed DSN about it (qexpire.h).
 *
 * bexpire_copies - the copies of message qid (arrived at arrival) in
 * the outboxes of customers other than o->customer that are due for a
 * delayed DSN by their customer's lifetimes (o->lifetimes) and not
 * warned about yet, each with its queue locked (tried for a second;
 * a busy one is left to its own sweep).  NULL: none (or no lifetimes).
 * bexpire_copies_rcpts - how many recipients they have;
 * bexpire_copies_select - those whose NOTIFY asks for delays, into rc,
 * with diag; returns how many;
 * bexpire_copies_first - the customer that sorts first, or NULL;
 * bexpire_copies_mark - once the DSN is committed (or nobody was owed
 * one): each bundle's marker records qid (spoolfmt(5));
 * bexpire_copies_free - unlock and free (NULL is fine).
 */
struct bexpire_copies;
struct bexpire_copies *bexpire_copies(const struct qexpire_opts *o,
	    const char *qid, time_t arrival);
int	bexpire_copies_rcpts(const struct bexpire_copies *bc);
int	bexpire_copies_select(const struct bexpire_copies *bc,
	    const char *diag, struct dsn_rcpt *rc);
const char *bexpire_copies_first(const struct bexpire_copies *bc);
void	bexpire_copies_mark(const struct qexpire_opts *o,
	    const struct bexpire_copies *bc, const char *qid);
void	bexpire_copies_free(struct bexpire_copies *bc);

#endif
