/*
 * odmr.c - the provider side of ODMR (RFC 2645) for one connection:
 * see odmr.h.  Commands: EHLO (HELO), AUTH CRAM-MD5, ATRN, NOOP, RSET,
 * QUIT; anything else 502.  CRAM-MD5 (RFC 2195): the user name is the
 * customer's name, the shared secret the first line of its secret
 * file; the HMAC is OpenSSL's.  ATRN without an argument means all of
 * the customer's domains; with one, every domain must route to the
 * authenticated customer.  Its domains share one queue, so any ATRN
 * releases the whole queue.
 *
 * Invariants: the queue lock is taken before the 250 that turns the
 * connection round, so the reply never promises a delivery another
 * flush is already making (451 instead); nothing the client sent
 * after ATRN may sit unread in the buffer when the socket is handed to
 * the SMTP client engine.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "flush.h"
#include "log.h"
#include "queue.h"
#include "util.h"
#include "odmr.h"

#define CMD_MAX		2048	/* command line, CRLF included */
#define SECRET_MAX	1024	/* first line of a secret file */
#define BAD_MAX		10	/* bad commands in a row before 421 */

struct odmr {
	const struct smtpd_ctx *ctx;
	const struct bridge_conf *conf;
	const struct smtpd_client *cl;
	struct sio *io;
	int	fd;
	int	helo_done;
	const struct customer *auth;	/* after a successful AUTH */
	int	fails;			/* failed AUTHs */
	int	bad;
	int	done;
	char	cmd[CMD_MAX + 1];
};

static void
reply(struct odmr *s, int code, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
reply(struct odmr *s, int code, const char *status, const char *fmt, ...)
{
	char text[600];
	va_list ap;

	va_start(ap, fmt);
	sio_vcode(s->io, code, status, text, sizeof(text), fmt, ap);
	va_end(ap);
	if (code >= 500 && code != 535)
		s->bad++;
	else if (code < 400)
		s->bad = 0;
}

int
odmr_cram_digest(const char *secret, const char *challenge, char hex[33])
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
	return 0;
}

/* read_secret - the first line of path into buf; -1 if none. */
static int
read_secret(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (path == NULL ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] == '\0' ? -1 : 0;
}

/* b64_decode - base64 text into out (NUL-terminated); length or -1. */
static int
b64_decode(const char *in, char *out, size_t outlen)
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

/* cram_check - is answer "user digest" right for challenge?  *who set. */
static int
cram_check(struct odmr *s, const char *challenge, char *answer,
    const struct customer **who, const char **why)
{
	char secret[SECRET_MAX], want[33], *sp, *digest;
	const struct customer *cu;
	size_t i;
	int good;

	*who = NULL;
	if ((sp = strrchr(answer, ' ')) == NULL) {
		*why = "malformed answer";
		return 0;
	}
	*sp = '\0';
	digest = sp + 1;
	for (i = 0; digest[i] != '\0'; i++)
		digest[i] = (char)tolower((unsigned char)digest[i]);
	if (!name_is_safe(answer) ||
	    (cu = conf_customer(s->conf, answer)) == NULL) {
		*why = "unknown user";
		return 0;
	}
	*who = cu;
	if (!(cu->release & REL_ODMR)) {
		*why = "ODMR is not how this customer's mail is released";
		return 0;
	}
	if (read_secret(cu->secret, secret, sizeof(secret)) == -1) {
		*why = "no readable secret";
		return 0;
	}
	good = odmr_cram_digest(secret, challenge, want) == 0 &&
	    strlen(digest) == 32 && CRYPTO_memcmp(want, digest, 32) == 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	*why = good ? NULL : "wrong digest";
	return good;
}

/* auth_line - read the client's answer to a 334; NULL when it broke. */
static char *
auth_line(struct odmr *s)
{
	const char *p;
	size_t len;
	int st, part = 0;

	while ((st = sio_getline(s->io, CMD_MAX, &p, &len)) == SIO_PART)
		part = 1;
	if (st != SIO_LINE) {
		s->done = 1;
		return NULL;
	}
	s->cmd[0] = '\0';
	if (!part && len >= 2 && p[len - 2] == '\r') {
		memcpy(s->cmd, p, len - 2);
		s->cmd[len - 2] = '\0';
	}
	return s->cmd;		/* "" for garbage: refused by the caller */
}

