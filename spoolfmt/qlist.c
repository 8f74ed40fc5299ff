/*
 * qlist.c - the operator's view of the queues (bridgectl queue): a
 * mailq-like listing and a per-customer summary.  See qlist.h.
 *
 * Invariants: the layout is fixed-width and stable (golden files in
 * regress/qlist/ hold it); "now" comes from the caller, so the same
 * spool always renders the same text; an entry that does not parse is
 * shown with its reason, never skipped; every string from an envelope
 * passes q_sanitize before it reaches a terminal.  The summary reads
 * directories and inodes only (spool_usage), never an entry.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qint.h"
#include "qlist.h"

#define ID_W	26	/* fits 13 + 1 + 7 + 1 + 4 */
#define SIZE_W	8
#define AGE_W	9
#define RCPT_INDENT (ID_W + 1 + SIZE_W + 1 + AGE_W + 2)

#define CUST_W	16
#define COUNT_W	10

struct plist {
	FILE   *out;
	const char *spool, *customer;
	time_t	now;
	long	count;		/* entries listed */
	long	bad;		/* of which did not parse */
	uint64_t bytes;		/* sizes shown */
};

static void
print_header(FILE *out)
{
	fprintf(out, "%-*s %*s %*s  %s\n", ID_W, "-Queue ID-----------------",
	    SIZE_W, "--Size--", AGE_W, "---Age---",
	    "-Sender/Recipient-------");
}

static const char *
age_of(time_t then, time_t now, char *buf, size_t len)
{
	return age_format((long)(now - then), buf, len);
}

/* print_bad - one line for an entry that does not parse, with why. */
static void
print_bad(struct plist *pl, const char *id, const char *path,
    const char *why)
{
	char sz[16], age[16], safe[512];
	struct stat st;

	if (lstat(path, &st) == 0) {
		size_format((uint64_t)st.st_size, sz, sizeof(sz));
		age_of(st.st_mtime, pl->now, age, sizeof(age));
		pl->bytes += (uint64_t)st.st_size;
	} else {
		snprintf(sz, sizeof(sz), "?");
		snprintf(age, sizeof(age), "?");
	}
	fprintf(pl->out, "%-*s %*s %*s  *** unreadable: %s\n\n", ID_W, id,
	    SIZE_W, sz, AGE_W, age, q_sanitize(why, safe, sizeof(safe)));
}

/* print_attempts - "(3 attempts, last 1h02m ago, next in 5m00s)". */
static void
print_attempts(struct plist *pl, const struct qenv *env)
{
	char a[16];

	if (env->attempts == 0)
		return;
	fprintf(pl->out, "%*s(%d attempt%s", RCPT_INDENT, "", env->attempts,
	    env->attempts == 1 ? "" : "s");
	if (env->last_attempt != 0)
		fprintf(pl->out, ", last %s ago",
		    age_of(env->last_attempt, pl->now, a, sizeof(a)));
	if (env->next_attempt > pl->now)
		fprintf(pl->out, ", next in %s",
		    age_format((long)(env->next_attempt - pl->now), a,
		    sizeof(a)));
	fprintf(pl->out, ")\n");
}

static void
print_entry(struct plist *pl, const struct qenv *env)
{
	char sz[16], age[16], safe[QENV_LINE_MAX + 1];
	int i;

	size_format(env->size, sz, sizeof(sz));
	age_of(env->arrival, pl->now, age, sizeof(age));
	fprintf(pl->out, "%-*s %*s %*s  %s\n", ID_W, env->id, SIZE_W, sz,
	    AGE_W, age, env->sender[0] == '\0' ? "<>" :
	    q_sanitize(env->sender, safe, sizeof(safe)));
	print_attempts(pl, env);
	for (i = 0; i < env->nrcpts; i++)
		fprintf(pl->out, "%*s%s\n", RCPT_INDENT, "",
		    q_sanitize(env->rcpts[i], safe, sizeof(safe)));
	fprintf(pl->out, "\n");
	pl->bytes += env->size;
}

static int
list_one(void *arg, const char *id, const char *path)
{
	struct plist *pl = arg;
	struct qenv env;
	struct stat st;
	char err[512];

	if (qenv_load(pl->spool, pl->customer, id, &env, NULL, err,
	    sizeof(err)) != RS_OK) {
		if (lstat(path, &st) == -1 && errno == ENOENT)
			return 0;	/* delivered meanwhile */
		if (pl->count == 0)
			print_header(pl->out);
		print_bad(pl, id, path, err);
		pl->bad++;
	} else {
		if (pl->count == 0)
			print_header(pl->out);
		print_entry(pl, &env);
		qenv_free(&env);
	}
	pl->count++;
	return 0;
}

