/*
 * dsnparam.c - RFC 3461 parameters on MAIL and RCPT (see dsnparam.h).
 *
 * Grammar checked: RET=FULL|HDRS; ENVID=xtext (at most 100 octets
 * decoded); NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY;
 * ORCPT=addr-type;xtext (type: letters, digits, '-'; at most 500
 * octets decoded).  Each at most once.  Keywords in any case.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dsnparam.h"

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
dsn_mail_param(struct dsn_mail *dm, const char *kw, const char *v)
{
	if (strcasecmp(kw, "RET") == 0) {
		if (dm->ret != QRET_NONE || v == NULL)
			return -1;
		if (strcasecmp(v, "FULL") == 0)
			dm->ret = QRET_FULL;
		else if (strcasecmp(v, "HDRS") == 0)
			dm->ret = QRET_HDRS;
		else
			return -1;
		return 1;
	}
	if (strcasecmp(kw, "ENVID") == 0) {
		if (dm->envid[0] != '\0' || v == NULL || *v == '\0' ||
		    xtext_decode(v, dm->envid, QENV_ENVID_MAX) == -1) {
			dm->envid[0] = '\0';
			return -1;
		}
		return 1;
	}
	return 0;
}

/* orcpt_value - "type;xtext" into "type;decoded". */
static int
orcpt_value(const char *v, char *out)
{
	size_t n = 0;

	while (isalnum((unsigned char)v[n]) || v[n] == '-')
		n++;
	if (n == 0 || n > DSN_ATYPE_MAX || v[n] != ';' || v[n + 1] == '\0')
		return -1;
	memcpy(out, v, n + 1);
	return xtext_decode(v + n + 1, out + n + 1, QENV_ORCPT_MAX);
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
dsn_rcpt_params(char *p, struct dsn_rcptp *dr, const char **bad)
{
	char *kw, *v;
	int seen_orcpt = 0;

	memset(dr, 0, sizeof(*dr));
	while (esmtp_param_next(&p, &kw, &v)) {
		*bad = kw;
		if (strcasecmp(kw, "NOTIFY") == 0) {
			if (dr->notify != 0 || v == NULL ||
			    qnotify_parse(v, &dr->notify) == -1)
				return -1;
		} else if (strcasecmp(kw, "ORCPT") == 0) {
			if (seen_orcpt++ || v == NULL ||
			    orcpt_value(v, dr->orcpt) == -1)
				return -1;
		} else
			return -2;
	}
	return 0;
}
