/*
 * dsnparam.h - the SMTP DSN extension (RFC 3461) at intake: parsing
 * and checking RET= and ENVID= on MAIL and NOTIFY= and ORCPT= on RCPT
 * (dsnparam.c), and handing the values to the intake (intake.c), which
 * records them in the queue entry (spoolfmt(5): envid, ret, notify,
 * orcpt).  xtext is decoded (dsnenv.h) and must decode to printable
 * US-ASCII.
 */
#ifndef DSNPARAM_H
#define DSNPARAM_H

#include <stddef.h>

#include "dsnenv.h"
#include "queue.h"
#include "smtpd.h"

struct dsn_mail {
	enum qret ret;
	char	envid[QENV_ENVID_MAX + 1];	/* "" when none */
};

struct dsn_rcptp {
	unsigned notify;			/* QN_*; 0: none given */
	char	orcpt[DSN_ORCPT_TEXT];		/* "type;addr" or "" */
};

/*
 * dsn_mail_param - one MAIL parameter kw (value v, or NULL): 1 when it
 * was RET or ENVID and is fine, 0 when it is not a DSN parameter, -1
 * when it is malformed or repeated.
 */
int	dsn_mail_param(struct dsn_mail *dm, const char *kw, const char *v);
/*
 * dsn_rcpt_params - the parameters after RCPT TO:<...> (p, modified in
 * place): 0 when they are all NOTIFY/ORCPT and fine, -1 malformed or
 * repeated (501), -2 a parameter we do not know (555); *bad gets its
 * keyword.
 */
int	dsn_rcpt_params(char *p, struct dsn_rcptp *dr, const char **bad);

/* intake.c: the values for the transaction (after intake_mail) and
 * for the recipient just accepted (after intake_rcpt returned RS_OK). */
void	intake_dsn_mail(struct intake *in, const struct dsn_mail *dm);
void	intake_dsn_rcpt(struct intake *in, const struct dsn_rcptp *dr);

#endif
