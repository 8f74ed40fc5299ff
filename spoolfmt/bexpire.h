/*
 * bexpire.h - the outbox part of the lifetime sweeper (bexpire.c, rules
 * in qexpire.h): bundles published for a uucp or ssh customer that
 * nobody took get delayed and failed DSNs like queue entries.
 */
#ifndef BEXPIRE_H
#define BEXPIRE_H

#include "qexpire.h"

/* bexpire_outbox - sweep the customer's outbox (its queue lock held). */
enum result bexpire_outbox(const struct qexpire_opts *o,
	    struct qexpire_stats *st);

#endif
