/*
 * dsnenv.c - RFC 3461 xtext, ORCPT values, ESMTP parameter lists and
 * the X-Mailbridge-Envelope: header of bundle copies (see dsnenv.h).
 *
 * Grammar written and read: QID=queue-id ARRIVAL=seconds WARNED=seconds
 * RET=FULL|HDRS
 * ENVID=xtext (at most 100 octets decoded) NOTIFY=NEVER or a list of
 * SUCCESS, FAILURE, DELAY; ORCPT=addr-type;xtext (type: letters,
 * digits, '-'; at most 500 octets decoded).  Keywords in any case,
 * each at most once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsnenv.h"

#define FOLD_AT		78

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
xtext_decode(const char *in, char *out, size_t max)
{
	size_t n = 0;
	int c, hi, lo;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (c == '+') {
			if ((hi = hexval(in[1])) == -1 ||
			    (lo = hexval(in[2])) == -1)
				return -1;
			c = hi * 16 + lo;
			in += 2;
		} else if (c < '!' || c > '~' || c == '=')
			return -1;
		if (c < ' ' || c > '~' || n >= max)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

int
xtext_encode(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	int c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c < ' ' || c > '~')
			return -1;
		if (c == '+' || c == '=' || c == ' ') {
			if (n + 3 >= len)
				return -1;
			out[n++] = '+';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			if (n + 1 >= len)
				return -1;
			out[n++] = (char)c;
		}
	}
	if (n >= len)
		return -1;
	out[n] = '\0';
	return 0;
}

/* atype_len - octets of the address type before ';' in v, or 0. */
static size_t
atype_len(const char *v)
{
	size_t n = 0;

	while (isalnum((unsigned char)v[n]) || v[n] == '-')
		n++;
	if (n == 0 || n > DSN_ATYPE_MAX || v[n] != ';' || v[n + 1] == '\0')
		return 0;
	return n;
}

int
dsn_orcpt_decode(const char *v, char *out)
{
	size_t n = atype_len(v);

	if (n == 0)
		return -1;
	memcpy(out, v, n + 1);
	return xtext_decode(v + n + 1, out + n + 1, QENV_ORCPT_MAX);
}

int
dsn_orcpt_encode(const char *orcpt, char *out, size_t len)
{
	size_t n = atype_len(orcpt);

	if (n == 0 || n + 1 >= len)
		return -1;
	memcpy(out, orcpt, n + 1);
	return xtext_encode(orcpt + n + 1, out + n + 1, len - n - 1);
}

int
esmtp_param_next(char **p, char **kw, char **v)
{
	char *s = *p;

	while (*s == ' ')
		s++;
	if (*s == '\0') {
		*p = s;
		return 0;
	}
	*kw = s;
	s += strcspn(s, " ");
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	if ((*v = strchr(*kw, '=')) != NULL)
		*(*v)++ = '\0';
	return 1;
}

int
dsnenv_notify(unsigned notify, unsigned what)
{
	if (notify == 0)
		return what == QN_FAILURE || what == QN_DELAY;
	return (notify & QN_NEVER) == 0 && (notify & what) != 0;
}

void
dsnenv_of(struct dsnenv *e, const struct qenv *env, const char *rcpt)
{
	const struct qrcpt_dsn *d;

	memset(e, 0, sizeof(*e));
	strlcpy_(e->qid, env->id, sizeof(e->qid));
	e->arrival = env->arrival;
	e->ret = env->ret;
	e->warned = env->warned;
	if (env->envid != NULL)
		strlcpy_(e->envid, env->envid, sizeof(e->envid));
	if (rcpt == NULL || (d = qenv_rcpt_dsn(env, rcpt)) == NULL)
		return;
	e->notify = d->notify;
	if (d->orcpt != NULL)
		strlcpy_(e->orcpt, d->orcpt, sizeof(e->orcpt));
	if (d->remote != NULL && d->reply != NULL &&
	    strlen(d->remote) < sizeof(e->remote)) {
		strlcpy_(e->remote, d->remote, sizeof(e->remote));
		strlcpy_(e->reply, d->reply, sizeof(e->reply));
	}
}

