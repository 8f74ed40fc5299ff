/*
 * dsn.h - delivery status notifications (RFC 3464, RFC 6522): compose
 * a multipart/report about failed, delayed, relayed or delivered
 * recipients, decide who may receive it, and queue it durably.
 *
 * Where DSNs go: the sender of a message is not a customer and the hub
 * has no outbound MTA of its own, so a DSN is an ordinary queue entry
 * (spoolfmt(5)) in the reserved queue DSN_QUEUE, <spool>/q/_dsn/,
 * with the null sender and the DSN's recipient.  bridged hands that
 * queue to its configured relay later, like any other queue.  A DSN is
 * committed (fsync'ed) before the entry it reports on is rewritten or
 * removed, so a crash can duplicate a DSN but never lose one.
 *
 * Never a DSN to the null sender; for a message that was itself
 * automatic (Auto-Submitted other than "no", or a delivery report) the
 * postmaster gets the copy instead (RFC 3464 section 2, RFC 3834).
 */
#ifndef DSN_H
#define DSN_H

#include <stddef.h>
#include <time.h>

#include "queue.h"
#include "util.h"

#define DSN_QUEUE	"_dsn"		/* reserved queue (customer) name */
#define DSN_HEADERS_MAX	65536		/* original header octets returned */
#define DSN_FULL_MAX	(1024 * 1024)	/* RET=FULL: a larger original gets
					   its headers only */

enum dsn_action {
	DSN_FAILED = 0,
	DSN_DELAYED,
	DSN_RELAYED,		/* to a server that does not do DSN */
	DSN_DELIVERED		/* to a final (LMTP) one that does not */
};

struct dsn_rcpt {
	const char *addr;		/* Final-Recipient, without < > */
	enum dsn_action action;
	const char *status;		/* "5.1.1" */
	const char *remote_mta;		/* host that answered, or NULL */
	const char *diag;		/* its reply "550 5.1.1 ...", or NULL;
					   "x-unix; ..." keeps its own type */
	time_t	last_attempt;		/* 0 = none */
	time_t	retry_until;		/* DSN_DELAYED: Will-Retry-Until */
	const char *orcpt;		/* Original-Recipient ("rfc822;a@b",
					   ORCPT decoded), or NULL */
	char	status_buf[16];		/* room for status, if the caller
					   needs it */
};

struct dsn_report {
	const char *reporting_mta;	/* our hostname */
	const char *to;			/* who receives the DSN */
	const char *orig_sender;	/* the original envelope sender */
	const char *queue_id;		/* of the original */
	time_t	arrival;		/* of the original */
	time_t	now;			/* Date: of the DSN */
	const char *message_id;		/* "<...>"; NULL = generated */
	const char *boundary;		/* NULL = generated */
	const struct dsn_rcpt *rcpts;
	int	nrcpts;
	const char *orig;		/* the original message (CRLF) */
	size_t	origlen;
	const char *envid;		/* Original-Envelope-Id, or NULL */
	int	ret_full;		/* RET=FULL: the whole original as
					   message/rfc822 (up to
					   DSN_FULL_MAX), else its headers */
	const char *note;		/* a paragraph for people before the
					   usual ones, or NULL */
	const char *subject;		/* NULL: from the actions */
};

/*
 * dsn_compose - the DSN message, CRLF line ends, in a malloc'ed buffer
 * (*lenp octets, NUL-terminated).  Dates are written in UTC.  NULL when
 * out of memory.
 */
char   *dsn_compose(const struct dsn_report *r, size_t *lenp);
/*
 * dsn_is_automatic - 1 if the message says it was sent automatically:
 * an Auto-Submitted header other than "no", or a delivery report.
 */
int	dsn_is_automatic(const char *msg, size_t len);
/*
 * dsn_recipient - who gets a DSN about msg from sender: the sender,
 * the postmaster (automatic messages), or NULL (null sender, or no
 * postmaster configured): then only log.
 */
const char *dsn_recipient(const char *sender, const char *postmaster,
	    const char *msg, size_t len);
/*
 * dsn_queue - compose r and commit it into <spool>/q/_dsn/ as a queue
 * entry from <> to r->to.  On RS_OK qid gets the new entry's id.
 */
enum result dsn_queue(const char *spool, const struct dsn_report *r,
	    char *qid, size_t qidlen, char *err, size_t errlen);
/*
 * dsn_postmaster_copy - a DSN (the entry env of DSN_QUEUE, its text
 * msg of len octets) that cannot be delivered, rc saying why (failed,
 * with status, Remote-MTA and reply or diag): queue a failed DSN about
 * it to postmaster, with the DSN attached whole (up to DSN_FULL_MAX).
 * RS_PERM (err says why, nothing queued) when there is no postmaster
 * or the DSN was for the postmaster itself, so reports never loop;
 * RS_TEMP when it could not be queued.  On RS_OK qid gets its id.
 */
enum result dsn_postmaster_copy(const char *spool, const char *postmaster,
	    const char *hostname, const struct qenv *env, const char *msg,
	    size_t len, const struct dsn_rcpt *rc, time_t now, char *qid,
	    size_t qidlen, char *err, size_t errlen);
/* dsn_action_name - "failed", "delayed", "relayed", "delivered". */
const char *dsn_action_name(enum dsn_action a);
/*
 * dsn_reply_status - the enhanced status code at the start of a 4xx
 * reply ("451 4.2.0 ...") into buf, or NULL when it has none.
 */
const char *dsn_reply_status(const char *reply, char *buf, size_t len);
/* dsn_date - RFC 5322 date-time in UTC: "Fri, 22 Nov 2024 18:13:20 +0000". */
char   *dsn_date(time_t t, char *buf, size_t len);

#endif
