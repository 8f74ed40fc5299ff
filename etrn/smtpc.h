/*
 * smtpc.h - the SMTP and LMTP client engine: connect, greeting,
 * EHLO/HELO/LHLO, single commands (ETRN, ATRN, ...) and pipelined
 * delivery of many messages over one connection.
 *
 * Delivery uses what the server offers: with CHUNKING and PIPELINING
 * every message is MAIL, RCPT..., "BDAT n LAST" + the octets, sent
 * without waiting, up to a window of messages in flight; with
 * PIPELINING alone (SMTP) MAIL/RCPT/DATA go in one write, and after
 * the 354 the dot-stuffed body, the dot and the next message's
 * MAIL/RCPT/DATA go together (RFC 2920): one round trip a message.
 * When the connection fails with a dot unanswered, that message gets
 * a temporary result though the server may have taken it: it can be
 * delivered twice (once more at most), never lost.  LMTP sends each
 * message's group after the previous one's replies; without
 * PIPELINING every command waits for its reply.
 * Every command sent gets exactly one reply (LMTP: one per accepted
 * recipient after the data), matched in order.  MAIL carries SIZE= when
 * the server offers SIZE and BODY=8BITMIME for 8-bit messages when it
 * offers 8BITMIME; 8-bit messages go unchanged to servers without it
 * (as most MTAs do).  The DSN parameters a message carries go on MAIL
 * and RCPT when the server offers DSN and are left off otherwise (the
 * caller then owes the sender what RFC 3461 6.2 asks: a "relayed" DSN
 * for NOTIFY=SUCCESS).  LMTP never uses BDAT.
 *
 * Under STARTTLS (smtpc_starttls) the same engine reads and writes
 * through OpenSSL.
 *
 * Invariants: replies are read with a bounded line (SMTPC_LINE_MAX) and
 * line count (SMTPC_LINES_MAX); reply text kept for logs and DSNs is
 * printable ASCII only.  A message's data must stay valid until its
 * done() callback; done() is called exactly once per message handed
 * out by next(), in order, even when the connection breaks.
 */
#ifndef SMTPC_H
#define SMTPC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SMTPC_LINE_MAX	1024	/* one reply line, CRLF included */
#define SMTPC_LINES_MAX	100	/* lines in one reply */
#define SMTPC_TEXT_MAX	1024	/* reply text kept, lines joined */

/* Service extensions seen in the EHLO/LHLO reply. */
#define SMTPC_EXT_ESMTP		0x0001	/* EHLO (or LHLO) was accepted */
#define SMTPC_EXT_PIPELINING	0x0002
#define SMTPC_EXT_SIZE		0x0004
#define SMTPC_EXT_8BITMIME	0x0008
#define SMTPC_EXT_CHUNKING	0x0010
#define SMTPC_EXT_ENHANCED	0x0020	/* ENHANCEDSTATUSCODES */
#define SMTPC_EXT_ETRN		0x0040
#define SMTPC_EXT_DSN		0x0080
#define SMTPC_EXT_ATRN		0x0100
#define SMTPC_EXT_AUTH_CRAM	0x0200	/* AUTH lists CRAM-MD5 */
#define SMTPC_EXT_STARTTLS	0x0400

struct smtpc_reply {
	int	code;			/* 200..599; 0 = none: text says why */
	char	status[16];		/* "5.1.1", or "5.0.0" from the code */
	char	text[SMTPC_TEXT_MAX];	/* "550 5.1.1 <x>: unknown", one line */
};

/* Time limits in milliseconds (RFC 5321 4.5.3.2 by default). */
struct smtpc_timeouts {
	long	connect;	/* 30 s */
	long	greeting;	/* 5 min */
	long	helo;		/* 5 min */
	long	mail;		/* 5 min, also RSET and other commands */
	long	rcpt;		/* 5 min */
	long	data;		/* 2 min: DATA until 354 */
	long	block;		/* 3 min: no progress while sending data */
	long	dot;		/* 10 min: the reply after the data */
	long	quit;		/* 30 s */
};

struct smtpc_opts {
	struct smtpc_timeouts to;
	int	lmtp;			/* LHLO, one reply per rcpt after data */
	int	all_rcpts;		/* DATA only when every RCPT was
					   accepted (all or none); set
					   SMTPC_EXT_PIPELINING in disable */
	unsigned disable;		/* SMTPC_EXT_* never to use */
	int	window_msgs;		/* BDAT: messages in flight (32) */
	size_t	window_bytes;		/* BDAT: octets in flight (1 MiB) */
};

/* One message to deliver.  The caller fills the first part. */
struct smtpc_msg {
	const char *sender;		/* without < >; "" = null sender */
	const char *const *rcpts;	/* without < > */
	int	nrcpts;
	const char *data;		/* CRLF lines, not dot-stuffed */
	size_t	len;
	int	body_8bit;
	/*
	 * DSN parameters (RFC 3461), sent only to a server that offers
	 * DSN: " RET=... ENVID=..." for MAIL, and per recipient
	 * " NOTIFY=... ORCPT=..." (dsnenv_mail_params, dsnenv_rcpt_params);
	 * NULL (the array or an element) for none.
	 */
	const char *dsn_mail;
	const char *const *dsn_rcpt;
	void   *arg;			/* the caller's */
	/*
	 * Filled by smtpc_send before done(): the outcome per recipient
	 * (nrcpts entries, allocated by the caller).  SMTP gives the
	 * RCPT reply when that failed, else the MAIL, DATA or final
	 * reply; LMTP the recipient's own reply after the data.
	 */
	struct smtpc_reply *result;
	/*
	 * Set by smtpc_send: nonzero once the server may have the message,
	 * that is once any of its data was written (DATA: after the 354;
	 * an empty message: once its end of data is queued).  When it is
	 * 0 after a failure the server cannot have taken the message, and
	 * sending it again on a new connection cannot duplicate it.
	 */
	int	data_sent;
	/* Private to smtpc. */
	struct {
		struct smtpc_reply mail, data, final;
		int	pending;	/* replies still expected */
		int	naccepted;	/* RCPTs with 2xx */
		int	in_window;	/* BDAT: done() when pending is 0 */
	} p;
};