/* A growing list of "KEY=VALUE" tokens. */
struct toks {
	char	buf[DSNENV_HEADER_MAX];
	size_t	len;
	int	bad;
};

static void
tok_add(struct toks *t, const char *kw, const char *v)
{
	int n;

	if (t->bad)
		return;
	n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, " %s=%s", kw,
	    v);
	if (n < 0 || (size_t)n >= sizeof(t->buf) - t->len)
		t->bad = 1;
	else
		t->len += (size_t)n;
}

/* mail_toks, rcpt_toks - the encoded parameters of e. */
static void
mail_toks(struct toks *t, const struct dsnenv *e)
{
	char x[3 * QENV_ENVID_MAX + 1];

	if (e->ret != QRET_NONE)
		tok_add(t, "RET", e->ret == QRET_FULL ? "FULL" : "HDRS");
	if (e->envid[0] != '\0') {
		if (xtext_encode(e->envid, x, sizeof(x)) == -1)
			t->bad = 1;
		else
			tok_add(t, "ENVID", x);
	}
}

static void
rcpt_toks(struct toks *t, const struct dsnenv *e)
{
	char nb[40], x[DSN_ATYPE_MAX + 2 + 3 * QENV_ORCPT_MAX + 1];

	if (e->notify != 0)
		tok_add(t, "NOTIFY", qnotify_format(e->notify, nb, sizeof(nb)));
	if (e->orcpt[0] != '\0') {
		if (dsn_orcpt_encode(e->orcpt, x, sizeof(x)) == -1)
			t->bad = 1;
		else
			tok_add(t, "ORCPT", x);
	}
}

/*
 * last_toks - REMOTE and REPLY, when they fit; a header without them
 * is still a whole envelope.
 */
static void
last_toks(struct toks *t, const struct dsnenv *e)
{
	char r[3 * DSNENV_REMOTE_MAX], x[3 * DSNENV_REPLY_MAX];
	size_t len = t->len;

	if (e->remote[0] == '\0' || e->reply[0] == '\0' ||
	    xtext_encode(e->remote, r, sizeof(r)) == -1 ||
	    xtext_encode(e->reply, x, sizeof(x)) == -1)
		return;
	tok_add(t, "REMOTE", r);
	tok_add(t, "REPLY", x);
	if (t->bad || t->len + t->len / 70 * 2 + 64 > DSNENV_HEADER_MAX) {
		t->len = len;
		t->buf[len] = '\0';
		t->bad = 0;
	}
}

static int
toks_out(const struct toks *t, char *buf, size_t len)
{
	if (t->bad || t->len >= len)
		return -1;
	memcpy(buf, t->buf, t->len + 1);
	return 0;
}

int
dsnenv_mail_params(const struct dsnenv *e, char *buf, size_t len)
{
	struct toks t;

	t.len = 0;
	t.bad = 0;
	t.buf[0] = '\0';
	mail_toks(&t, e);
	return toks_out(&t, buf, len);
}

int
dsnenv_rcpt_params(const struct dsnenv *e, char *buf, size_t len)
{
	struct toks t;

	t.len = 0;
	t.bad = 0;
	t.buf[0] = '\0';
	rcpt_toks(&t, e);
	return toks_out(&t, buf, len);
}

