/*
 * cram.h - AUTH (RFC 4954) for both ends: CRAM-MD5 (RFC 2195) always,
 * and under TLS the password mechanisms PLAIN (RFC 4616) and LOGIN
 * (the de facto one of Outlook and many scripts).  The server half is
 * split where the privilege is: the lookup process (lookup.h) makes
 * the challenge, checks the answer against the customer's secret file,
 * logs failures and counts them to the 421; the SMTP or ODMR session
 * only sends each 334 and reads the client's answer line with its own
 * line limit (cram_read_answer).  The client half is etrn(1)'s CRAM
 * answer.  The user name is the customer's name; the secret (CRAM's
 * key, PLAIN's and LOGIN's password) is the first line of its secret
 * file.
 *
 * Invariants: a secret is only read from a regular file that neither
 * group nor others may access (mode 0600 or stricter), is compared in
 * constant time, wiped after use and never logged; AUTH succeeds only
 * for a customer released by the session's channel; a password
 * mechanism is refused (538) unless the session is under TLS, before
 * anything secret is sent.
 */
#ifndef CRAM_H
#define CRAM_H

#include <stddef.h>

#include "conf.h"
#include "smtpd.h"

#define CRAM_FAILS	3	/* failed AUTHs in one session before 421 */
#define CRAM_SECRET_MAX	1024	/* first line of a secret file */
#define CRAM_CHALLENGE_MAX 300	/* "<random.time@hostname>" */
#define CRAM_ANSWER_MAX	1600	/* base64 of "user digest", of PLAIN's
				   "authzid NUL user NUL password" */
#define CRAM_ROUNDS	2	/* 334s one AUTH may take (LOGIN: 2) */

enum auth_mech {
	AUTH_CRAM = 0,		/* CRAM-MD5 */
	AUTH_PLAIN,		/* RFC 4616, under TLS only */
	AUTH_LOGIN		/* "Username:", "Password:"; TLS only */
};

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
	int	tls;			/* the session is under TLS (LM_TLS) */
	int	fails;			/* failed AUTHs so far */
	int	pending;		/* a 334 is out */
	enum auth_mech mech;		/* ... for this mechanism */
	int	step;			/* LOGIN: 0 name asked, 1 password */
	char	user[64];		/* LOGIN: the name given at step 0 */
	char	challenge[CRAM_CHALLENGE_MAX];
	char	initial[CRAM_ANSWER_MAX]; /* the initial response, if any */
	char	auth[64];		/* the customer after a successful AUTH */
};

enum cram_outcome {
	CRAM_OK = 0,		/* 235: cs->auth authenticated */
	CRAM_REFUSED,		/* the reply says why; the session goes on */
	CRAM_CLOSE,		/* 421 after CRAM_FAILS failures: close */
	CRAM_CHALLENGE,		/* 334: the reply's text is the challenge */
	CRAM_ANSWERED,		/* AUTH came with its answer (an initial
				   response, in cs->initial): cram_finish
				   it at once */
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
 * 504 for an unknown mechanism, 538 for PLAIN or LOGIN in clear, 501
 * for an initial response to CRAM-MD5; else the first 334 (CRAM's
 * base64 challenge, kept in cs, PLAIN's empty one, LOGIN's
 * "Username:"), or CRAM_ANSWERED when an initial response (kept in
 * cs->initial) answers it already.  The caller checks the rest of the
 * session state (EHLO first, no transaction).
 */
enum cram_outcome cram_start(struct cram_server *cs,
	    const struct bridge_conf *c, const char *arg, struct cram_reply *r);
/*
 * cram_finish - the client's answer line to the 334 (CRLF removed; ""
 * for a malformed one): "*" cancels (501), bad base64 is 501, a wrong
 * user, digest or password 535 (421 on the CRAM_FAILS-th failure), a
 * secret the hub cannot use 454; LOGIN's name is answered with the
 * next 334 (CRAM_CHALLENGE); on success cs->auth is the customer.
 * client is "name[addr]" for the log.
 */
enum cram_outcome cram_finish(struct cram_server *cs,
	    const struct bridge_conf *c, const char *client, const char *line,
	    struct cram_reply *r);
/*
 * cram_answer_user - the user name the answer line to cs's pending 334
 * names (CRAM's "user digest", PLAIN's authentication identity,
 * LOGIN's name or, at its password, the name given before), into buf
 * (len octets); -1 when it names none.
 */
int	cram_answer_user(const struct cram_server *cs, const char *line,
	    char *buf, size_t len);
/*
 * cram_read_answer - the session's half: read the answer to a 334
 * from io (lines of at most linemax) into buf, CRLF removed; "" for a
 * line that is too long, lacks its CR or holds a NUL or a bare CR.
 * -1 when the connection broke.
 */
int	cram_read_answer(struct sio *io, size_t linemax, char *buf,
	    size_t len);

#endif
