/*
 * smtpd.h - the hub's mail intake: the SMTP/LMTP server session
 * (smtpd.c), its bounded line reader and reply buffer (smtp_io.c), the
 * message intake shared with bridge-enqueue (intake.c: routing at
 * RCPT, header filtering, the Received: header, one queue entry per
 * customer, commit before any 250) and the per-customer usage table
 * shared between bridged's processes (usage.c).
 *
 * Invariants: only CRLF ends a command line or a data line; a reply
 * is never sent before what it promises is on disk; every limit on
 * input is checked before the input is used.
 */
#ifndef SMTPD_H
#define SMTPD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "conf.h"
#include "queue.h"

/* ---- smtp_io.c: bounded line reader, buffered replies ---- */

#define SIO_IBUF	(64 * 1024)	/* input buffer; longest line read */
#define SIO_OBUF	(16 * 1024)	/* replies wait here until a flush */

enum sio_status {
	SIO_LINE = 1,		/* a line ending in LF (CR not required) */
	SIO_PART = 2,		/* max octets of a longer line */
	SIO_LAST = 3,		/* what was left at EOF, no LF */
	SIO_EOF = 0,		/* peer closed */
	SIO_TIMEOUT = -1,	/* nothing for the timeout */
	SIO_ERROR = -2,		/* read or write failed */
	SIO_STOP = -3		/* *stop set (SIGTERM) while waiting */
};

struct sio {
	int	rfd, wfd;
	long	timeout;		/* seconds per wait; 0: forever */
	double	deadline;		/* time_mono() input must come by;
					   0: none (sio_deadline) */
	volatile sig_atomic_t *stop;	/* set by a signal handler */
	const sigset_t *waitmask;	/* mask while waiting, or NULL */
	size_t	ioff, ilen;		/* unread: ibuf[ioff, ioff+ilen) */
	size_t	olen;
	int	werr;			/* a write failed: output dropped */
	void   *tls;			/* the SSL after STARTTLS, or NULL */
	char	ibuf[SIO_IBUF];
	char	obuf[SIO_OBUF];
};

void	sio_init(struct sio *io, int rfd, int wfd, long timeout);
/*
 * sio_deadline - input must have come by time_mono() at (0: no such
 * limit, only the timeout per wait): a read that would wait past it is
 * SIO_TIMEOUT, however often bytes trickle in.
 */
void	sio_deadline(struct sio *io, double at);
/*
 * sio_getline - the next line of at most max octets (max <= SIO_IBUF),
 * LF included.  Flushes pending replies before it would block.  *p
 * stays valid until the next call.
 */
int	sio_getline(struct sio *io, size_t max, const char **p, size_t *len);
/*
 * sio_pending - whether the client has sent more than was read so far:
 * in the buffer, or waiting on the descriptor now (FIONREAD).
 */