/* Where the messages come from and where their outcomes go. */
struct smtpc_feed {
	struct smtpc_msg *(*next)(void *arg);	/* NULL: no more */
	void	(*done)(void *arg, struct smtpc_msg *m);
	void   *arg;
};

struct smtpc;

/* smtpc_opts_default - RFC timeouts, SMTP, window 32 / 1 MiB. */
void	smtpc_opts_default(struct smtpc_opts *o);

/*
 * smtpc_connect - open a TCP connection to "host", "host:port",
 * "[v6addr]:port" or "unix:/path" (default_port when none is given),
 * trying each address in turn within the connect timeout.  RS_TEMP
 * with why->text filled when nothing answered; RS_PERM for a malformed
 * address.  Only connects: smtpc_greeting comes next.
 */
enum result smtpc_connect(const char *where, int default_port,
	    const struct smtpc_opts *o, struct smtpc **cp,
	    struct smtpc_reply *why);
/* smtpc_fdopen - use an already connected socket (ODMR, tests). */
struct smtpc *smtpc_fdopen(int fd, const char *relay,
	    const struct smtpc_opts *o);
/* smtpc_greeting - read the 220 greeting. */
enum result smtpc_greeting(struct smtpc *c, struct smtpc_reply *r);
/*
 * smtpc_hello - EHLO (HELO when EHLO gets 5xx), or LHLO in LMTP mode,
 * and note the extensions offered.
 */
enum result smtpc_hello(struct smtpc *c, const char *name,
	    struct smtpc_reply *r);
/*
 * smtpc_starttls - STARTTLS (RFC 3207) and the handshake with ctx
 * (tls.h tls_client_new), SNI name unless it is an address literal;
 * with verify the chain must lead to a CA of ctx and the certificate
 * must name name (a DNS name or an IP address).  Anything the server
 * sent after its 220 ends the connection.  RS_OK: under TLS, and the
 * extensions are forgotten (smtpc_hello again); else why in r (code 0
 * for a failed handshake, which leaves the connection dead).
 */
enum result smtpc_starttls(struct smtpc *c, void *ctx, const char *name,
	    int verify, struct smtpc_reply *r);
/*
 * smtpc_tls_info - under TLS "TLSv1.3 with cipher X (256/256 bits),
 * verified|unverified, subject S, issuer I"; "" in clear.
 */
const char *smtpc_tls_info(const struct smtpc *c);
/*
 * smtpc_cmd - send one command line (CRLF added) and wait up to
 * timeout_ms for its reply.  RS_OK on 2xx/3xx, RS_TEMP on 4xx and
 * when the connection failed (r->code 0), RS_PERM on 5xx.
 */
enum result smtpc_cmd(struct smtpc *c, long timeout_ms, struct smtpc_reply *r,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * smtpc_send - deliver messages from feed until next() returns NULL or
 * the connection fails.  RS_OK: the connection is still usable;
 * RS_TEMP: it failed (the messages in flight got code 0 or the 421
 * reply as their result).
 */
enum result smtpc_send(struct smtpc *c, const struct smtpc_feed *feed);
/* smtpc_quit - QUIT (when the connection is usable), close, free. */
void	smtpc_quit(struct smtpc *c);
/* smtpc_close - close without QUIT and free. */
void	smtpc_close(struct smtpc *c);
/*
 * smtpc_release - free c but keep its connection: the socket (still
 * non-blocking), for a protocol that goes on without the client engine
 * (ODMR's turn after ATRN).  -1 (the connection closed) when it is
 * dead, a command is unanswered or the server sent more than its
 * replies: those octets would be lost.
 */
int	smtpc_release(struct smtpc *c);
/*
 * smtpc_release_tls - smtpc_release that also hands on the TLS state
 * (an SSL *, the caller's to SSL_free) in *tls, NULL in clear;
 * smtpc_release refuses a connection under TLS.
 */
int	smtpc_release_tls(struct smtpc *c, void **tls);

unsigned smtpc_ext(const struct smtpc *c);	/* SMTPC_EXT_* offered */
uint64_t smtpc_size_max(const struct smtpc *c);	/* SIZE n; 0 = none */
const char *smtpc_relay(const struct smtpc *c);	/* "host[addr]:port" */
const char *smtpc_host(const struct smtpc *c);	/* "host" */
int	smtpc_usable(const struct smtpc *c);
/*
 * smtpc_check - on a connection kept idle between smtpc_send calls,
 * take without waiting what the server sent meanwhile (a 421 before it
 * closes, or the close itself) and return smtpc_usable().
 */
int	smtpc_check(struct smtpc *c);
/*
 * smtpc_pace - the EHLO (LHLO) round trip and the moving mean time per
 * message, both in seconds, when messages cost a round trip each (DATA
 * with or without PIPELINING); the number of messages behind the mean,
 * 0 when there is none yet or delivery uses BDAT windows.  When rtt is
 * most of cycle the link idles while the connection waits for replies,
 * and another connection would use it (flush.c).
 */
long	smtpc_pace(const struct smtpc *c, double *rtt, double *cycle);

/* smtpc_class - RS_OK for 2xx/3xx, RS_PERM for 5xx, else RS_TEMP. */
enum result smtpc_class(const struct smtpc_reply *r);

#endif
