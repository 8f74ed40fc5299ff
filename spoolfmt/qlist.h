/*
 * qlist.h - the operator's view of the queues (bridgectl queue):
 * a mailq-like listing and a per-customer summary.
 */
#ifndef QLIST_H
#define QLIST_H

#include <stdio.h>
#include <time.h>

/*
 * qlist_print - one block per entry, oldest first: id, human size,
 * age, sender, then the recipients indented; customer NULL = all of
 * customers[0..n).  Returns the number of entries listed, -1 on error.
 */
long	qlist_print(FILE *out, const char *spool, const char *const *customers,
	    int ncustomers, time_t now);
/*
 * qlist_summary - one line per customer: name, count, bytes, age of
 * the oldest entry, and a total line.  Uses only readdir and stat.
 */
long	qlist_summary(FILE *out, const char *spool,
	    const char *const *customers, int ncustomers, time_t now);

#endif
