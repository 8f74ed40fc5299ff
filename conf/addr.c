/*
 * addr.c - RFC 5321 paths for MAIL and RCPT, see addr.h.
 *
 * Strict on purpose: a path is "<" [source-route ":"] mailbox ">" with
 * a dot-atom or quoted local part and a domain of letter/digit/hyphen
 * labels or an address literal.  Anything that could make the hub
 * forward mail somewhere the routes table did not choose (%, ! or @
 * in the local part, source routes, address literals) is classified
 * so the caller refuses it; control characters, spaces outside
 * quotes and 8-bit octets are syntax errors.  Syntax is judged first,
 * then lengths, then routing.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

struct parsed {
	size_t	local_len;		/* as written */
	size_t	local_content;		/* after removing quoting */
	int	routing;
	int	literal;
	int	nodomain;
	size_t	domain_len;		/* without one trailing dot */
};

static int
is_atext(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c)
	    != NULL);
}

/* bad_char_why - the reason to give for an octet that is not allowed. */
static const char *
bad_char_why(unsigned char c)
{
	if (c == '\0')
		return "NUL in address";
	if (c == ' ' || c == '\t')
		return "space in address";
	if (c < 32 || c == 127)
		return "control character in address";
	if (c > 127)
		return "8-bit octet in address";
	if (c == '@')
		return "more than one @ in address";
	return "invalid character in address";
}

/* parse_quoted - "..." local part starting at s[0] == '"'. */
static enum addr_status
parse_quoted(const char *s, size_t n, struct parsed *p, const char **why)
{
	size_t i = 1;
	unsigned char c;

	for (;;) {
		if (i >= n) {
			*why = "unterminated quoted local part";
			return ADDR_SYNTAX;
		}
		c = (unsigned char)s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= n) {
				*why = "unterminated quoted local part";
				return ADDR_SYNTAX;
			}
			c = (unsigned char)s[++i];
		}
		if (c < 32 || c > 126) {
			*why = bad_char_why(c);
			return ADDR_SYNTAX;
		}
		if (c == '@' || c == '%' || c == '!')
			p->routing = 1;
		p->local_content++;
		i++;
	}
	p->local_len = i + 1;
	if (p->local_content == 0) {
		*why = "empty local part";
		return ADDR_SYNTAX;
	}
	return ADDR_OK;
}

/* parse_dotstring - unquoted local part, up to the first '@'. */
static enum addr_status
parse_dotstring(const char *s, size_t n, struct parsed *p, const char **why)
{
	size_t i;
	int prevdot = 1;
	unsigned char c;

	for (i = 0; i < n && s[i] != '@'; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (prevdot) {
				*why = "misplaced dot in local part";
				return ADDR_SYNTAX;
			}
			prevdot = 1;
		} else if (is_atext(c)) {
			prevdot = 0;
			if (c == '%' || c == '!')
				p->routing = 1;
		} else {
			*why = bad_char_why(c);
			return ADDR_SYNTAX;
		}
	}
	if (i == 0) {
		*why = "empty local part";
		return ADDR_SYNTAX;
	}
	if (prevdot) {
		*why = "misplaced dot in local part";
		return ADDR_SYNTAX;
	}
	p->local_len = p->local_content = i;
	return ADDR_OK;
}

/* parse_literal - "[...]": IPv4, IPv6:..., or tag:content. */
static enum addr_status
parse_literal(const char *s, size_t n, const char **why)
{
	char buf[ADDR_DOMAIN_MAX + 1];
	unsigned char a6[16];
	size_t i, k;

	*why = "bad address literal";
	if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(buf))
		return ADDR_SYNTAX;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	if (strlen(buf) != n - 2)
		return ADDR_SYNTAX;
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, a6) == 1 ?
		    ADDR_OK : ADDR_SYNTAX;
	if (strspn(buf, "0123456789.") == n - 2)
		return inet_pton(AF_INET, buf, a6) == 1 ? ADDR_OK : ADDR_SYNTAX;
	/* General-address-literal: Ldh-str ":" 1*dcontent */
	for (k = 0; buf[k] != '\0' && buf[k] != ':'; k++)
		if (!isalnum((unsigned char)buf[k]) && buf[k] != '-')
			return ADDR_SYNTAX;
	if (k == 0 || buf[k] != ':' || buf[k + 1] == '\0' ||
	    buf[k - 1] == '-')
		return ADDR_SYNTAX;
	for (i = k + 1; buf[i] != '\0'; i++)
		if (buf[i] < 33 || buf[i] > 126 || buf[i] == '[' ||
		    buf[i] == ']' || buf[i] == '\\')
			return ADDR_SYNTAX;
	return ADDR_OK;
}

