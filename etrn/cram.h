/*
 * cram.h - AUTH CRAM-MD5 (RFC 2195 in the frame of RFC 4954) for both
 * ends.  The server half is split where the privilege is: the lookup
 * process (lookup.h) makes the challenge, checks the answer against
 * the customer's secret file, logs failures and counts them to the
 * 421; the SMTP or ODMR session only sends the 334 and reads the
 * client's answer line with its own line limit (cram_read_answer).
 * The client half is etrn(1)'s answer.  The user
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

/*
 * One session's side of AUTH, kept by the lookup process (lookup.h);
 * the caller sets release and tag.
 */
struct cram_server {
	unsigned release;		/* REL_* the customer must have */
	const char *tag;		/* "odmr", "smtp": log prefix */
	int	fails;			/* failed AUTHs so far */
	int	pending;		/* a challenge is out */
	char	challenge[CRAM_CHALLENGE_MAX];
	char	auth[64];		/* the customer after a successful AUTH */
};

enum cram_outcome {
	CRAM_OK = 0,		/* 235: cs->auth authenticated */
	CRAM_REFUSED,		/* the reply says why; the session goes on */
	CRAM_CLOSE,		/* 421 after CRAM_FAILS failures: close */
	CRAM_CHALLENGE,		/* 334: the reply's text is the challenge */
	CRAM_LOST		/* the connection broke: no reply */
};

struct cram_reply {
	int	code;
	int	failed;			/* a failed authentication (counted) */
	const char *status;
	char	text[CRAM_CHALLENGE_MAX * 4 / 3 + 8];	/* no code, no status */
};

/*
 * cram_start - AUTH with argument arg: 503 after a successful AUTH,
 * 504 for another mechanism, 501 for an initial response; else the
 * 334 with the base64 challenge (CRAM_CHALLENGE), kept in cs for
 * cram_finish.  The caller checks the rest of the session state (EHLO
 * first, no transaction).
 */
enum cram_outcome cram_start(struct cram_server *cs,
	    const struct bridge_conf *c, const char *arg, struct cram_reply *r);
/*
 * cram_finish - the client's answer line to the 334 (CRLF removed; ""
 * for a malformed one): "*" cancels (501), bad base64 is 501, a wrong
 * user or digest 535 (421 on the CRAM_FAILS-th failure), a secret the
 * hub cannot use 454; on success cs->auth is the customer.  client is
 * "name[addr]" for the log.
 */
enum cram_outcome cram_finish(struct cram_server *cs,
	    const struct bridge_conf *c, const char *client, const char *line,
	    struct cram_reply *r);
/*
 * cram_answer_user - the user name an answer line (base64 of "user
 * digest") names, into buf (len octets); -1 when it names none.
 */
int	cram_answer_user(const char *line, char *buf, size_t len);
/*
 * cram_read_answer - the session's half: read the answer to a 334
 * from io (lines of at most linemax) into buf, CRLF removed; "" for a
 * line that is too long, lacks its CR or holds a NUL or a bare CR.
 * -1 when the connection broke.
 */
int	cram_read_answer(struct sio *io, size_t linemax, char *buf,
	    size_t len);

#endif
