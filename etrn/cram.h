/*
 * cram.h - AUTH CRAM-MD5 (RFC 2195 in the frame of RFC 4954) for both
 * ends.  The server half is the exchange bridged's SMTP and ODMR
 * sessions share: the 334 challenge, the client's base64 answer read
 * with the session's line limit, the check against the customer's
 * secret file, the failure log and the count of failures that ends a
 * session with 421.  The client half is etrn(1)'s answer.  The user
 * name is the customer's name; the secret is the first line of its
 * secret file.
 *
 * Invariants: a secret is only read from a regular file that neither
 * group nor others may access (mode 0600 or stricter), is compared in
 * constant time, wiped after use and never logged; AUTH succeeds only
 * for a customer released by the session's channel.
 */
#ifndef CRAM_H
#define CRAM_H

#include <stddef.h>

#include "conf.h"
#include "smtpd.h"

#define CRAM_FAILS	3	/* failed AUTHs in one session before 421 */
#define CRAM_SECRET_MAX	1024	/* first line of a secret file */
#define CRAM_CHALLENGE_MAX 300	/* "<random.time@hostname>" */
#define CRAM_ANSWER_MAX	600	/* base64 of "user digest" */

/*
 * cram_digest - the CRAM-MD5 answer: HMAC-MD5 of challenge keyed with
 * secret, as 32 lower-case hex digits in hex[33].  0, or -1 when HMAC
 * failed.
 */
int	cram_digest(const char *secret, const char *challenge, char hex[33]);
/*
 * cram_secret_read - the first line of the secret file path into buf
 * (len octets).  -1 with err saying why when it cannot be opened, is
 * not a regular file, is open to group or others, or its first line
 * is empty.
 */
int	cram_secret_read(const char *path, char *buf, size_t len, char *err,
	    size_t errlen);
/*
 * cram_b64_decode - base64 text into out (outlen octets, NUL added).
 * The length, or -1 when in is not base64 or decodes to a NUL.
 */
int	cram_b64_decode(const char *in, char *out, size_t outlen);
/*
 * cram_answer - the client's reply line to a 334 carrying b64challenge:
 * base64 of "user digest" into out (outlen octets).  0, or -1 when the
 * challenge is not base64 or out is too small.
 */
int	cram_answer(const char *user, const char *secret,
	    const char *b64challenge, char *out, size_t outlen);

/* One session's side of AUTH; the caller fills all but fails, auth. */
struct cram_server {
	const struct bridge_conf *conf;
	struct sio *io;
	size_t	linemax;		/* the session's command line limit */
	unsigned release;		/* REL_* the customer must have */
	const char *tag;		/* "odmr", "smtp": log prefix */
	const struct smtpd_client *cl;
	int	fails;			/* failed AUTHs so far */
	const struct customer *auth;	/* after a successful AUTH */
};

enum cram_outcome {
	CRAM_OK = 0,		/* 235: *who authenticated */
	CRAM_REFUSED,		/* the reply says why; the session goes on */
	CRAM_CLOSE,		/* 421 after CRAM_FAILS failures: close */
	CRAM_LOST		/* the connection broke: no reply */
};

struct cram_reply {
	int	code;
	const char *status;
	char	text[CRAM_CHALLENGE_MAX];	/* no code, no status */
};

/*
 * cram_serve - AUTH with argument arg: 503 after a successful AUTH,
 * 504 for another mechanism, 501 for an initial response; else the
 * 334 challenge goes out and the answer is read: "*" cancels (501),
 * bad base64 is 501, a wrong user or digest 535 (421 on the
 * CRAM_FAILS-th failure); on success cs->auth is the customer.  The
 * caller checks the rest of the session state (EHLO first, no
 * transaction) and sends r through its own reply function unless the
 * connection was lost.
 */
enum cram_outcome cram_serve(struct cram_server *cs, const char *arg,
	    struct cram_reply *r);

#endif