/* parse_domain - letter/digit/hyphen labels, one trailing dot allowed. */
static enum addr_status
parse_domain(const char *s, size_t n, size_t *outlen, const char **why)
{
	size_t i, label = 0;
	unsigned char c;

	if (n > 1 && s[n - 1] == '.')
		n--;
	if (n == 0) {
		*why = "empty domain";
		return ADDR_SYNTAX;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-') {
				*why = "bad domain";
				return ADDR_SYNTAX;
			}
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-') {
			*why = c == '@' || c < 32 || c > 126 || c == ' ' ?
			    bad_char_why(c) : "bad domain";
			return ADDR_SYNTAX;
		}
		if (c == '-' && label == 0) {
			*why = "bad domain";
			return ADDR_SYNTAX;
		}
		label++;
		if (label > 63) {
			*why = "domain label too long";
			return ADDR_TOOLONG;
		}
	}
	if (s[n - 1] == '-' || s[n - 1] == '.') {
		*why = "bad domain";
		return ADDR_SYNTAX;
	}
	*outlen = n;
	return ADDR_OK;
}

/*
 * unquote - the content of the quoted local part s (len octets, quotes
 * included) into out when it is a dot-atom, which needs no quotes
 * (RFC 5321 4.1.2: "alice" and alice are one mailbox); 0 then, -1 when
 * the quotes must stay.
 */
static int
unquote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;
	int prevdot = 1;
	unsigned char c;

	for (i = 1; i + 1 < len; i++) {
		c = (unsigned char)s[i];
		if (c == '\\')
			c = (unsigned char)s[++i];
		if (c == '.' ? prevdot : !is_atext(c))
			return -1;
		prevdot = c == '.';
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	if (o == 0 || prevdot)
		return -1;
	out[o] = '\0';
	return 0;
}

/* parse_mailbox - local-part [ "@" domain ] filling a. */
static enum addr_status
parse_mailbox(const char *s, size_t n, struct addr *a, const char **why)
{
	struct parsed p;
	enum addr_status st;
	const char *dom;
	size_t dn, i;

	memset(&p, 0, sizeof(p));
	if (n > 0 && s[0] == '"')
		st = parse_quoted(s, n, &p, why);
	else
		st = parse_dotstring(s, n, &p, why);
	if (st != ADDR_OK)
		return st;
	if (p.local_len == n) {
		p.nodomain = 1;
	} else if (s[p.local_len] != '@') {
		*why = bad_char_why((unsigned char)s[p.local_len]);
		return ADDR_SYNTAX;
	} else {
		dom = s + p.local_len + 1;
		dn = n - p.local_len - 1;
		if (dn > 0 && dom[0] == '[') {
			if (dn > ADDR_DOMAIN_MAX) {
				*why = "domain too long";
				return ADDR_TOOLONG;
			}
			if ((st = parse_literal(dom, dn, why)) != ADDR_OK)
				return st;
			p.literal = 1;
			p.domain_len = dn;
		} else if ((st = parse_domain(dom, dn, &p.domain_len, why)) !=
		    ADDR_OK)
			return st;
		if (p.domain_len > ADDR_DOMAIN_MAX) {
			*why = "domain too long";
			return ADDR_TOOLONG;
		}
		for (i = 0; i < p.domain_len; i++)
			a->domain[i] = (char)tolower((unsigned char)dom[i]);
		a->domain[p.domain_len] = '\0';
	}
	if (p.local_content > ADDR_LOCAL_MAX) {
		*why = "local part too long";
		return ADDR_TOOLONG;
	}
	if (s[0] != '"' || unquote(s, p.local_len, a->local,
	    sizeof(a->local)) == -1) {
		memcpy(a->local, s, p.local_len);
		a->local[p.local_len] = '\0';
	}
	if (p.routing) {
		*why = "sender-specified routing is not accepted";
		return ADDR_ROUTING;
	}
	if (p.literal) {
		*why = "address literals are not accepted";
		return ADDR_LITERAL;
	}
	if (p.nodomain) {
		*why = "address has no domain";
		return ADDR_NODOMAIN;
	}
	*why = "ok";
	return ADDR_OK;
}

