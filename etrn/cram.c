/*
 * cram.c - AUTH for bridged's sessions (CRAM-MD5; PLAIN and LOGIN
 * under TLS) and CRAM-MD5's answer for etrn(1): see cram.h.  The HMAC,
 * the digests, the randomness and base64 are OpenSSL's.
 *
 * Invariants: the answer line is read with the session's limit and a
 * line that is too long or lacks its CR is refused like bad base64;
 * nothing but the customer's name and why it failed is logged; a
 * password is compared by its SHA-256 (no length leaks) and wiped.
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

/* b64_decode_bin - base64 into out, NULs allowed; the length or -1. */
static int
b64_decode_bin(const char *in, char *out, size_t outlen)
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
	return n;
}

int
cram_b64_decode(const char *in, char *out, size_t outlen)
{
	int n;

	if ((n = b64_decode_bin(in, out, outlen)) == -1 ||
	    memchr(out, '\0', (size_t)n) != NULL)
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

/*
 * plain_split - PLAIN's decoded answer (n octets) "authzid NUL authcid
 * NUL password": *user and *pass point into it (the authzid is buf);
 * -1 when it is not that.
 */
static int
plain_split(char *buf, int n, char **user, char **pass)
{
	char *z1, *z2, *end = buf + n;

	if ((z1 = memchr(buf, '\0', (size_t)n)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', (size_t)(end - z1 - 1))) == NULL ||
	    memchr(z2 + 1, '\0', (size_t)(end - z2 - 1)) != NULL)
		return -1;
	*user = z1 + 1;
	*pass = z2 + 1;
	return 0;
}

int
cram_answer_user(const struct cram_server *cs, const char *line, char *buf,
    size_t len)
{
	char answer[CRAM_ANSWER_MAX], *sp, *user, *pass;
	int n, rv = -1;

	switch (cs->mech) {
	case AUTH_CRAM:
		if (cram_b64_decode(line, answer, sizeof(answer)) == -1 ||
		    (sp = strrchr(answer, ' ')) == NULL || sp == answer ||
		    (size_t)(sp - answer) >= len)
			break;
		*sp = '\0';
		strlcpy_(buf, answer, len);
		rv = 0;
		break;
	case AUTH_PLAIN:
		if ((n = b64_decode_bin(line, answer, sizeof(answer))) == -1 ||
		    plain_split(answer, n, &user, &pass) == -1 ||
		    user[0] == '\0' || strlen(user) >= len)
			break;
		strlcpy_(buf, user, len);
		rv = 0;
		break;
	case AUTH_LOGIN:
		if (cs->step == 1) {
			strlcpy_(buf, cs->user, len);
			rv = buf[0] != '\0' ? 0 : -1;
		} else if (cram_b64_decode(line, answer, sizeof(answer)) > 0 &&
		    strlen(answer) < len) {
			strlcpy_(buf, answer, len);
			rv = 0;
		}
		break;
	}
	OPENSSL_cleanse(answer, sizeof(answer));
	return rv;
}

static const char *const mech_name[] = { "CRAM-MD5", "PLAIN", "LOGIN" };

/*
 * secret_for - the secret of customer name, who may authenticate on
 * cs's channel, into buf (len octets): 1; 0 when the name may not
 * (why says so), -1 when its secret cannot be used (unreadable, too
 * open: the hub's problem, not the client's).  *who is the customer
 * named, when there is one.
 */
static int
secret_for(struct cram_server *cs, const struct bridge_conf *c,
    const char *name, const struct customer **who, char *buf, size_t len,
    char *why, size_t wlen)
{
	const struct customer *cu;

	*who = NULL;
	if (!name_is_safe(name) || (cu = conf_customer(c, name)) == NULL) {
		strlcpy_(why, "unknown user", wlen);
		return 0;
	}
	*who = cu;
	if (!(cu->release & cs->release)) {
		snprintf(why, wlen, "%s is not how this customer's mail is "
		    "released", cs->release == REL_ODMR ? "ODMR" : "ETRN");
		return 0;
	}
	if (cu->secret == NULL) {
		strlcpy_(why, "no secret file", wlen);
		return 0;
	}
	return cram_secret_read(cu->secret, buf, len, why, wlen) == -1 ? -1 : 1;
}

/*
 * check_cram - is answer "user digest" right for cs's challenge?  1
 * yes, 0 no, -1 the secret cannot be used (secret_for).
 */
static int
check_cram(struct cram_server *cs, const struct bridge_conf *c, char *answer,
    const struct customer **who, char *why, size_t len)
{
	char secret[CRAM_SECRET_MAX], want[33], *sp, *digest;
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
	if ((good = secret_for(cs, c, answer, who, secret, sizeof(secret), why,
	    len)) != 1)
		return good;
	good = cram_digest(secret, cs->challenge, want) == 0 &&
	    strlen(digest) == 32 && CRYPTO_memcmp(want, digest, 32) == 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	strlcpy_(why, good ? "" : "wrong digest", len);
	return good;
}

/*
 * check_password - is pass user's secret?  As check_cram; compared
 * as SHA-256 digests, so neither the time nor the length tells.
 */
static int
check_password(struct cram_server *cs, const struct bridge_conf *c,
    const char *user, const char *pass, const struct customer **who,
    char *why, size_t len)
{
	unsigned char a[32], b[32];
	char secret[CRAM_SECRET_MAX];
	unsigned int na = 0, nb = 0;
	int good;

	if ((good = secret_for(cs, c, user, who, secret, sizeof(secret), why,
	    len)) != 1)
		return good;
	good = EVP_Digest(secret, strlen(secret), a, &na, EVP_sha256(),
	    NULL) == 1 && EVP_Digest(pass, strlen(pass), b, &nb,
	    EVP_sha256(), NULL) == 1 && na == 32 && nb == 32 &&
	    CRYPTO_memcmp(a, b, 32) == 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	strlcpy_(why, good ? "" : "wrong password", len);
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
	log_info("%s: %s: AUTH %s failed%s%s: %s", cs->tag, client,
	    mech_name[cs->mech], who != NULL ? " for " : "",
	    who != NULL ? who->name : "", why);
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

/* challenge - the 334 with base64 text b64 ("": an empty one). */
static enum cram_outcome
challenge(struct cram_server *cs, struct cram_reply *r, const char *b64)
{
	cs->pending = 1;
	r->code = 334;
	r->status = "";
	strlcpy_(r->text, b64, sizeof(r->text));
	return CRAM_CHALLENGE;
}

enum cram_outcome
cram_start(struct cram_server *cs, const struct bridge_conf *c,
    const char *arg, struct cram_reply *r)
{
	const char *ir;
	size_t n;
	int m;

	cs->pending = 0;
	cs->step = 0;
	cs->user[0] = cs->initial[0] = '\0';
	if (cs->auth[0] != '\0')
		return refuse(r, 503, "5.5.1", "Error: already authenticated");
	while (*arg == ' ')
		arg++;
	n = strcspn(arg, " ");
	for (m = 0; m < 3; m++)
		if (strlen(mech_name[m]) == n &&
		    strncasecmp(arg, mech_name[m], n) == 0)
			break;
	if (m == 3)
		return refuse(r, 504, "5.5.4",
		    "Unrecognized authentication type");
	cs->mech = (enum auth_mech)m;
	ir = arg[n] == ' ' ? arg + n + 1 : NULL;
	if (cs->mech != AUTH_CRAM && !cs->tls)
		/* RFC 4954 section 6: not a password in clear */
		return refuse(r, 538, "5.7.11", "Encryption required for "
		    "requested authentication mechanism");
	if (cs->mech == AUTH_CRAM) {
		if (ir != NULL)
			return refuse(r, 501, "5.5.4",
			    "CRAM-MD5 takes no initial response");
		if (challenge_new(c->hostname, cs->challenge,
		    sizeof(cs->challenge)) == -1 || b64_encode(cs->challenge,
		    r->text, sizeof(r->text)) == -1)
			return refuse(r, 454, "4.7.0",
			    "Temporary authentication failure");
		return challenge(cs, r, r->text);
	}
	if (ir == NULL)			/* "Username:" */
		return challenge(cs, r, cs->mech == AUTH_PLAIN ? "" :
		    "VXNlcm5hbWU6");
	if (strcmp(ir, "=") == 0 || strlen(ir) >= sizeof(cs->initial))
		ir = "";		/* empty or too long: malformed */
	strlcpy_(cs->initial, ir, sizeof(cs->initial));
	cs->pending = 1;
	r->code = 0;
	r->status = "";
	r->text[0] = '\0';
	return CRAM_ANSWERED;
}

enum cram_outcome
cram_finish(struct cram_server *cs, const struct bridge_conf *c,
    const char *client, const char *line, struct cram_reply *r)
{
	char answer[CRAM_ANSWER_MAX], why[300], *user = NULL, *pass = NULL;
	const struct customer *cu = NULL;
	int n, good;

	if (!cs->pending)
		return refuse(r, 503, "5.5.1", "Error: no AUTH under way");
	cs->pending = 0;
	r->failed = 0;
	if (strcmp(line, "*") == 0)
		return refuse(r, 501, "5.7.0", "Authentication aborted");
	if ((n = b64_decode_bin(line, answer, sizeof(answer))) == -1 ||
	    (cs->mech != AUTH_PLAIN && memchr(answer, '\0', (size_t)n)))
		return failed(cs, c, client, NULL, "answer is not base64", 501,
		    r);
	switch (cs->mech) {
	case AUTH_CRAM:
		good = check_cram(cs, c, answer, &cu, why, sizeof(why));
		break;
	case AUTH_PLAIN:
		if (plain_split(answer, n, &user, &pass) == -1) {
			OPENSSL_cleanse(answer, sizeof(answer));
			return failed(cs, c, client, NULL, "malformed PLAIN "
			    "answer", 501, r);
		}
		if (answer[0] != '\0' && strcmp(answer, user) != 0) {
			/* no proxy authorisation: one may only be oneself */
			cu = conf_customer(c, user);
			OPENSSL_cleanse(answer, sizeof(answer));
			return failed(cs, c, client, cu,
			    "asked to act as another user", 535, r);
		}
		good = check_password(cs, c, user, pass, &cu, why, sizeof(why));
		break;
	default:			/* LOGIN */
		if (cs->step == 0) {
			cs->user[0] = '\0';	/* none: refused at the password */
			if (n > 0 && (size_t)n < sizeof(cs->user))
				strlcpy_(cs->user, answer, sizeof(cs->user));
			cs->step = 1;		/* "Password:" */
			return challenge(cs, r, "UGFzc3dvcmQ6");
		}
		good = check_password(cs, c, cs->user, answer, &cu, why,
		    sizeof(why));
		break;
	}
	OPENSSL_cleanse(answer, sizeof(answer));
	switch (good) {
	case -1:
		log_warnx("%s: %s: AUTH %s for %s cannot be checked: secret "
		    "%s", cs->tag, client, mech_name[cs->mech], cu->name, why);
		return refuse(r, 454, "4.7.0",
		    "Temporary authentication failure");
	case 0:
		return failed(cs, c, client, cu, why, 535, r);
	}
	strlcpy_(cs->auth, cu->name, sizeof(cs->auth));
	log_info("%s: %s: authenticated as %s (%s)", cs->tag, client, cu->name,
	    mech_name[cs->mech]);
	return settle(r, CRAM_OK, 235, "2.7.0", "Authentication successful");
}
