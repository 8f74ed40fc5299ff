/*
 * cram.c - AUTH CRAM-MD5 for bridged's sessions and for etrn(1): see
 * cram.h.  The HMAC, the randomness and base64 are OpenSSL's.
 *
 * Invariants: the answer line is read with the session's limit and a
 * line that is too long or lacks its CR is refused like bad base64;
 * nothing but the customer's name and why it failed is logged.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "log.h"
#include "util.h"
#include "cram.h"

int
cram_digest(const char *secret, const char *challenge, char hex[33])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (HMAC(EVP_md5(), secret, (int)strlen(secret),
	    (const unsigned char *)challenge, strlen(challenge), mac, &len) ==
	    NULL || len != 16)
		return -1;
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	hex[32] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int
cram_secret_read(const char *path, char *buf, size_t len, char *err,
    size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd;

	if (path == NULL) {
		snprintf(err, errlen, "no secret file");
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK))
	    == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, !S_ISREG(st.st_mode) ? "%s: not a "
		    "regular file" : "%s: mode %04o is too open: group and "
		    "others must have no access", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		snprintf(err, errlen, "%s: the first line is empty", path);
		return -1;
	}
	return 0;
}

int
cram_b64_decode(const char *in, char *out, size_t outlen)
{
	size_t len = strlen(in);
	int n, pad = 0;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 + 1 > outlen)
		return -1;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in,
	    (int)len);
	if (n < pad)
		return -1;
	n -= pad;
	out[n] = '\0';
	if (memchr(out, '\0', (size_t)n) != NULL)
		return -1;
	return n;
}

/* b64_encode - base64 of in into out; -1 when out is too small. */
static int
b64_encode(const char *in, char *out, size_t outlen)
{
	size_t len = strlen(in);

	if ((len + 2) / 3 * 4 + 1 > outlen)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in,
	    (int)len);
	return 0;
}

int
cram_answer(const char *user, const char *secret, const char *b64challenge,
    char *out, size_t outlen)
{
	char challenge[CRAM_ANSWER_MAX], hex[33], plain[CRAM_ANSWER_MAX];
	int n;

	if (cram_b64_decode(b64challenge, challenge, sizeof(challenge)) <= 0 ||
	    cram_digest(secret, challenge, hex) == -1)
		return -1;
	n = snprintf(plain, sizeof(plain), "%s %s", user, hex);
	if (n < 0 || (size_t)n >= sizeof(plain))
		return -1;
	return b64_encode(plain, out, outlen);
}

/* ---- the server's exchange ---- */