int
dsnenv_header(const struct dsnenv *e, char *buf, size_t len)
{
	struct toks t;
	char num[32];
	size_t col, o, i, w;
	const char *p;

	t.len = 0;
	t.bad = 0;
	t.buf[0] = '\0';
	if (e->qid[0] != '\0')
		tok_add(&t, "QID", e->qid);
	if (e->arrival > 0) {
		snprintf(num, sizeof(num), "%lld", (long long)e->arrival);
		tok_add(&t, "ARRIVAL", num);
	}
	if (e->warned > 0) {
		snprintf(num, sizeof(num), "%lld", (long long)e->warned);
		tok_add(&t, "WARNED", num);
	}
	mail_toks(&t, e);
	rcpt_toks(&t, e);
	if (t.bad)
		return -1;
	last_toks(&t, e);
	o = (size_t)snprintf(buf, len, "%s:", DSNENV_HEADER);
	col = o;
	for (i = 0; i < t.len; i += w) {
		p = t.buf + i + 1;		/* past the space */
		w = 1 + strcspn(p, " ");
		if (col + w > FOLD_AT && col > 0) {
			if (o + 2 >= len)
				return -1;
			buf[o++] = '\r';
			buf[o++] = '\n';
			col = 0;
		}
		if (o + w >= len)
			return -1;
		memcpy(buf + o, t.buf + i, w);
		o += w;
		col += w;
	}
	if (o + 3 > len)
		return -1;
	memcpy(buf + o, "\r\n", 3);
	return (int)(o + 2);
}

/* set_param - one keyword of the header into e; -1 when it is bad. */
static int
set_param(struct dsnenv *e, unsigned *seen, const char *kw, const char *v)
{
	static const char *const kws[] = { "QID", "ARRIVAL", "RET", "ENVID",
		"NOTIFY", "ORCPT", "WARNED", "REMOTE", "REPLY", NULL };
	unsigned long long n;
	char *end;
	int i;

	for (i = 0; kws[i] != NULL; i++)
		if (strcasecmp(kw, kws[i]) == 0)
			break;
	if (kws[i] == NULL)
		return 0;		/* a newer writer's: ignored */
	if ((*seen & (1u << i)) || v == NULL || *v == '\0')
		return -1;
	*seen |= 1u << i;
	switch (i) {
	case 0:
		return qid_is_valid(v) && strlcpy_(e->qid, v, sizeof(e->qid)) <
		    sizeof(e->qid) ? 0 : -1;
	case 1:
	case 6:
		if (!isdigit((unsigned char)*v) || strlen(v) > 18)
			return -1;
		n = strtoull(v, &end, 10);
		if (*end != '\0')
			return -1;
		*(i == 1 ? &e->arrival : &e->warned) = (time_t)n;
		return 0;
	case 2:
		if (strcasecmp(v, "FULL") == 0)
			e->ret = QRET_FULL;
		else if (strcasecmp(v, "HDRS") == 0)
			e->ret = QRET_HDRS;
		else
			return -1;
		return 0;
	case 3:
		return xtext_decode(v, e->envid, QENV_ENVID_MAX);
	case 4:
		return qnotify_parse(v, &e->notify);
	case 5:
		return dsn_orcpt_decode(v, e->orcpt);
	case 7:
		return xtext_decode(v, e->remote, sizeof(e->remote) - 1) ==
		    -1 || strchr(e->remote, ' ') != NULL ? -1 : 0;
	case 8:
		return xtext_decode(v, e->reply, sizeof(e->reply) - 1);
	default:
		return -1;
	}
}

int
dsnenv_parse(const char *body, size_t len, struct dsnenv *e)
{
	char buf[DSNENV_HEADER_MAX], *p, *kw, *v;
	unsigned seen = 0;
	size_t i;

	memset(e, 0, sizeof(*e));
	if (len >= sizeof(buf))
		return -1;
	for (i = 0; i < len; i++) {
		if (body[i] == '\0')
			return -1;
		buf[i] = body[i] == '\r' || body[i] == '\n' ||
		    body[i] == '\t' ? ' ' : body[i];
	}
	buf[len] = '\0';
	p = buf;
	while (esmtp_param_next(&p, &kw, &v))
		if (set_param(e, &seen, kw, v) == -1) {
			memset(e, 0, sizeof(*e));
			return -1;
		}
	return 0;
}