static void
cmd_auth(struct odmr *s, char *arg)
{
	unsigned char rnd[8];
	char challenge[300], b64[420], answer[400], *line;
	const struct customer *who;
	const char *why = NULL;

	if (!s->helo_done) {
		reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->auth != NULL) {
		reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	while (*arg == ' ')
		arg++;
	if (strncasecmp(arg, "CRAM-MD5", 8) != 0 ||
	    (arg[8] != '\0' && arg[8] != ' ')) {
		reply(s, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	if (arg[8] == ' ') {
		reply(s, 501, "5.5.4", "CRAM-MD5 takes no initial response");
		return;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	snprintf(challenge, sizeof(challenge), "<%02x%02x%02x%02x%02x%02x%02x"
	    "%02x.%lld@%s>", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
	    rnd[6], rnd[7], (long long)time(NULL), s->conf->hostname);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)challenge,
	    (int)strlen(challenge));
	sio_reply(s->io, "334 %s", b64);
	if ((line = auth_line(s)) == NULL)
		return;
	if (strcmp(line, "*") == 0) {
		reply(s, 501, "5.7.0", "Authentication aborted");
		return;
	}
	if (b64_decode(line, answer, sizeof(answer)) == -1) {
		why = "answer is not base64";
		who = NULL;
	} else if (cram_check(s, challenge, answer, &who, &why)) {
		s->auth = who;
		log_info("odmr: %s[%s]: authenticated as %s", s->cl->name,
		    s->cl->addr, who->name);
		reply(s, 235, "2.7.0", "Authentication successful");
		return;
	}
	s->fails++;
	log_info("odmr: %s[%s]: AUTH CRAM-MD5 failed%s%s: %s", s->cl->name,
	    s->cl->addr, who != NULL ? " for " : "",
	    who != NULL ? who->name : "", why);
	if (s->fails >= ODMR_AUTH_FAILS) {
		reply(s, 421, "4.7.0", "%s Error: too many failed "
		    "authentications", s->conf->hostname);
		s->done = 1;
		return;
	}
	reply(s, 535, "5.7.8", "Authentication credentials invalid");
}

/*
 * atrn_domains_ok - every comma-separated domain of arg routes to cu.
 * Returns 1, 0 (*bad names the first that does not) or -1 (syntax).
 */
static int
atrn_domains_ok(struct odmr *s, char *arg, const char **bad)
{
	struct route_result res;
	char *d;

	while ((d = strsep(&arg, ",")) != NULL) {
		if (etrn_domain(d) == -1)
			return -1;
		routes_lookup(s->conf->routes, d, &res);
		if (res.kind != ROUTE_CUSTOMER ||
		    strcmp(res.customer, s->auth->name) != 0) {
			*bad = d;
			return 0;
		}
	}
	return 1;
}

/* turn_round - after ATRN's 250: deliver the queue over this socket. */
static void
turn_round(struct odmr *s, int lockfd)
{
	struct flush_opts o;
	struct flush_stats st;
	struct smtpc_reply r;
	struct smtpc *c;
	enum result rv;

	s->done = 1;
	if (sio_flush(s->io) == -1 || s->io->ilen > 0) {
		log_warnx("odmr: %s[%s]: %s", s->cl->name, s->cl->addr,
		    s->io->ilen > 0 ? "sent data before our 250 to ATRN" :
		    "lost the connection");
		close(lockfd);
		return;
	}
	flush_opts_default(&o);
	o.connections = 1;
	if ((c = smtpc_fdopen(s->fd, s->cl->addr, &o.smtp)) == NULL) {
		log_warn("odmr: %s[%s]", s->cl->name, s->cl->addr);
		close(lockfd);
		return;
	}
	if (smtpc_greeting(c, &r) != RS_OK ||
	    smtpc_hello(c, s->conf->hostname, &r) != RS_OK) {
		log_warnx("odmr: %s: %s[%s] did not take the turn: %s",
		    s->auth->name, s->cl->name, s->cl->addr, r.text);
		smtpc_quit(c);
		close(lockfd);
		return;
	}
	rv = flush_customer_conn(s->conf, s->auth, c, lockfd, &o, &st);
	log_info("odmr: %s: %s[%s]: %ld sent, %ld deferred, %ld bounced%s",
	    s->auth->name, s->cl->name, s->cl->addr, st.sent, st.deferred,
	    st.bounced, rv == RS_OK ? "" : "; some stay queued");
}

static void
cmd_atrn(struct odmr *s, char *arg)
{
	struct qusage u;
	const char *bad = NULL;
	int lockfd, busy, rc;

	if (s->auth == NULL) {
		reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	while (*arg == ' ')
		arg++;
	if (*arg != '\0' && (rc = atrn_domains_ok(s, arg, &bad)) != 1) {
		if (rc == -1)
			reply(s, 501, "5.5.4", "Syntax: ATRN [domain[,domain]...]");
		else {
			log_info("odmr: %s[%s]: ATRN as %s refused: %s is not "
			    "its domain", s->cl->name, s->cl->addr,
			    s->auth->name, bad);
			reply(s, 450, "4.7.1", "Access denied to <%s>", bad);
		}
		return;
	}
	if ((lockfd = flush_lock(s->conf, s->auth, &busy)) == -1) {
		reply(s, 451, "4.3.0", "Unable to process ATRN now: %s",
		    busy ? "a delivery of your mail is running" :
		    "queue unavailable");
		return;
	}
	if (spool_usage(s->conf->spool, s->auth->name, &u) != RS_OK ||
	    u.count == 0) {
		close(lockfd);
		reply(s, 453, "4.3.0", "You have no mail");
		return;
	}
	log_info("odmr: %s: %s[%s]: ATRN, %llu pending", s->auth->name,
	    s->cl->name, s->cl->addr, (unsigned long long)u.count);
	reply(s, 250, "2.0.0", "OK, now reversing the connection");
	turn_round(s, lockfd);
}

static void
cmd_ehlo(struct odmr *s, char *arg, int esmtp)
{
	while (*arg == ' ')
		arg++;
	if (*arg == '\0') {
		reply(s, 501, "5.5.4", "Syntax: %s hostname", esmtp ? "EHLO" :
		    "HELO");
		return;
	}
	s->helo_done = 1;
	if (!esmtp) {
		sio_reply(s->io, "250 %s", s->conf->hostname);
		return;
	}
	sio_reply(s->io, "250-%s", s->conf->hostname);
	sio_reply(s->io, "250-AUTH CRAM-MD5");
	sio_reply(s->io, "250-ATRN");
	sio_reply(s->io, "250 ENHANCEDSTATUSCODES");
	s->bad = 0;
}

/* dispatch - one command line, CRLF removed. */
static void
dispatch(struct odmr *s, char *line)
{
	size_t n = strcspn(line, " ");

	if (n != 4) {
		reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (strncasecmp(line, "EHLO", 4) == 0)
		cmd_ehlo(s, line + 4, 1);
	else if (strncasecmp(line, "HELO", 4) == 0)
		cmd_ehlo(s, line + 4, 0);
	else if (strncasecmp(line, "AUTH", 4) == 0)
		cmd_auth(s, line + 4);
	else if (strncasecmp(line, "ATRN", 4) == 0)
		cmd_atrn(s, line + 4);
	else if (strncasecmp(line, "NOOP", 4) == 0 ||
	    strncasecmp(line, "RSET", 4) == 0)
		reply(s, 250, "2.0.0", "Ok");
	else if (strncasecmp(line, "QUIT", 4) == 0) {
		reply(s, 221, "2.0.0", "Bye");
		s->done = 1;
	} else
		reply(s, 502, "5.5.1", "Error: command not implemented");
}

/* command - read and run one command; SIO_LINE to go on. */
static int
command(struct odmr *s)
{
	const char *p;
	size_t len;
	int st, too_long = 0;

	while ((st = sio_getline(s->io, CMD_MAX, &p, &len)) == SIO_PART)
		too_long = 1;
	if (st == SIO_LAST)
		return SIO_EOF;
	if (st != SIO_LINE)
		return st;
	if (too_long) {
		reply(s, 500, "5.5.2", "Error: line too long");
		return SIO_LINE;
	}
	if (len < 2 || p[len - 2] != '\r' || memchr(p, '\r', len - 2) != NULL ||
	    memchr(p, '\0', len - 2) != NULL) {
		reply(s, 501, "5.5.2", "Error: bare LF/CR or NUL not allowed");
		return SIO_LINE;
	}
	memcpy(s->cmd, p, len - 2);
	s->cmd[len - 2] = '\0';
	dispatch(s, s->cmd);
	return SIO_LINE;
}

int
odmr_session(const struct smtpd_ctx *ctx, int fd,
    const struct smtpd_client *cl)
{
	struct odmr s;
	const struct bridge_conf *c = ctx->conf;
	int st = 0;

	memset(&s, 0, sizeof(s));
	if ((s.io = malloc(sizeof(*s.io))) == NULL) {
		log_warn("odmr session for %s[%s]", cl->name, cl->addr);
		return -1;
	}
	s.ctx = ctx;
	s.conf = c;
	s.cl = cl;
	s.fd = fd;
	sio_init(s.io, fd, fd, c->odmr.timeout > 0 ? c->odmr.timeout : 600);
	s.io->stop = ctx->stop;
	s.io->waitmask = ctx->waitmask;
	log_debug("odmr: connect from %s[%s]", cl->name, cl->addr);
	sio_reply(s.io, "220 %s ESMTP on-demand mail relay (mailbridge)",
	    c->hostname);
	while (!s.done) {
		if ((st = command(&s)) != SIO_LINE)
			break;
		if (s.bad >= BAD_MAX) {
			reply(&s, 421, "4.7.0", "%s Error: too many errors",
			    c->hostname);
			break;
		}
	}
	if (st == SIO_STOP)
		reply(&s, 421, "4.3.2", "%s Service shutting down",
		    c->hostname);
	else if (st == SIO_TIMEOUT)
		reply(&s, 421, "4.4.2", "%s Error: timeout exceeded",
		    c->hostname);
	if (s.io->olen > 0)
		sio_flush(s.io);
	log_debug("odmr: disconnect from %s[%s]", cl->name, cl->addr);
	free(s.io);
	return st < 0 && st != SIO_STOP && st != SIO_TIMEOUT ? -1 : 0;
}
