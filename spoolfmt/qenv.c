/*
 * qenv.c - the envelope of a queue entry: writing its text, reading it
 * back with bounded lines, and replacing it in place (spoolfmt(5)).
 *
 * Invariants: a line, LF included, is at most QENV_LINE_MAX octets on
 * both sides; no value ever holds CR or LF; a parsed entry has an id, a
 * customer, an arrival, a size, a sender and at least one recipient,
 * and its file is exactly envelope + size octets long.  Unknown fields
 * are skipped so that older readers can read newer entries.  A notify,
 * orcpt or reply line belongs to the rcpt line before it; in memory they are
 * records found by address, so a rewrite with fewer recipients keeps
 * the parameters of those left and drops the others'.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "qint.h"

#define LR_BUFSIZE	8192	/* > QENV_LINE_MAX */
#define QENV_RCPTS_MAX	100000	/* recipients accepted in one entry */

/* Bounded line reader over pread, from offset 0. */
struct lreader {
	int	fd;
	off_t	pos;		/* file offset of buf[0] */
	size_t	start;		/* next unread octet in buf */
	size_t	end;		/* octets in buf */
	int	eof;
	char	buf[LR_BUFSIZE];
};

enum lr_status { LR_LINE, LR_EOF, LR_PARTIAL, LR_LONG, LR_ERROR };

enum field {
	F_ID = 1 << 0, F_CUSTOMER = 1 << 1, F_ARRIVAL = 1 << 2,
	F_SIZE = 1 << 3, F_BODY = 1 << 4, F_PROTOCOL = 1 << 5,
	F_CLIENT = 1 << 6, F_HELO = 1 << 7, F_SENDER = 1 << 8,
	F_RCPT = 1 << 9, F_ATTEMPTS = 1 << 10, F_LAST = 1 << 11,
	F_NEXT = 1 << 12, F_ENVID = 1 << 13, F_RET = 1 << 14,
	F_NTFY = 1 << 15, F_ORCPT = 1 << 16, F_WARNED = 1 << 17,
	F_REPLY = 1 << 18
};
/* Fields that may repeat: once per entry is checked elsewhere. */
#define F_PER_RCPT (F_RCPT | F_NTFY | F_ORCPT | F_REPLY)
#define F_REQUIRED (F_ID | F_CUSTOMER | F_ARRIVAL | F_SIZE | F_SENDER | F_RCPT)

static const struct {
	const char *name;
	enum field f;
} fields[] = {
	{ "id", F_ID }, { "customer", F_CUSTOMER }, { "arrival", F_ARRIVAL },
	{ "size", F_SIZE }, { "body", F_BODY }, { "protocol", F_PROTOCOL },
	{ "client", F_CLIENT }, { "helo", F_HELO }, { "sender", F_SENDER },
	{ "rcpt", F_RCPT }, { "attempts", F_ATTEMPTS },
	{ "last-attempt", F_LAST }, { "next-attempt", F_NEXT },
	{ "envid", F_ENVID }, { "ret", F_RET }, { "notify", F_NTFY },
	{ "orcpt", F_ORCPT }, { "warned", F_WARNED }, { "reply", F_REPLY },
};

static const struct {
	const char *name;
	unsigned bit;
} notify_words[] = {
	{ "SUCCESS", QN_SUCCESS }, { "FAILURE", QN_FAILURE },
	{ "DELAY", QN_DELAY },
};
#define NWORDS	(sizeof(notify_words) / sizeof(notify_words[0]))

/* --- writing --------------------------------------------------------- */