static void
print_footer(FILE *out, const struct plist *pl)
{
	char sz[16];

	if (pl->count == 0) {
		fprintf(out, "-- no messages in customer %s\n", pl->customer);
		return;
	}
	fprintf(out, "-- %ld message%s", pl->count, pl->count == 1 ? "" : "s");
	if (pl->bad > 0)
		fprintf(out, " (%ld unreadable)", pl->bad);
	fprintf(out, ", %s in customer %s\n",
	    size_format(pl->bytes, sz, sizeof(sz)), pl->customer);
}

/* customers_all - every customer directory under <spool>/q, sorted. */
static int
customers_all(const char *spool, char ***list, int *n)
{
	if (spool_customers(spool, list, n) == -1) {
		log_warn("%s/q: cannot list customers", spool);
		return -1;
	}
	return 0;
}

long
qlist_print(FILE *out, const char *spool, const char *const *customers,
    int ncustomers, time_t now)
{
	struct plist pl;
	char **all = NULL, sz[16];
	long total = 0, rc = 0;
	uint64_t bytes = 0;
	int i;

	if (customers == NULL) {
		if (customers_all(spool, &all, &ncustomers) == -1)
			return -1;
		customers = (const char *const *)all;
	}
	for (i = 0; i < ncustomers; i++) {
		memset(&pl, 0, sizeof(pl));
		pl.out = out;
		pl.spool = spool;
		pl.customer = customers[i];
		pl.now = now;
		if (i > 0)
			fprintf(out, "\n");
		if (spool_list(spool, customers[i], list_one, &pl) == -1) {
			log_warn("%s: cannot list the queue", customers[i]);
			fprintf(out, "-- customer %s: cannot list the queue: "
			    "%s\n", customers[i], strerror(errno));
			rc = -1;
			continue;
		}
		print_footer(out, &pl);
		total += pl.count;
		bytes += pl.bytes;
	}
	if (ncustomers > 1)
		fprintf(out, "\n-- total: %ld message%s, %s in %d customers\n",
		    total, total == 1 ? "" : "s",
		    size_format(bytes, sz, sizeof(sz)), ncustomers);
	spool_customers_free(all, all ? ncustomers : 0);
	if (fflush(out) == EOF || ferror(out))
		rc = -1;
	return rc == -1 ? -1 : total;
}

static void
summary_line(FILE *out, const char *name, const struct qusage *u,
    time_t now)
{
	char sz[16], age[16];

	fprintf(out, "%-*s %*llu %*s %*s\n", CUST_W, name, COUNT_W,
	    (unsigned long long)u->count, AGE_W,
	    size_format(u->bytes, sz, sizeof(sz)), AGE_W,
	    u->count ? age_format((long)(now - u->oldest), age, sizeof(age)) :
	    "-");
}

long
qlist_summary(FILE *out, const char *spool, const char *const *customers,
    int ncustomers, time_t now)
{
	struct qusage u, tot;
	char **all = NULL;
	long rc = 0;
	int i;

	if (customers == NULL) {
		if (customers_all(spool, &all, &ncustomers) == -1)
			return -1;
		customers = (const char *const *)all;
	}
	memset(&tot, 0, sizeof(tot));
	fprintf(out, "%-*s %*s %*s %*s\n", CUST_W, "-Customer-------",
	    COUNT_W, "-Messages-", AGE_W, "---Size--", AGE_W, "--Oldest-");
	for (i = 0; i < ncustomers; i++) {
		if (spool_usage(spool, customers[i], &u) != RS_OK) {
			log_warn("%s: cannot count the queue", customers[i]);
			fprintf(out, "%-*s *** cannot count the queue: %s\n",
			    CUST_W, customers[i], strerror(errno));
			rc = -1;
			continue;
		}
		summary_line(out, customers[i], &u, now);
		tot.count += u.count;
		tot.bytes += u.bytes;
		if (u.count && (tot.oldest == 0 || u.oldest < tot.oldest))
			tot.oldest = u.oldest;
	}
	fprintf(out, "%.*s %.*s %.*s %.*s\n", CUST_W, "----------------",
	    COUNT_W, "----------", AGE_W, "---------", AGE_W, "---------");
	summary_line(out, "total", &tot, now);
	spool_customers_free(all, all ? ncustomers : 0);
	if (fflush(out) == EOF || ferror(out))
		rc = -1;
	return rc == -1 ? -1 : (long)tot.count;
}