/* parse_route - "@a,@b:mailbox": judged as syntax, refused as routing. */
static enum addr_status
parse_route(const char *s, size_t n, struct addr *a, const char **why)
{
	size_t i = 0, j, dl;
	enum addr_status st;

	for (;;) {
		if (i >= n || s[i] != '@') {
			*why = "bad source route";
			return ADDR_SYNTAX;
		}
		for (j = i + 1; j < n && s[j] != ',' && s[j] != ':'; j++)
			;
		if (j >= n) {
			*why = "empty local part";
			return ADDR_SYNTAX;
		}
		if ((st = parse_domain(s + i + 1, j - i - 1, &dl, why)) !=
		    ADDR_OK)
			return st;
		i = j + 1;
		if (s[j] == ':')
			break;
	}
	st = parse_mailbox(s + i, n - i, a, why);
	if (st == ADDR_SYNTAX || st == ADDR_TOOLONG)
		return st;
	*why = "source routes are not accepted";
	return ADDR_ROUTING;
}

static enum addr_status
parse_inner(const char *s, size_t n, struct addr *a, const char **why)
{
	if (n > 0 && s[0] == '@')
		return parse_route(s, n, a, why);
	return parse_mailbox(s, n, a, why);
}

enum addr_status
addr_parse_path(const char *s, size_t len, int allow_null, struct addr *a,
    size_t *end, const char **why)
{
	const char *dummy;
	size_t i;
	int inq = 0;

	if (why == NULL)
		why = &dummy;
	memset(a, 0, sizeof(*a));
	if (len == 0 || s[0] != '<') {
		*why = "address must be enclosed in <>";
		return ADDR_SYNTAX;
	}
	for (i = 1; i < len; i++) {
		if (inq) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '"')
				inq = 0;
		} else if (s[i] == '"') {
			inq = 1;
		} else if (s[i] == '>') {
			break;
		}
	}
	if (i >= len) {
		*why = "missing > after address";
		return ADDR_SYNTAX;
	}
	if (end != NULL)
		*end = i + 1;
	if (i + 1 > ADDR_PATH_MAX) {
		*why = "path too long";
		return ADDR_TOOLONG;
	}
	if (i == 1) {
		if (!allow_null) {
			*why = "null address not allowed here";
			return ADDR_SYNTAX;
		}
		a->null = 1;
		*why = "ok";
		return ADDR_OK;
	}
	return parse_inner(s + 1, i - 1, a, why);
}

enum addr_status
addr_parse_plain(const char *s, int allow_null, struct addr *a,
    const char **why)
{
	const char *dummy;
	enum addr_status st;
	size_t len, end;

	if (why == NULL)
		why = &dummy;
	memset(a, 0, sizeof(*a));
	if (s == NULL) {
		*why = "no address";
		return ADDR_SYNTAX;
	}
	len = strlen(s);
	if (len == 0) {
		if (!allow_null) {
			*why = "null address not allowed here";
			return ADDR_SYNTAX;
		}
		a->null = 1;
		*why = "ok";
		return ADDR_OK;
	}
	if (s[0] == '<') {
		st = addr_parse_path(s, len, allow_null, a, &end, why);
		if (st == ADDR_SYNTAX || end == len)
			return st;
		memset(a, 0, sizeof(*a));
		*why = "junk after address";
		return ADDR_SYNTAX;
	}
	if (len + 2 > ADDR_PATH_MAX) {
		*why = "address too long";
		return ADDR_TOOLONG;
	}
	return parse_inner(s, len, a, why);
}

char *
addr_format(const struct addr *a, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (a->null)
		buf[0] = '\0';
	else if (a->domain[0] == '\0')
		snprintf(buf, len, "%s", a->local);
	else
		snprintf(buf, len, "%s@%s", a->local, a->domain);
	return buf;
}

void
domain_normalise(char *d)
{
	size_t n;

	for (n = 0; d[n] != '\0'; n++)
		d[n] = (char)tolower((unsigned char)d[n]);
	if (n > 1 && d[n - 1] == '.')
		d[n - 1] = '\0';
}

int
addr_reply(enum addr_status st, int sender, const char **dsn)
{
	switch (st) {
	case ADDR_OK:
		*dsn = sender ? "2.1.0" : "2.1.5";
		return 250;
	case ADDR_ROUTING:
	case ADDR_LITERAL:
		*dsn = "5.7.1";
		return 550;
	case ADDR_SYNTAX:
	case ADDR_TOOLONG:
	case ADDR_NODOMAIN:
	default:
		*dsn = sender ? "5.1.7" : "5.1.3";
		return 501;
	}
}