void
qbuf_free(struct qbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* qbuf_add - append formatted text; -1 when out of memory. */
static int __attribute__((format(printf, 2, 3)))
qbuf_add(struct qbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t need, ncap;
	char *np;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	need = b->len + (size_t)n + 1;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 1024;
		while (ncap < need)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* put_line - "key value\n", refusing CR/LF and over-long lines. */
static enum result
put_line(struct qbuf *b, const char *key, const char *open,
    const char *value, const char *close, char *err, size_t errlen)
{
	size_t start = b->len;

	if (strpbrk(value, "\r\n") != NULL) {
		err_set(err, errlen, "%s contains CR or LF", key);
		return RS_PERM;
	}
	if (qbuf_add(b, "%s %s%s%s\n", key, open, value, close) == -1) {
		err_set(err, errlen, "envelope: %s", strerror(ENOMEM));
		return RS_TEMP;
	}
	if (b->len - start > QENV_LINE_MAX) {
		err_set(err, errlen, "%s line longer than %d octets", key,
		    QENV_LINE_MAX);
		return RS_PERM;
	}
	return RS_OK;
}

static enum result
put_text(struct qbuf *b, const char *key, const char *value, char *err,
    size_t errlen)
{
	if (value == NULL)
		return RS_OK;
	return put_line(b, key, "", value, "", err, errlen);
}

static enum result
put_number(struct qbuf *b, const char *key, long long v, char *err,
    size_t errlen)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	return put_line(b, key, "", num, "", err, errlen);
}

static enum result
format_check(const struct qenv *env, char *err, size_t errlen)
{
	int i;

	if (!qid_is_valid(env->id)) {
		err_set(err, errlen, "bad queue id");
		return RS_PERM;
	}
	if (!name_is_safe(env->customer)) {
		err_set(err, errlen, "bad customer name");
		return RS_PERM;
	}
	if (env->sender == NULL) {
		err_set(err, errlen, "no sender");
		return RS_PERM;
	}
	if (env->nrcpts < 1 || env->rcpts == NULL) {
		err_set(err, errlen, "no recipient");
		return RS_PERM;
	}
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i] == NULL || env->rcpts[i][0] == '\0') {
			err_set(err, errlen, "empty recipient");
			return RS_PERM;
		}
	if (env->arrival < 0 || env->attempts < 0 || env->last_attempt < 0 ||
	    env->next_attempt < 0 || env->warned < 0) {
		err_set(err, errlen, "negative time or count");
		return RS_PERM;
	}
	return RS_OK;
}

/* --- DSN parameters --------------------------------------------- */

int
qnotify_parse(const char *s, unsigned *bits)
{
	const char *e;
	size_t i, n;

	*bits = 0;
	if (strcasecmp(s, "NEVER") == 0) {
		*bits = QN_NEVER;
		return 0;
	}
	for (;;) {
		e = s + strcspn(s, ",");
		n = (size_t)(e - s);
		for (i = 0; i < NWORDS; i++)
			if (strlen(notify_words[i].name) == n &&
			    strncasecmp(s, notify_words[i].name, n) == 0)
				break;
		if (i == NWORDS || (*bits & notify_words[i].bit))
			return -1;
		*bits |= notify_words[i].bit;
		if (*e == '\0')
			return 0;
		s = e + 1;
	}
}

char *
qnotify_format(unsigned bits, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	if (bits & QN_NEVER) {
		snprintf(buf, len, "NEVER");
		return buf;
	}
	for (i = 0; i < NWORDS; i++)
		if ((bits & notify_words[i].bit) && off < len) {
			snprintf(buf + off, len - off, "%s%s", off ? "," : "",
			    notify_words[i].name);
			off += strlen(buf + off);
		}
	return buf;
}

/* rdsn_find - the record of addr, searching on from *hint (in order). */
static const struct qrcpt_dsn *
rdsn_find(const struct qenv *env, const char *addr, int *hint)
{
	int i, k;

	for (k = 0; k < env->nrdsn; k++) {
		i = (*hint + k) % env->nrdsn;
		if (env->rdsn[i].addr != NULL &&
		    strcmp(env->rdsn[i].addr, addr) == 0) {
			*hint = i + 1;
			return &env->rdsn[i];
		}
	}
	return NULL;
}

const struct qrcpt_dsn *
qenv_rcpt_dsn(const struct qenv *env, const char *addr)
{
	int hint = 0;

	return rdsn_find(env, addr, &hint);
}

int
qenv_notify(const struct qenv *env, const char *addr, unsigned what)
{
	const struct qrcpt_dsn *d = qenv_rcpt_dsn(env, addr);

	if (d == NULL || d->notify == 0)
		return what == QN_FAILURE || what == QN_DELAY;
	return (d->notify & QN_NEVER) == 0 && (d->notify & what) != 0;
}

