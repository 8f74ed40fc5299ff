/*
 * dsnenv.h - the DSN envelope of one message copy (RFC 3461) in the
 * forms that leave the queue: RFC 3461 xtext, the ESMTP parameter
 * syntax of MAIL and RCPT, and the X-Mailbridge-Envelope: header that
 * every copy in a bundle carries (bundle(5)):
 *
 *   X-Mailbridge-Envelope: QID=0065A1B2C3D4E.1A2B.3 ARRIVAL=1732300000
 *    RET=HDRS ENVID=QQ314159 NOTIFY=FAILURE,DELAY
 *    ORCPT=rfc822;Bob+40acme.example
 *
 * Keywords are those of MAIL FROM and RCPT TO (plus QID, ARRIVAL,
 * WARNED, when the queue already sent the copy's delayed DSN, and
 * REMOTE and REPLY, the host and the first 300 octets of the last 4xx
 * reply to a delivery attempt, in xtext, which only the header has),
 * values are written as on the wire (ENVID and ORCPT's address in
 * xtext), so the header is printable US-ASCII without ';'-splitting
 * surprises; readers ignore keywords they do not know.
 *
 * Invariant: everything decoded is printable US-ASCII within the
 * RFC 3461 limits (QENV_ENVID_MAX, QENV_ORCPT_MAX); a value that does
 * not decode makes the whole header invalid, never half read.
 */
#ifndef DSNENV_H
#define DSNENV_H

#include <stddef.h>
#include <time.h>

#include "queue.h"

#define DSN_ATYPE_MAX	32	/* ORCPT address type octets */
#define DSN_ORCPT_TEXT	(DSN_ATYPE_MAX + 1 + QENV_ORCPT_MAX + 1)
#define DSNENV_HEADER	"X-Mailbridge-Envelope"
#define DSNENV_HEADER_MAX 4096	/* the whole field, folded, with CRLF */
#define DSNENV_PARAMS_MAX 2048	/* one command's DSN parameters, encoded */
#define DSNENV_REMOTE_MAX 256	/* REMOTE= host, decoded, with its NUL */
#define DSNENV_REPLY_MAX 301	/* REPLY= text kept, decoded, with its NUL */

struct dsnenv {
	char	qid[QID_LEN];		/* "" when not known */
	time_t	arrival;		/* 0 when not known */
	enum qret ret;
	char	envid[QENV_ENVID_MAX + 1];	/* "" when none */
	unsigned notify;		/* QN_* bits; 0: none given */
	char	orcpt[DSN_ORCPT_TEXT];	/* "type;address" decoded, or "" */
	time_t	warned;			/* its delayed DSN was sent while it
					   was queued; 0: not */
	char	remote[DSNENV_REMOTE_MAX];	/* the host that last
					   answered it 4xx, or "" */
	char	reply[DSNENV_REPLY_MAX];	/* that reply, or "" */
};

/*
 * xtext_decode - RFC 3461 xtext into out (NUL-terminated).  -1 when
 * the syntax is wrong, it decodes to something other than printable
 * US-ASCII (space included), or it is longer than max octets decoded.
 */
int	xtext_decode(const char *in, char *out, size_t max);
/*
 * xtext_encode - s (printable US-ASCII) as xtext into out; -1 when s
 * holds anything else or the result does not fit in len.
 */
int	xtext_encode(const char *s, char *out, size_t len);
/*
 * dsn_orcpt_decode - an ORCPT value "type;xtext" into "type;decoded"
 * (out has DSN_ORCPT_TEXT octets); -1 when it is malformed.
 */
int	dsn_orcpt_decode(const char *v, char *out);
/* dsn_orcpt_encode - "type;decoded" back into "type;xtext"; -1. */
int	dsn_orcpt_encode(const char *orcpt, char *out, size_t len);
/*
 * esmtp_param_next - the next "KEYWORD[=VALUE]" of a MAIL or RCPT
 * parameter list at *p (RFC 5321 4.1.2), split in place: *kw, and *v
 * after the '=' or NULL; *p moves past it.  0 at the end of the list.
 */
int	esmtp_param_next(char **p, char **kw, char **v);

/*
 * dsnenv_notify - does NOTIFY notify (QN_* bits, 0: none given) ask
 * for a DSN of kind what (QN_FAILURE, QN_DELAY, QN_SUCCESS)?  Without
 * NOTIFY failures and delays are reported, successes are not.
 */
int	dsnenv_notify(unsigned notify, unsigned what);
/*
 * dsnenv_of - the envelope of env's copy for recipient rcpt (one of
 * env->rcpts; NULL: the message's part only).
 */
void	dsnenv_of(struct dsnenv *e, const struct qenv *env, const char *rcpt);
/*
 * dsnenv_mail_params, dsnenv_rcpt_params - " RET=HDRS ENVID=..." and
 * " NOTIFY=... ORCPT=..." (each with a leading space, "" when there is
 * nothing to say) into buf; -1 when they do not fit.
 */
int	dsnenv_mail_params(const struct dsnenv *e, char *buf, size_t len);
int	dsnenv_rcpt_params(const struct dsnenv *e, char *buf, size_t len);
/*
 * dsnenv_header - the X-Mailbridge-Envelope: field of e, folded before
 * 78 columns, ending in CRLF, into buf (DSNENV_HEADER_MAX); its length,
 * or -1 when e cannot be written.
 */
int	dsnenv_header(const struct dsnenv *e, char *buf, size_t len);
/*
 * dsnenv_parse - the field body (after the colon; folding CRLFs and
 * tabs allowed) of len octets into e.  0, or -1 when a known keyword
 * repeats or its value does not parse (e is then cleared).
 */
int	dsnenv_parse(const char *body, size_t len, struct dsnenv *e);
#endif
