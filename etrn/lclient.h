/*
 * lclient.h - a session's side of the lookup process (lproto.h): one
 * request, one reply, for MAIL, RCPT, AUTH, ETRN and ATRN.  In bridged
 * the decisions are made in the lookup process; bridge-enqueue writing
 * the spool itself and the unit tests make them in-process with the
 * same code (lclient_local).
 *
 * Invariants: a request the lookup process does not answer in time,
 * or a broken socket, is a temporary failure (451 4.3.0, AUTH 454),
 * never a success; once broken the link stays broken.
 */
#ifndef LCLIENT_H
#define LCLIENT_H

#include <stdint.h>

#include "lookup.h"

struct lclient;

/* lclient_chan - requests over sock (the client owns it). */
struct lclient *lclient_chan(int sock, int timeout_ms);
/*
 * lclient_local - decisions in this process for a session of kind
 * from peer; an ETRN's flush goes as a datagram to reqfd (0 or -1:
 * none, the ETRN gets 458).
 */
struct lclient *lclient_local(const struct bridge_conf *c, struct usage *u,
	    int kind, const char *peer, int reqfd);
/*
 * lclient_session - the lookup for a session of kind: over
 * ctx->lookupfd (which it then owns) when there is one, else
 * in-process; it is told the client's name.
 */
struct lclient *lclient_session(const struct smtpd_ctx *ctx,
	    const struct smtpd_client *cl, int kind);
void	lclient_free(struct lclient *lc);

/*
 * lc_ident - in-process: the client's name, for the log (the lookup
 * process finds it itself: lc_client_name).
 */
void	lc_ident(struct lclient *lc, const char *name);
/*
 * lc_client_name - first thing on a session's lookup socket sock: the
 * client's name the lookup process sends unasked (LM_NAME) into name;
 * 0, or -1 with "unknown" there when none came in time (logged).
 */
int	lc_client_name(int sock, char *name, size_t len);
/*
 * Each fills r (the reply to give, or the temporary failure) and
 * returns 0, or -1 when the lookup process could not be asked.
 * lc_mail only tells the lookup (no answer is waited for): its 250
 * means sent; the lookup's size and free-space verdict comes with
 * each RCPT.
 */
int	lc_mail(struct lclient *lc, uint64_t declared, struct lookup_reply *r);
int	lc_rcpt(struct lclient *lc, const char *addr, const char *shown,
	    struct lookup_reply *r);
/*
 * lc_tls - tell the lookup the session is under TLS now: AUTH PLAIN
 * and LOGIN may come (a notice, unanswered); 0 or -1.
 */
int	lc_tls(struct lclient *lc);
int	lc_auth(struct lclient *lc, const char *arg, struct lookup_reply *r);
int	lc_answer(struct lclient *lc, const char *line,
	    struct lookup_reply *r);
/*
 * lc_auth_exchange - AUTH with argument arg over io: each 334 of the
 * lookup (at most CRAM_ROUNDS) to the client, its answer line (at
 * most linemax) back to the lookup; r is the reply to give.  -1 when
 * the client's connection broke (no reply then).
 */
int	lc_auth_exchange(struct lclient *lc, struct sio *io, size_t linemax,
	    const char *arg, struct lookup_reply *r);
int	lc_etrn(struct lclient *lc, const char *arg, struct lookup_reply *r);
/*
 * lc_atrn - with the client's connection fd: allowed, the reply is 250
 * with close set, the connection is a delivery worker's and the
 * session must write nothing more (in-process: 451, no worker).
 */
int	lc_atrn(struct lclient *lc, const char *arg, int fd,
	    struct lookup_reply *r);

#endif