/* put_rcpt - a rcpt line and the notify and orcpt lines that go with it. */
static enum result
put_rcpt(struct qbuf *b, const struct qenv *env, int i, int *hint,
    char *err, size_t errlen)
{
	const struct qrcpt_dsn *d;
	enum result rs;
	char nb[32];

	if ((rs = put_line(b, "rcpt", "<", env->rcpts[i], ">", err,
	    errlen)) != RS_OK)
		return rs;
	if ((d = rdsn_find(env, env->rcpts[i], hint)) == NULL)
		return RS_OK;
	if (d->notify != 0 && (rs = put_text(b, "notify",
	    qnotify_format(d->notify, nb, sizeof(nb)), err, errlen)) != RS_OK)
		return rs;
	if ((rs = put_text(b, "orcpt", d->orcpt, err, errlen)) != RS_OK ||
	    d->remote == NULL || d->reply == NULL)
		return rs;
	if (qbuf_add(b, "reply %s %s\n", d->remote, d->reply) == -1) {
		err_set(err, errlen, "envelope: %s", strerror(ENOMEM));
		return RS_TEMP;
	}
	return RS_OK;
}

/* rdsn_of - the record of addr (a pointer into env->rcpts), made. */
static struct qrcpt_dsn *
rdsn_of(struct qenv *env, char *addr)
{
	struct qrcpt_dsn *nv;
	int i;

	for (i = 0; i < env->nrdsn; i++)
		if (env->rdsn[i].addr != NULL &&
		    strcmp(env->rdsn[i].addr, addr) == 0)
			return &env->rdsn[i];
	if ((nv = reallocarray(env->rdsn, (size_t)env->nrdsn + 1,
	    sizeof(*nv))) == NULL)
		return NULL;
	env->rdsn = nv;
	memset(&nv[env->nrdsn], 0, sizeof(nv[0]));
	nv[env->nrdsn].addr = addr;
	return &nv[env->nrdsn++];
}