int	sio_pending(struct sio *io);
/* sio_buffered - input read (or decrypted) but not yet taken. */
int	sio_buffered(struct sio *io);
/* sio_reply - append a formatted reply (CRLF is added); 0 or -1. */
int	sio_reply(struct sio *io, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * sio_vcode - the reply "code status text" (no status when it is NULL
 * or ""); text (len octets) gets the formatted text for the log.
 */
void	sio_vcode(struct sio *io, int code, const char *status, char *text,
	    size_t len, const char *fmt, va_list ap);
int	sio_write(struct sio *io, const void *buf, size_t len);
/* sio_flush - write out what is buffered; -1 on error or timeout. */
int	sio_flush(struct sio *io);
/*
 * sio_starttls - the TLS handshake as the server with ctx (tls.h) on
 * rfd, which must be wfd; what is buffered is written first and the
 * input buffer must be empty.  0, or -1 with why in err (the session
 * must end then: the stream is in no known state).
 */
int	sio_starttls(struct sio *io, void *ctx, char *err, size_t len);
/* sio_tls_info - "TLSv1.3 with cipher X (256/256 bits)"; "" without. */
void	sio_tls_info(const struct sio *io, char *buf, size_t len);
/*
 * sio_relay - under TLS: carry bytes both ways between the client's
 * TLS stream and the plain socket fd (made non-blocking) until one
 * side closes, or nothing moved for idle seconds (0: no limit), or a
 * stop.  0 when a side closed (or reset the connection, or left
 * without close_notify), -1 with why (len octets) for a TLS protocol
 * error, the idle limit or a stop.  What is buffered is
 * written first; the input buffer must be empty.
 */
int	sio_relay(struct sio *io, int fd, long idle, char *why, size_t len);
/* sio_tls_end - close_notify (best effort) and free the TLS state. */
void	sio_tls_end(struct sio *io);

/* ---- usage.c: queued bytes per customer, shared by bridged's children ---- */

struct usage;

/* usage_create - a shared table for c's customers, seeded from the spool. */
struct usage *usage_create(const struct bridge_conf *c);
/*
 * usage_attach - the table of another process from its descriptor
 * (usage_fd; it is the table's from now on), NULL if it is not one.
 * Slots are matched to a config's customers by name, so a table made
 * for another config only makes quotas read the spool.
 */
struct usage *usage_attach(int fd);
int	usage_fd(const struct usage *u);
/* usage_refresh - re-read every customer's usage from the spool. */
void	usage_refresh(struct usage *u, const struct bridge_conf *c);
void	usage_destroy(struct usage *u);
/* usage_get - queued bytes of cu; u NULL: read the spool now. */
enum result usage_get(struct usage *u, const struct bridge_conf *c,
	    const struct customer *cu, uint64_t *bytes);
void	usage_add(struct usage *u, const struct bridge_conf *c,
	    const struct customer *cu, uint64_t bytes);
/* usage_count - queued messages of cu; u NULL: read the spool now. */
enum result usage_count(struct usage *u, const struct bridge_conf *c,
	    const struct customer *cu, uint64_t *count);
/*
 * usage_get_at, usage_add_at - the same for the customer name at slot
 * of the config the table was made for (the queue process, which has
 * the list and not the config); get: -1 when slot is not name's.
 */
int	usage_get_at(struct usage *u, long slot, const char *name,
	    uint64_t *bytes, uint64_t *count);
void	usage_add_at(struct usage *u, long slot, const char *name,
	    uint64_t bytes);

/* ---- intake.c: one message from MAIL to commit ---- */

#define INTAKE_TEXT_MAX	300	/* reply text, no code or status */

struct intake_reply {
	int	code;			/* 250, 451, 550, ... */
	char	status[12];		/* "2.0.0" */
	char	text[INTAKE_TEXT_MAX];
};

/* Why a message is refused at the end of the data (first one wins). */
enum intake_problem {
	IP_NONE = 0,
	IP_BARE,		/* bare CR or LF: 550 5.6.11 */
	IP_NUL,			/* NUL octet: 554 5.6.0 */
	IP_SIZE,		/* over max-size: 552 5.3.4 */
	IP_IO			/* could not write: 451 4.3.0 */
};

struct intake_client {
	const char *protocol;		/* ESMTP, SMTP, LMTP or pipe */
	const char *helo;		/* NULL for pipe */
	const char *name;		/* reverse DNS or "unknown" */
	const char *addr;		/* numeric address, NULL for pipe */
};

struct intake;
struct lclient;

struct intake *intake_new(const struct bridge_conf *c, struct usage *u);
/*
 * intake_use_queue - entries go to bridged's queue process over sock
 * (qclient.h; the intake owns it), each answer awaited at most
 * timeout_ms; without it they are written into the spool directly.
 */
int	intake_use_queue(struct intake *in, int sock, int timeout_ms);
/*
 * intake_use_lookup - MAIL and RCPT are decided by lc (lclient.h; not
 * the intake's); without it, in this process.
 */
void	intake_use_lookup(struct intake *in, struct lclient *lc);
void	intake_free(struct intake *in);
/* intake_reset - forget the transaction, removing any tmp file. */
void	intake_reset(struct intake *in);
/*
 * intake_mail - start a transaction.  sender is "local@domain" or ""
 * for the null sender; declared is SIZE= (0 if none).  Checks the
 * size limit and free space.  Returns the reply's RS_ class.
 */
enum result intake_mail(struct intake *in, const struct intake_client *cl,
	    const char *sender, uint64_t declared, int body_8bit,
	    struct intake_reply *r);
/*
 * intake_rcpt - route one recipient, parsed by the caller with
 * addr_parse_path or addr_parse_plain into st, a and why; shown is
 * the address as written, for the reply text.  On RS_OK it joins its
 * customer's group.
 */
enum result intake_rcpt(struct intake *in, enum addr_status st,
	    const struct addr *a, const char *shown, const char *why,
	    struct intake_reply *r);
int	intake_nrcpts(const struct intake *in);
/* intake_data - open the first queue entry and write Received:. */
enum result intake_data(struct intake *in, struct intake_reply *r);
/* intake_line - one message line ending in CRLF, not dot-stuffed. */
void	intake_line(struct intake *in, const char *p, size_t len);
/*
 * intake_part - the first or a middle piece of a line too long for the
 * reader's buffer; intake_line takes its last piece.  Real mail has
 * lines over 998 octets (RFC 5322's limit), so they are accepted and
 * kept as they are, bounded only by max-size.
 */
void	intake_part(struct intake *in, const char *p, size_t len);
/* intake_problem - mark the message refused (the first mark wins). */
void	intake_problem(struct intake *in, enum intake_problem why);
int	intake_refused(const struct intake *in);
/*
 * intake_end - the final checks and the commit of one entry per
 * customer.  all: one reply for everything (SMTP, pipe): 250 only when
 * every entry is committed, otherwise none is kept.  Without all
 * (LMTP) each customer stands alone; intake_rcpt_reply gives recipient
 * i's reply.  The transaction is over afterwards.
 */
enum result intake_end(struct intake *in, int all, struct intake_reply *r);
const struct intake_reply *intake_rcpt_reply(const struct intake *in, int i);
const char *intake_qid(const struct intake *in);

/* ---- smtpd.c: one SMTP or LMTP session on a connected socket ---- */

struct smtpd_client {
	int	lmtp;			/* LMTP: LHLO, per-rcpt replies */
	int	enqueue;		/* bridge-enqueue's socket: LMTP, the
					   message is "pipe" and all or none;
					   addr is "uid N" (SO_PEERCRED) */
	char	addr[64];		/* numeric address or "unix" */
	char	name[256];		/* reverse DNS name or "unknown" */
};

struct smtpd_ctx {
	const struct bridge_conf *conf;
	struct usage *usage;		/* NULL: read the spool */
	volatile sig_atomic_t *stop;	/* set on SIGTERM, or NULL */
	const sigset_t *waitmask;	/* lets SIGTERM in, or NULL */
	void   *tls;			/* the TLS server (tls.h), or NULL:
					   no STARTTLS */
	int	lookupfd;		/* the lookup process (lproto.h);
					   0 or -1: decide in-process */
	int	reqfd;			/* in-process: ETRN's datagrams to
					   the master; 0 or -1: none */
	int	queuefd;		/* the queue process (qproto.h);
					   0 or -1: write the spool */
	/* lookupfd and queuefd are the session's: closed when it ends */
};

/*
 * The request an authorised ETRN makes in-process (lookup.h flush(), a
 * datagram on ctx->reqfd; the lookup process sends LM_COUNT): "flush
 * CUSTOMER CLIENT-ADDRESS [DOMAIN]".  DOMAIN, the
 * customer's domain the ETRN named (normalised, etrn_domain), is where
 * deliver-to = "mx" looks up the MX; without it the customer's first
 * route key is used.
 */
#define SMTPD_REQ_MAX	512
/* How long a session waits for one answer of the queue process. */
#define SMTPD_QUEUE_WAIT	(10 * 60 * 1000)

/*
 * smtpd_client_set - fill cl from the peer address; lookup does the
 * reverse DNS lookup (once per connection).
 */
void	smtpd_client_set(struct smtpd_client *cl, const struct sockaddr *sa,
	    socklen_t salen, int lookup);
/* smtpd_session - greet, serve until QUIT, timeout or stop; 0 or -1. */
int	smtpd_session(const struct smtpd_ctx *ctx, int rfd, int wfd,
	    const struct smtpd_client *cl);
#endif
