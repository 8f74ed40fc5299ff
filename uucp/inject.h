/*
 * inject.h - hand one message to the leaf's local MTA (leaf.conf(5)
 * inject section): the sendmail command, or an SMTP or LMTP server.
 * Each recipient ends ok, temporary or permanent; the caller decides
 * what to record, keep or bounce.
 */
#ifndef INJECT_H
#define INJECT_H

#include "bundle.h"
#include "dsnenv.h"
#include "leafconf.h"
#include "util.h"

#define INJECT_DIAG_MAX	400

/* One recipient of a message being injected, and what became of it. */
struct inject_rcpt {
	const char *addr;
	const struct dsnenv *env;	/* its DSN envelope, or NULL */
	enum result rs;
	char	status[16];		/* RFC 3463 code, "5.1.1" */
	char	diag[INJECT_DIAG_MAX];	/* "smtp; 550 5.1.1 ..." */
	int	dsn_passed;		/* the MTA took its DSN parameters */
};

struct injector;

/*
 * inject_new - an injector for the configured method; helo is the name
 * given in EHLO/LHLO.  SMTP and LMTP sessions are kept open from one
 * message to the next.  Sets SIGPIPE to be ignored.
 */
struct injector *inject_new(const struct leaf_inject *cf, const char *helo);
/*
 * inject_message - inject m from sender ("" = <>) to r[0..n-1], with
 * the DSN parameters of r[i].env (RET and ENVID from r[0].env) where
 * the MTA takes them: MAIL and RCPT parameters when the SMTP or LMTP
 * server offers DSN, sendmail's -N, -R and -V when the inject section
 * says the command has them (dsn-options; -N only when the recipients
 * share one NOTIFY, -V only for an ENVID that reads the same as xtext;
 * ORCPT has no option).  Fills every r[i].rs (and status/diag for
 * failures) and r[i].dsn_passed.  Returns RS_OK when all
 * were accepted, RS_TEMP when any was deferred, RS_PERM otherwise.
 * *down is set when the MTA itself is unusable (no connection, no
 * greeting, a lost session, sendmail unable to queue): later messages
 * would fare no better.
 */
enum result inject_message(struct injector *ij, const char *sender,
	    struct inject_rcpt *r, int n, const struct bundle_msg *m,
	    int *down);
/* inject_free - QUIT any open session and free ij. */
void	inject_free(struct injector *ij);

/* inject_exit_result - a sendmail exit status as ok/temp/perm + code. */
enum result inject_exit_result(int status, char *code, size_t len);

#endif