/* reply_ok - one word of a host and printable text: an envelope value. */
static int
reply_ok(const char *host, const char *reply)
{
	const char *p;

	if (*host == '\0' || strlen(host) > 255 || *reply == '\0')
		return 0;
	for (p = host; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			return 0;
	for (p = reply; *p != '\0'; p++)
		if (*p < ' ' || *p > '~')
			return 0;
	return 1;
}

int
qenv_set_reply(struct qenv *env, char *addr, const char *host,
    const char *reply)
{
	struct qrcpt_dsn *d;
	char *h, *r;
	size_t room;

	if (!reply_ok(host, reply) || (d = rdsn_of(env, addr)) == NULL)
		return -1;
	room = QENV_REPLY_MAX - strlen(host) - 1;
	if ((h = strdup(host)) == NULL || (r = strndup(reply, room)) == NULL) {
		free(h);
		return -1;
	}
	free(d->remote);
	free(d->reply);
	d->remote = h;
	d->reply = r;
	return 0;
}

/* put_dsn_env - the entry's envid and ret lines. */
static enum result
put_dsn_env(struct qbuf *b, const struct qenv *env, char *err, size_t errlen)
{
	enum result rs;

	if ((rs = put_text(b, "envid", env->envid, err, errlen)) != RS_OK)
		return rs;
	if (env->ret == QRET_NONE)
		return RS_OK;
	return put_text(b, "ret", env->ret == QRET_FULL ? "full" : "hdrs",
	    err, errlen);
}

enum result
qenv_format(const struct qenv *env, uint64_t size, struct qbuf *out,
    size_t *size_off, char *err, size_t errlen)
{
	enum result rs;
	int i, hint = 0;

	memset(out, 0, sizeof(*out));
	if ((rs = format_check(env, err, errlen)) != RS_OK)
		return rs;
	if (qbuf_add(out, "%s\nid %s\ncustomer %s\n", QENV_MAGIC, env->id,
	    env->customer) == -1 ||
	    qbuf_add(out, "arrival %lld\nsize ", (long long)env->arrival) == -1)
		goto nomem;
	*size_off = out->len;
	if (qbuf_add(out, "%0*llu\nbody %s\n", QENV_SIZE_DIGITS,
	    (unsigned long long)size, env->body_8bit ? "8bit" : "7bit") == -1)
		goto nomem;
	if ((rs = put_text(out, "protocol", env->protocol, err, errlen)) ||
	    (rs = put_text(out, "client", env->client, err, errlen)) ||
	    (rs = put_text(out, "helo", env->helo, err, errlen)) ||
	    (rs = put_line(out, "sender", "<", env->sender, ">", err,
	    errlen)) || (rs = put_dsn_env(out, env, err, errlen)))
		goto fail;
	for (i = 0; i < env->nrcpts; i++)
		if ((rs = put_rcpt(out, env, i, &hint, err, errlen)) != RS_OK)
			goto fail;
	if ((rs = put_number(out, "attempts", env->attempts, err, errlen)) ||
	    (env->last_attempt && (rs = put_number(out, "last-attempt",
	    (long long)env->last_attempt, err, errlen))) ||
	    (env->next_attempt && (rs = put_number(out, "next-attempt",
	    (long long)env->next_attempt, err, errlen))) ||
	    (env->warned && (rs = put_number(out, "warned",
	    (long long)env->warned, err, errlen))))
		goto fail;
	if (qbuf_add(out, "\n") == -1)
		goto nomem;
	return RS_OK;
nomem:
	err_set(err, errlen, "envelope: %s", strerror(ENOMEM));
	rs = RS_TEMP;
fail:
	qbuf_free(out);
	return rs;
}

/* --- reading --------------------------------------------------------- */

/* lr_line - the next line without its LF, NUL-terminated in place. */
static enum lr_status
lr_line(struct lreader *lr, char **line, size_t *len)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(lr->buf + lr->start, '\n', lr->end - lr->start);
		if (nl != NULL) {
			*line = lr->buf + lr->start;
			*len = (size_t)(nl - *line);
			*nl = '\0';
			lr->start += *len + 1;
			return *len + 1 > QENV_LINE_MAX ? LR_LONG : LR_LINE;
		}
		if (lr->end - lr->start >= QENV_LINE_MAX)
			return LR_LONG;
		if (lr->eof)
			return lr->start == lr->end ? LR_EOF : LR_PARTIAL;
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->pos += (off_t)lr->start;
		lr->end -= lr->start;
		lr->start = 0;
		do
			n = pread(lr->fd, lr->buf + lr->end, sizeof(lr->buf) -
			    lr->end, lr->pos + (off_t)lr->end);
		while (n == -1 && errno == EINTR);
		if (n == -1)
			return LR_ERROR;
		if (n == 0)
			lr->eof = 1;
		lr->end += (size_t)n;
	}
}

/* parse_u64 - 1 to 20 decimal digits, nothing else, no overflow. */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t n = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 20)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = n;
	return 0;
}

static int
parse_time(const char *s, time_t *out)
{
	uint64_t n;

	if (parse_u64(s, &n) == -1 || n > (uint64_t)INT64_MAX)
		return -1;
	*out = (time_t)n;
	return 0;
}

/* parse_addr - "<...>" into a fresh string without the brackets. */
static int
parse_addr(const char *s, char **out)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '<' || s[n - 1] != '>')
		return -1;
	if ((*out = strndup(s + 1, n - 2)) == NULL)
		return -1;
	return 0;
}

static int
add_rcpt(struct qenv *env, const char *v)
{
	char **nr, *a;

	if (env->nrcpts >= QENV_RCPTS_MAX || parse_addr(v, &a) == -1)
		return -1;
	if (a[0] == '\0' || (nr = reallocarray(env->rcpts,
	    (size_t)env->nrcpts + 1, sizeof(*nr))) == NULL) {
		free(a);
		return -1;
	}
	env->rcpts = nr;
	env->rcpts[env->nrcpts++] = a;
	return 0;
}

/*
 * last_rdsn - the record of the last recipient read, added when it has
 * none yet; NULL when no recipient came before or out of memory.
 */