/* challenge_new - "<16 hex digits.time@hostname>"; -1 without randomness. */
static int
challenge_new(const char *hostname, char *buf, size_t len)
{
	unsigned char rnd[8];
	int n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	n = snprintf(buf, len, "<%02x%02x%02x%02x%02x%02x%02x%02x.%lld@%s>",
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
	    (long long)time(NULL), hostname);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
cram_read_answer(struct sio *io, size_t linemax, char *buf, size_t len)
{
	const char *p;
	size_t n;
	int st, part = 0;

	while ((st = sio_getline(io, linemax, &p, &n)) == SIO_PART)
		part = 1;
	if (st != SIO_LINE)
		return -1;
	buf[0] = '\0';
	if (!part && n >= 2 && p[n - 2] == '\r' && n - 2 < len &&
	    memchr(p, '\0', n - 2) == NULL && memchr(p, '\r', n - 2) == NULL) {
		memcpy(buf, p, n - 2);
		buf[n - 2] = '\0';
	}
	return 0;
}

int
cram_answer_user(const char *line, char *buf, size_t len)
{
	char answer[CRAM_ANSWER_MAX], *sp;

	if (cram_b64_decode(line, answer, sizeof(answer)) == -1 ||
	    (sp = strrchr(answer, ' ')) == NULL || sp == answer ||
	    (size_t)(sp - answer) >= len)
		return -1;
	*sp = '\0';
	strlcpy_(buf, answer, len);
	return 0;
}

/*
 * check - is answer "user digest" right for challenge?  1 yes, 0 no,
 * -1 when the customer's secret cannot be used (unreadable, too open:
 * the hub's problem, not the client's).  *who is the customer named
 * (when there is one), why (len octets) what was wrong.
 */
static int
check(struct cram_server *cs, const struct bridge_conf *c,
    const char *challenge, char *answer, const struct customer **who,
    char *why, size_t len)
{
	char secret[CRAM_SECRET_MAX], want[33], *sp, *digest;
	const struct customer *cu;
	size_t i;
	int good;

	*who = NULL;
	if ((sp = strrchr(answer, ' ')) == NULL) {
		strlcpy_(why, "malformed answer", len);
		return 0;
	}
	*sp = '\0';
	digest = sp + 1;
	for (i = 0; digest[i] != '\0'; i++)
		digest[i] = (char)tolower((unsigned char)digest[i]);
	if (!name_is_safe(answer) || (cu = conf_customer(c, answer)) == NULL) {
		strlcpy_(why, "unknown user", len);
		return 0;
	}
	*who = cu;
	if (!(cu->release & cs->release)) {
		snprintf(why, len, "%s is not how this customer's mail is "
		    "released", cs->release == REL_ODMR ? "ODMR" : "ETRN");
		return 0;
	}
	if (cu->secret != NULL && cram_secret_read(cu->secret, secret,
	    sizeof(secret), why, len) == -1)
		return -1;
	if (cu->secret == NULL) {
		strlcpy_(why, "no secret file", len);
		return 0;
	}
	good = cram_digest(secret, challenge, want) == 0 &&
	    strlen(digest) == 32 && CRYPTO_memcmp(want, digest, 32) == 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	strlcpy_(why, good ? "" : "wrong digest", len);
	return good;
}

/* settle - fill r; returns rv. */
static enum cram_outcome
settle(struct cram_reply *r, enum cram_outcome rv, int code,
    const char *status, const char *text)
{
	r->code = code;
	r->status = status;
	strlcpy_(r->text, text, sizeof(r->text));
	return rv;
}

/* refuse - a refusal after which the session goes on. */
static enum cram_outcome
refuse(struct cram_reply *r, int code, const char *status, const char *text)
{
	return settle(r, CRAM_REFUSED, code, status, text);
}

/* failed - log a failed AUTH and count it: 535, or 421 at the limit. */
static enum cram_outcome
failed(struct cram_server *cs, const struct bridge_conf *c,
    const char *client, const struct customer *who, const char *why,
    int code, struct cram_reply *r)
{
	log_info("%s: %s: AUTH CRAM-MD5 failed%s%s: %s", cs->tag, client,
	    who != NULL ? " for " : "", who != NULL ? who->name : "", why);
	r->failed = 1;
	if (++cs->fails >= CRAM_FAILS) {
		settle(r, CRAM_CLOSE, 421, "4.7.0", "");
		snprintf(r->text, sizeof(r->text), "%s Error: too many failed "
		    "authentications", c->hostname);
		return CRAM_CLOSE;
	}
	if (code == 501)
		return refuse(r, 501, "5.5.2", "Error: answer is not base64");
	return refuse(r, 535, "5.7.8", "Authentication credentials invalid");
}

enum cram_outcome
cram_start(struct cram_server *cs, const struct bridge_conf *c,
    const char *arg, struct cram_reply *r)
{
	cs->pending = 0;
	if (cs->auth[0] != '\0')
		return refuse(r, 503, "5.5.1", "Error: already authenticated");
	while (*arg == ' ')
		arg++;
	if (strncasecmp(arg, "CRAM-MD5", 8) != 0 ||
	    (arg[8] != '\0' && arg[8] != ' '))
		return refuse(r, 504, "5.5.4",
		    "Unrecognized authentication type");
	if (arg[8] == ' ')
		return refuse(r, 501, "5.5.4",
		    "CRAM-MD5 takes no initial response");
	if (challenge_new(c->hostname, cs->challenge, sizeof(cs->challenge)) ==
	    -1 || b64_encode(cs->challenge, r->text, sizeof(r->text)) == -1)
		return refuse(r, 454, "4.7.0",
		    "Temporary authentication failure");
	cs->pending = 1;
	r->code = 334;
	r->status = "";
	return CRAM_CHALLENGE;
}

enum cram_outcome
cram_finish(struct cram_server *cs, const struct bridge_conf *c,
    const char *client, const char *line, struct cram_reply *r)
{
	char answer[CRAM_ANSWER_MAX], why[300];
	const struct customer *cu;

	if (!cs->pending)
		return refuse(r, 503, "5.5.1", "Error: no AUTH under way");
	cs->pending = 0;
	r->failed = 0;
	if (strcmp(line, "*") == 0)
		return refuse(r, 501, "5.7.0", "Authentication aborted");
	if (cram_b64_decode(line, answer, sizeof(answer)) == -1)
		return failed(cs, c, client, NULL, "answer is not base64", 501,
		    r);
	switch (check(cs, c, cs->challenge, answer, &cu, why, sizeof(why))) {
	case -1:
		log_warnx("%s: %s: AUTH CRAM-MD5 for %s cannot be checked: "
		    "secret %s", cs->tag, client, cu->name, why);
		return refuse(r, 454, "4.7.0",
		    "Temporary authentication failure");
	case 0:
		return failed(cs, c, client, cu, why, 535, r);
	}
	strlcpy_(cs->auth, cu->name, sizeof(cs->auth));
	log_info("%s: %s: authenticated as %s", cs->tag, client, cu->name);
	return settle(r, CRAM_OK, 235, "2.7.0", "Authentication successful");
}
