/*
 * srecv.h - the receiving end of one SMTP session on a connected
 * socket, for the ODMR customer after the turn (RFC 2645: we greet,
 * the provider sends EHLO and the mail): EHLO/HELO, MAIL, RCPT, DATA,
 * BDAT (RFC 3030), RSET, NOOP, VRFY, QUIT, with PIPELINING, CHUNKING,
 * 8BITMIME, SIZE and ENHANCEDSTATUSCODES offered.  Each complete
 * message is handed to the caller's deliver(), whose reply goes back
 * to the provider: the local MTA's verdict decides what the provider
 * keeps.
 *
 * Invariants: input is read with bounded lines (SRECV_LINE_MAX) and
 * recipients (SRECV_RCPTS_MAX); replies are sent in order, flushed
 * whenever no more input is waiting (RFC 2920); only CRLF.CRLF ends
 * DATA, a bare LF or CR in data is kept as a line end that never
 * starts one (SMTP smuggling), and a message larger than the size
 * limit is refused (552) or, over the cap of the hour, deferred (452)
 * without being kept.  A message is never acknowledged before
 * deliver() has settled it.
 */
#ifndef SRECV_H
#define SRECV_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define SRECV_LINE_MAX	2048	/* command line, CRLF included */
#define SRECV_RCPTS_MAX	1000
#define SRECV_MEM_MAX	(1024 * 1024)	/* larger messages go to a file */
#define SRECV_REPLY_MAX	512

/* One message as received; valid during deliver() only. */
struct srecv_msg {
	const char *sender;		/* without < >; "" = null sender */
	char   *const *rcpts;		/* without < > */
	int	nrcpts;
	const char *mem;		/* the message (CRLF, unstuffed), or */
	int	fd;			/* an unlinked temp file holding it */
	uint64_t size;
	int	body_8bit;		/* BODY=8BITMIME was given */
};

struct srecv_opts {
	const char *hostname;		/* in the greeting and EHLO */
	long	timeout;		/* seconds of silence at most; 300 */
	uint64_t max_size;		/* 552 above; 0 = no limit */
	uint64_t cap;			/* 452 above (a window's cap); 0 = none */
	const char *tmpdir;		/* for messages over SRECV_MEM_MAX */
	/*
	 * deliver - settle m and put the reply line (without CRLF, "250
	 * 2.0.0 ..." or a 4xx/5xx) into reply; return 1 to end the
	 * session with 421 after it (the local MTA is gone), else 0.
	 */
	int	(*deliver)(void *arg, const struct srecv_msg *m, char *reply,
		    size_t len);
	void   *arg;
	volatile sig_atomic_t *stop;	/* set: end the session at once */
	double	deadline;		/* time_mono() by which to end; 0 none */
	void   *tls;			/* an SSL * on fd (smtpc_release_tls):
					   the session is under TLS; it is
					   freed with fd; NULL: in clear */
};

struct srecv_stats {
	unsigned messages;		/* handed to deliver() */
	unsigned ok, deferred, refused;	/* by the first digit of its reply */
	unsigned capped;		/* 452 at MAIL: over the cap */
	uint64_t bytes;			/* octets read from the socket */
	int	quit;			/* the provider ended with QUIT */
};

/*
 * srecv_session - greet and serve fd until QUIT, a lost connection, a
 * timeout, the deadline or a stop; closes fd.  0 when the provider
 * said QUIT, -1 otherwise (err says why).
 */
int	srecv_session(int fd, const struct srecv_opts *o,
	    struct srecv_stats *st, char *err, size_t errlen);
/* srecv_tls_free - free an srecv_opts.tls that is never served. */
void	srecv_tls_free(void *tls);

#endif