static struct qrcpt_dsn *
last_rdsn(struct qenv *env)
{
	struct qrcpt_dsn *nv;
	char *addr;

	if (env->nrcpts == 0)
		return NULL;
	addr = env->rcpts[env->nrcpts - 1];
	if (env->nrdsn > 0 && env->rdsn[env->nrdsn - 1].addr == addr)
		return &env->rdsn[env->nrdsn - 1];
	if ((nv = reallocarray(env->rdsn, (size_t)env->nrdsn + 1,
	    sizeof(*nv))) == NULL)
		return NULL;
	env->rdsn = nv;
	memset(&nv[env->nrdsn], 0, sizeof(nv[0]));
	nv[env->nrdsn].addr = addr;
	return &nv[env->nrdsn++];
}

/* set_reply - a reply line: "host text". */
static int
set_reply(struct qrcpt_dsn *d, const char *v)
{
	const char *sp = strchr(v, ' ');

	if (d->reply != NULL || d->remote != NULL || sp == NULL ||
	    strlen(v) > QENV_REPLY_MAX ||
	    (d->remote = strndup(v, (size_t)(sp - v))) == NULL)
		return -1;
	if (!reply_ok(d->remote, sp + 1) || (d->reply = strdup(sp + 1)) ==
	    NULL)
		return -1;
	return 0;
}

/* set_rcpt_dsn - a notify, orcpt or reply line for the rcpt above it. */
static int
set_rcpt_dsn(struct qenv *env, enum field f, const char *v)
{
	struct qrcpt_dsn *d;
	unsigned bits;

	if ((d = last_rdsn(env)) == NULL)
		return -1;
	if (f == F_REPLY)
		return set_reply(d, v);
	if (f == F_NTFY) {
		if (d->notify != 0 || qnotify_parse(v, &bits) == -1)
			return -1;
		d->notify = bits;
		return 0;
	}
	if (d->orcpt != NULL || strchr(v, ';') == NULL ||
	    strlen(v) > QENV_ORCPT_MAX + 64)
		return -1;
	return (d->orcpt = strdup(v)) == NULL ? -1 : 0;
}

/* set_field - store one known field; -1 when its value is malformed. */
static int
set_field(struct qenv *env, enum field f, const char *v)
{
	uint64_t n;

	switch (f) {
	case F_ID:
		return qid_is_valid(v) &&
		    strlcpy_(env->id, v, sizeof(env->id)) < sizeof(env->id) ?
		    0 : -1;
	case F_CUSTOMER:
		return name_is_safe(v) && strlcpy_(env->customer, v,
		    sizeof(env->customer)) < sizeof(env->customer) ? 0 : -1;
	case F_ARRIVAL:
		return parse_time(v, &env->arrival);
	case F_SIZE:
		return parse_u64(v, &env->size);
	case F_BODY:
		if (strcmp(v, "8bit") != 0 && strcmp(v, "7bit") != 0)
			return -1;
		env->body_8bit = v[0] == '8';
		return 0;
	case F_PROTOCOL:
		return (env->protocol = strdup(v)) == NULL ? -1 : 0;
	case F_CLIENT:
		return (env->client = strdup(v)) == NULL ? -1 : 0;
	case F_HELO:
		return (env->helo = strdup(v)) == NULL ? -1 : 0;
	case F_SENDER:
		return parse_addr(v, &env->sender);
	case F_RCPT:
		return add_rcpt(env, v);
	case F_ATTEMPTS:
		if (parse_u64(v, &n) == -1 || n > INT_MAX)
			return -1;
		env->attempts = (int)n;
		return 0;
	case F_LAST:
		return parse_time(v, &env->last_attempt);
	case F_NEXT:
		return parse_time(v, &env->next_attempt);
	case F_WARNED:
		return parse_time(v, &env->warned);
	case F_ENVID:
		return strlen(v) > QENV_ENVID_MAX ||
		    (env->envid = strdup(v)) == NULL ? -1 : 0;
	case F_RET:
		if (strcmp(v, "full") != 0 && strcmp(v, "hdrs") != 0)
			return -1;
		env->ret = v[0] == 'f' ? QRET_FULL : QRET_HDRS;
		return 0;
	case F_NTFY:
	case F_ORCPT:
	case F_REPLY:
		return set_rcpt_dsn(env, f, v);
	}
	return -1;
}

