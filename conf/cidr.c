/*
 * cidr.c - address ranges (etrn-from), listen addresses and host:port
 * values from bridge.conf.  See conf.h.  IPv4 ranges also match the
 * same clients seen as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), so
 * a dual-stack listener does not lock out an IPv4 customer.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

/* parse_uint - decimal digits only, at most max. */
static int
parse_uint(const char *s, long max, long *out)
{
	long n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		n = n * 10 + (*s - '0');
		if (n > max)
			return -1;
	}
	*out = n;
	return 0;
}

int
cidr_parse(const char *s, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	long bits;
	int max, i;

	if (s == NULL || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	memset(out, 0, sizeof(*out));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (strchr(buf, ':') != NULL) {
		out->family = AF_INET6;
		max = 128;
	} else {
		out->family = AF_INET;
		max = 32;
	}
	if (inet_pton(out->family, buf, out->addr) != 1)
		return -1;
	bits = max;
	if (slash != NULL && parse_uint(slash, max, &bits) == -1)
		return -1;
	out->bits = (int)bits;
	for (i = out->bits; i < max; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;	/* host bits set: a typo */
	return 0;
}

static int
prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const unsigned char *p;
	unsigned char m[16];
	int fam;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		p = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		fam = AF_INET;
		if (c->family == AF_INET6) {
			memcpy(m, mapped, 12);
			memcpy(m + 12, p, 4);
			p = m;
			fam = AF_INET6;
		}
	} else if (sa->sa_family == AF_INET6) {
		p = (const unsigned char *)
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		fam = AF_INET6;
		if (c->family == AF_INET && memcmp(p, mapped, 12) == 0) {
			p += 12;
			fam = AF_INET;
		}
	} else {
		return 0;
	}
	return fam == c->family && prefix_match(c->addr, p, c->bits);
}

int
conf_limits_exempt(const struct bridge_conf *c, const struct sockaddr *sa)
{
	int i;

	for (i = 0; i < c->smtp.nexempt; i++)
		if (cidr_match(&c->smtp.exempt[i], sa))
			return 1;
	return 0;
}

int
conf_client_allowed(const struct customer *cu, const struct sockaddr *sa)
{
	int i;

	for (i = 0; i < cu->netrn_from; i++)
		if (cidr_match(&cu->etrn_from[i], sa))
			return 1;
	return 0;
}

int
conf_hostport(const char *spec, char *host, size_t hostlen, int *port)
{
	const char *colon, *h;
	size_t hl;
	long p;

	if (spec == NULL)
		return -1;
	if (spec[0] == '[') {
		if ((colon = strstr(spec, "]:")) == NULL)
			return -1;
		h = spec + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL ||
		    memchr(spec, ':', (size_t)(colon - spec)) != NULL)
			return -1;
		h = spec;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= hostlen || parse_uint(colon + 1, 65535, &p) ==
	    -1 || p == 0)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

int
conf_listen_parse(const char *spec, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)(void *)ss;
	int port;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		if (spec[5] != '/' || strlen(spec + 5) >= sizeof(sun->sun_path))
			return -1;
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, spec + 5);
		*len = sizeof(*sun);
		return 0;
	}
	if (conf_hostport(spec, host, sizeof(host), &port) == -1)
		return -1;
	if (spec[0] == '[') {
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)port);
	*len = sizeof(*sin);
	return 0;
}
