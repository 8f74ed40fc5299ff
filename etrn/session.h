/*
 * session.h - the one session skeleton behind bridged's SMTP, LMTP and
 * ODMR listeners (session.c): the greeting, the command reader with
 * its limits, dispatch through the protocol's own command table, the
 * one reply path (enhanced status codes, reject logs, the count of bad
 * commands that ends in 421), and the commands every protocol shares
 * (HELO/EHLO/LHLO's checks, RSET, NOOP, QUIT, HELP, VRFY, AUTH).  What
 * a protocol adds (MAIL, RCPT, DATA, ETRN for SMTP; ATRN for ODMR) is
 * in smtpd.c and odmr.c, as a table and a few hooks.
 *
 * Invariants: a command line over SESS_CMD_MAX, with a bare CR or LF
 * or with a NUL is answered and never run; a command the protocol does
 * not have is 502 if some protocol of the hub knows it and 500 if none
 * does; every syntax or sequence error (500-504, 530, 555), and a
 * refused ETRN or ATRN (450, 459, 5xx; not 458, the hub's trouble),
 * counts towards the 421 after SESS_BAD_MAX in a row, any success resets the
 * count; a stop (SIGTERM) or a timeout ends the session with a 421:
 * each command line must be whole within the timeout of the wait for
 * it (a byte now and then does not keep a session), an SMTP or ODMR
 * session ends after max-session-time;
 * under STARTTLS nothing the client sent in clear after the command is
 * ever run.
 */
#ifndef SESSION_H
#define SESSION_H

#include "smtpd.h"

#define SESS_CMD_MAX	2048	/* a command line, CRLF too: 512 + slack */
#define SESS_BAD_MAX	10	/* bad commands in a row before 421 */
#define SESS_EHLO_MAX	12	/* EHLO keywords a protocol may offer */
#define SESS_EHLO_LEN	80	/* ... each at most this long */

struct sess;
struct lclient;

struct sess_cmd {
	const char *name;		/* a verb: four letters, or STARTTLS */
	void	(*fn)(struct sess *, char *arg);
	int	flags;
};
#define SC_LOG		0x1	/* refusals are logged */
#define SC_ENVELOPE	0x2	/* ... with the transaction's envelope */
#define SC_REFUSALS	0x4	/* its refusals (450, 459, 5xx) count as
				   bad commands: ETRN and ATRN probing */

struct sess_proto {
	const char *name;		/* "SMTP", "LMTP", "ODMR": logs */
	const char *banner;		/* after "220 hostname " */
	const struct sess_cmd *cmds;	/* NULL name ends it */
	int	lookup_kind;		/* LOOKUP_SMTP, ... (lclient.h) */
	/* the EHLO/LHLO keywords after the hostname line; returns n */
	int	(*ehlo)(struct sess *, char (*kw)[SESS_EHLO_LEN], int max);
	/* forget the transaction: RSET, HELO, EHLO, LHLO */
	void	(*reset)(struct sess *);
	/* "; from=<..> to=<..>" for an SC_ENVELOPE refusal's log line */
	void	(*envelope)(struct sess *, char *buf, size_t len);
};

struct sess {
	const struct smtpd_ctx *ctx;
	const struct bridge_conf *conf;
	const struct smtpd_client *cl;
	const struct sess_proto *proto;
	void	*data;			/* the protocol's own state */
	struct sio *io;
	struct lclient *lc;		/* the lookup process (lclient.h) */
	int	fd;			/* the client's socket (rfd) */
	int	helo_done;
	int	esmtp;			/* EHLO or LHLO, not HELO */
	int	busy;			/* inside a mail transaction */
	int	auth;			/* AUTH is offered (now) */
	int	auth_tls;		/* ... once TLS is on (STARTTLS) */
	int	authed;			/* AUTH succeeded */
	int	bad;			/* consecutive bad commands */
	int	done;			/* close after the flush */
	const struct sess_cmd *cur;	/* the command being run */
	char	tls_info[160];		/* protocol and cipher, "": clear */
	double	end;			/* time_mono() the session must end
					   by (max-session-time); 0: never */
	char	helo[256];
	char	cmd[SESS_CMD_MAX + 1];
};

/*
 * sess_open - the session of cl on rfd/wfd for proto: its reader, its
 * lookup client (which takes ctx->lookupfd); timeout in seconds per
 * read.  -1 (logged) when it cannot start; ctx->lookupfd is closed
 * then too.
 */
int	sess_open(struct sess *s, const struct smtpd_ctx *ctx,
	    const struct smtpd_client *cl, const struct sess_proto *proto,
	    int rfd, int wfd, long timeout);
/*
 * sess_run - greet, read and run commands until QUIT, a 421, a
 * timeout, a stop or a dead peer, then flush and free what sess_open
 * made.  0, or -1 when the connection broke.
 */
int	sess_run(struct sess *s);

/*
 * sess_deadline - the next input must have come by time_mono() at, or
 * by the session's end if sooner (sio_deadline).
 */
void	sess_deadline(struct sess *s, double at);

/* sess_reply - the one reply path: "code status text", logged and
 * counted as the invariants say. */
void	sess_reply(struct sess *s, int code, const char *status,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The shared commands, for the protocols' tables. */
void	sess_cmd_ehlo(struct sess *, char *);
void	sess_cmd_helo(struct sess *, char *);
void	sess_cmd_lhlo(struct sess *, char *);
void	sess_cmd_rset(struct sess *, char *);
void	sess_cmd_noop(struct sess *, char *);
void	sess_cmd_quit(struct sess *, char *);
void	sess_cmd_help(struct sess *, char *);
void	sess_cmd_vrfy(struct sess *, char *);
void	sess_cmd_auth(struct sess *, char *);
/*
 * sess_cmd_starttls - RFC 3207 with ctx->tls: 220, the handshake, then
 * the session starts again (HELO, EHLO, the transaction and AUTH
 * forgotten); anything the client sent after the command is refused
 * (554, the session ends) and never read as a command under TLS.
 * 502 without a tls section.
 */
void	sess_cmd_starttls(struct sess *, char *);
/*
 * sess_auth_mechs - EHLO's AUTH line: CRAM-MD5, and PLAIN and LOGIN
 * under TLS.
 */
const char *sess_auth_mechs(const struct sess *);
/* sess_starttls_offered - EHLO may say STARTTLS now. */
int	sess_starttls_offered(const struct sess *);
/* sess_cmd_wrong_hello - EHLO or HELO on LMTP, or LHLO on SMTP. */
void	sess_cmd_wrong_hello(struct sess *, char *);

#endif