/* parse_line - one "key value" line of the envelope. */
static enum result
parse_line(struct qenv *env, unsigned *seen, char *line, size_t len,
    int lineno, char *err, size_t errlen)
{
	const char *key = line, *v;
	char *sp;
	size_t i;

	if ((sp = strchr(line, ' ')) == NULL)
		return RS_OK;		/* not a field we know */
	*sp = '\0';
	v = sp + 1;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(key, fields[i].name) == 0)
			break;
	if (i == sizeof(fields) / sizeof(fields[0]))
		return RS_OK;
	if ((*seen & fields[i].f) && !(fields[i].f & F_PER_RCPT)) {
		err_set(err, errlen, "line %d: duplicate field %s", lineno, key);
		return RS_PERM;
	}
	if (strlen(v) != len - (size_t)(v - line) || strchr(v, '\r') != NULL ||
	    set_field(env, fields[i].f, v) == -1) {
		err_set(err, errlen, "line %d: bad %s field", lineno, key);
		return RS_PERM;
	}
	*seen |= fields[i].f;
	return RS_OK;
}

static const char *
missing_field(unsigned seen)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if ((F_REQUIRED & fields[i].f) && !(seen & fields[i].f))
			return fields[i].name;
	return "?";
}

/* parse_envelope - read lines up to the blank line; *end after it. */
static enum result
parse_envelope(struct lreader *lr, struct qenv *env, off_t *end, char *err,
    size_t errlen)
{
	enum lr_status st;
	enum result rs;
	unsigned seen = 0;
	char *line;
	size_t len;
	int lineno = 0;

	for (;;) {
		st = lr_line(lr, &line, &len);
		lineno++;
		if (st == LR_ERROR) {
			err_set(err, errlen, "read: %s", strerror(errno));
			return RS_TEMP;
		}
		if (st == LR_LONG) {
			if (lineno == 1)
				err_set(err, errlen, "not a queue entry (no "
				    "MBQ 1 line)");
			else
				err_set(err, errlen, "line %d longer than %d "
				    "octets", lineno, QENV_LINE_MAX);
			return RS_PERM;
		}
		if (st == LR_EOF || st == LR_PARTIAL) {
			if (lineno == 1 && st == LR_EOF)
				err_set(err, errlen, "truncated: empty file");
			else
				err_set(err, errlen, "truncated: envelope "
				    "ends after %lld octets",
				    (long long)(lr->pos + (off_t)lr->end));
			return RS_PERM;
		}
		if (lineno == 1) {
			if (strcmp(line, QENV_MAGIC) != 0) {
				err_set(err, errlen, strncmp(line, "MBQ ", 4) ==
				    0 ? "unsupported entry version" :
				    "not a queue entry (no MBQ 1 line)");
				return RS_PERM;
			}
			continue;
		}
		if (len == 0)
			break;
		if ((rs = parse_line(env, &seen, line, len, lineno, err,
		    errlen)) != RS_OK)
			return rs;
	}
	if ((seen & F_REQUIRED) != F_REQUIRED) {
		err_set(err, errlen, "missing field %s", missing_field(seen));
		return RS_PERM;
	}
	if (!(seen & F_BODY))
		env->body_8bit = 1;	/* unknown: assume the worst */
	*end = lr->pos + (off_t)lr->start;
	return RS_OK;
}

enum result
qenv_read_fd(int fd, off_t st_size, struct qenv *env, off_t *body_off,
    char *err, size_t errlen)
{
	struct lreader *lr;
	enum result rs;
	off_t end = 0;
	uint64_t have;

	memset(env, 0, sizeof(*env));
	if ((lr = calloc(1, sizeof(*lr))) == NULL) {
		err_set(err, errlen, "%s", strerror(errno));
		return RS_TEMP;
	}
	lr->fd = fd;
	rs = parse_envelope(lr, env, &end, err, errlen);
	free(lr);
	if (rs == RS_OK && (uint64_t)st_size != (uint64_t)end + env->size) {
		have = st_size > end ? (uint64_t)(st_size - end) : 0;
		if (have < env->size)
			err_set(err, errlen, "truncated: %llu of %llu message "
			    "octets", (unsigned long long)have,
			    (unsigned long long)env->size);
		else
			err_set(err, errlen, "%llu octets beyond the %llu "
			    "message octets", (unsigned long long)(have -
			    env->size), (unsigned long long)env->size);
		rs = RS_PERM;
	}
	if (rs != RS_OK) {
		qenv_free(env);
		return rs;
	}
	if (body_off != NULL)
		*body_off = end;
	return RS_OK;
}

/* qenv_open - open an entry read-only; RS_PERM for what never opens. */
enum result
qenv_open(const char *path, int *fd, struct stat *st, char *err,
    size_t errlen)
{
	int saved;

	if ((*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		saved = errno;
		if (saved == ELOOP || saved == EMLINK)
			err_set(err, errlen, "is a symbolic link");
		else
			err_set(err, errlen, "open: %s", strerror(saved));
		errno = saved;
		return saved == ENOENT || saved == ELOOP || saved == EMLINK ?
		    RS_PERM : RS_TEMP;
	}
	if (fstat(*fd, st) == -1) {
		err_set(err, errlen, "fstat: %s", strerror(errno));
		close(*fd);
		return RS_TEMP;
	}
	if (!S_ISREG(st->st_mode)) {
		err_set(err, errlen, "not a regular file");
		close(*fd);
		return RS_PERM;
	}
	return RS_OK;
}

enum result
qenv_read(const char *path, struct qenv *env, off_t *body_off, char *err,
    size_t errlen)
{
	struct stat st;
	enum result rs;
	int fd, saved;

	memset(env, 0, sizeof(*env));
	if ((rs = qenv_open(path, &fd, &st, err, errlen)) != RS_OK)
		return rs;
	rs = qenv_read_fd(fd, st.st_size, env, body_off, err, errlen);
	saved = errno;
	close(fd);
	errno = saved;
	return rs;
}

void
qenv_free(struct qenv *env)
{
	int i;

	if (env == NULL)
		return;
	free(env->protocol);
	free(env->client);
	free(env->helo);
	free(env->sender);
	free(env->envid);
	for (i = 0; i < env->nrcpts; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	for (i = 0; i < env->nrdsn; i++) {
		free(env->rdsn[i].orcpt);
		free(env->rdsn[i].remote);
		free(env->rdsn[i].reply);
	}
	free(env->rdsn);
	env->protocol = env->client = env->helo = env->sender = NULL;
	env->envid = NULL;
	env->rcpts = NULL;
	env->nrcpts = 0;
	env->rdsn = NULL;
	env->nrdsn = 0;
}

/* qenv_check_place - RS_PERM when env names another id or customer. */
enum result
qenv_check_place(const struct qenv *env, const char *customer,
    const char *id, char *err, size_t errlen)
{
	if (strcmp(env->id, id) != 0) {
		err_set(err, errlen, "envelope names id %s", env->id);
		return RS_PERM;
	}
	if (strcmp(env->customer, customer) != 0) {
		err_set(err, errlen, "envelope names customer %s",
		    env->customer);
		return RS_PERM;
	}
	return RS_OK;
}

enum result
qenv_load(const char *spool, const char *customer, const char *id,
    struct qenv *env, off_t *body_off, char *err, size_t errlen)
{
	char path[PATH_MAX];
	enum result rs;

	memset(env, 0, sizeof(*env));
	if (q_path(path, sizeof(path), spool, customer, "new", id) == -1) {
		err_set(err, errlen, "bad customer, id or path");
		return RS_PERM;
	}
	if ((rs = qenv_read(path, env, body_off, err, errlen)) != RS_OK)
		return rs;
	if ((rs = qenv_check_place(env, customer, id, err, errlen)) != RS_OK)
		qenv_free(env);
	return rs;
}
