/*
 * unit-addr.c - RFC 5321 paths (conf/addr.c): good paths with their
 * normalised parts, every relay trick refused as routing or literal,
 * syntax and length limits, the null path, and addr_parse_plain.
 */
#include <string.h>

#include "addr.h"
#include "tap.h"

struct pcase {
	const char *in;
	int	allow_null;
	enum addr_status want;
	const char *local;	/* NULL: not checked */
	const char *domain;
};

static const struct pcase paths[] = {
	/* good */
	{ "<user@example.com>", 0, ADDR_OK, "user", "example.com" },
	{ "<User.Name+tag@Example.COM>", 0, ADDR_OK, "User.Name+tag",
	    "example.com" },
	{ "<user@example.com.>", 0, ADDR_OK, "user", "example.com" },
	{ "<a@b>", 0, ADDR_OK, "a", "b" },
	{ "<\"john doe\"@example.com>", 0, ADDR_OK, "\"john doe\"",
	    "example.com" },
	{ "<\"a\\\"b\"@example.com>", 0, ADDR_OK, "\"a\\\"b\"",
	    "example.com" },
	{ "<o'brien@x-y.example>", 0, ADDR_OK, "o'brien", "x-y.example" },
	/* quotes that are not needed go (RFC 5321 4.1.2) */
	{ "<\"alice\"@Acme.Example>", 0, ADDR_OK, "alice", "acme.example" },
	{ "<\"a.b+c\"@example.com>", 0, ADDR_OK, "a.b+c", "example.com" },
	{ "<\"a\\b\"@example.com>", 0, ADDR_OK, "ab", "example.com" },
	{ "<\"a..b\"@example.com>", 0, ADDR_OK, "\"a..b\"", "example.com" },
	{ "<\".a\"@example.com>", 0, ADDR_OK, "\".a\"", "example.com" },
	{ "<\"a.\"@example.com>", 0, ADDR_OK, "\"a.\"", "example.com" },
	{ "<\"a\\\\b\"@example.com>", 0, ADDR_OK, "\"a\\\\b\"",
	    "example.com" },
	{ "<\"a(b)\"@example.com>", 0, ADDR_OK, "\"a(b)\"", "example.com" },
	{ "<{weird}=#$&*^`|~@example.com>", 0, ADDR_OK, NULL, "example.com" },
	{ "<1@2.3.4.5>", 0, ADDR_OK, "1", "2.3.4.5" },
	{ "<>", 1, ADDR_OK, "", "" },
	/* sender-specified routing and literals: relay tricks */
	{ "<user%other.example@ours.example>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<other.example!user@ours.example>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<user%other.example>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<other!user>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<\"user@other.example\"@ours.example>", 0, ADDR_ROUTING, NULL,
	    NULL },
	{ "<\"user%other\"@ours.example>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<\"other!user\"@ours.example>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<\"user\\@other\"@ours.example>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<@ours.example:user@other.example>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<@a.example,@b.example:user@c.example>", 0, ADDR_ROUTING, NULL,
	    NULL },
	{ "<user@[192.0.2.1]>", 0, ADDR_LITERAL, "user", "[192.0.2.1]" },
	{ "<user@[IPv6:2001:db8::1]>", 0, ADDR_LITERAL, NULL, NULL },
	{ "<user@[x-tag:stuff]>", 0, ADDR_LITERAL, NULL, NULL },
	{ "<user@other.example@ours.example>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@[192.0.2.300]>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@[IPv6:zz::1]>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@[192.0.2.1>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<@ours.example>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<@bad..example:user@ours.example>", 0, ADDR_SYNTAX, NULL, NULL },
	/* syntax */
	{ "<>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "user@example.com", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example.com", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user>", 0, ADDR_NODOMAIN, "user", "" },
	{ "<Postmaster>", 0, ADDR_NODOMAIN, "Postmaster", "" },
	{ "<user@>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<@>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<.user@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user.@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<us..er@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<us er@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "< user@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example.com >", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user\t@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<us\ter@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<us\033er@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"us\033er\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<us\xc3\xa9r@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@ex\xc3\xa4mple.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"us\xc3\xa9r\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<us\\er@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"unterminated@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@-example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example-.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@exa_mple.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example..com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@.example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example.com..>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example.com\r>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user<x@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user(comment)@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"quoted\"x@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"alice@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"ali\"ce\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"al\tice\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"alice\"\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<\"ali@ce\"@example.com>", 0, ADDR_ROUTING, NULL, NULL },
	{ "<\"a%b\"@example.com>", 0, ADDR_ROUTING, NULL, NULL },
};

static void
test_paths(void)
{
	const struct pcase *c;
	struct addr a;
	const char *why;
	size_t i, end;
	enum addr_status st;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		c = &paths[i];
		st = addr_parse_path(c->in, strlen(c->in), c->allow_null, &a,
		    &end, &why);
		if (!ok(st == c->want, "path %zu %s -> %d (%s)", i, c->in,
		    c->want, why))
			printf("#   got %d\n", st);
		if (c->local != NULL)
			is_str(a.local, c->local, "  local part");
		if (c->domain != NULL)
			is_str(a.domain, c->domain, "  domain");
	}
}

static void
test_lengths(void)
{
	char buf[600], local[80], dom[300];
	struct addr a;
	const char *why;
	size_t end;

	memset(local, 'l', 64);
	local[64] = '\0';
	memset(dom, 'd', 63);
	memcpy(dom + 63, ".example", 9);
	snprintf(buf, sizeof(buf), "<%s@%s>", local, dom);
	is_int(addr_parse_path(buf, strlen(buf), 0, &a, &end, &why), ADDR_OK,
	    "64-octet local part and 63-octet label are fine");
	is_int(end, strlen(buf), "end is just past >");
	snprintf(buf, sizeof(buf), "<%sl@example.com>", local);
	is_int(addr_parse_path(buf, strlen(buf), 0, &a, &end, &why),
	    ADDR_TOOLONG, "65-octet local part is too long");
	snprintf(buf, sizeof(buf), "<\"%s\"@example.com>", local);
	is_int(addr_parse_path(buf, strlen(buf), 0, &a, &end, &why), ADDR_OK,
	    "quoted 64-octet local part is fine");
	snprintf(buf, sizeof(buf), "<x@d%s>", dom);
	is_int(addr_parse_path(buf, strlen(buf), 0, &a, &end, &why),
	    ADDR_TOOLONG, "64-octet label is too long");
	/* a 251-octet domain: the longest that fits "<x@...>" in 256 */
	snprintf(dom, sizeof(dom), "%.63s.%.63s.%.63s.%.59s", local, local,
	    local, local);
	snprintf(buf, sizeof(buf), "<xy@%s>", dom);
	is_int(addr_parse_path(buf, strlen(buf), 0, &a, &end, &why), ADDR_OK,
	    "256-octet path is fine (%zu)", strlen(buf));
	snprintf(buf, sizeof(buf), "<xyz@%s>", dom);
	is_int(addr_parse_path(buf, strlen(buf), 0, &a, &end, &why),
	    ADDR_TOOLONG, "257-octet path is too long (%zu)", strlen(buf));
	snprintf(buf, sizeof(buf), "x@abcde.%s", dom);
	is_int(addr_parse_plain(buf, 0, &a, &why), ADDR_TOOLONG,
	    "257-octet domain is too long");
	snprintf(buf, sizeof(buf), "<%s@%.190s>", local, dom);
	is_int(addr_parse_path(buf, strlen(buf), 0, &a, &end, &why),
	    ADDR_TOOLONG, "path over 256 octets is too long (%zu)",
	    strlen(buf));
}

static void
test_misc(void)
{
	struct addr a;
	const char *why, *dsn;
	char buf[300];
	size_t end;
	static const char nul[] = "<us\0er@example.com>";

	is_int(addr_parse_path(nul, sizeof(nul) - 1, 0, &a, &end, &why),
	    ADDR_SYNTAX, "NUL in the path");
	is_int(addr_parse_path("<a@b.example> SIZE=100", 22, 0, &a, &end,
	    &why), ADDR_OK, "parameters after the path");
	is_int(end, 13, "  end points at the parameters");
	is_int(addr_parse_path("<\"a>b\"@example.com>", 19, 0, &a, &end,
	    &why), ADDR_OK, "> inside quotes does not end the path");
	is_int(end, 19, "  end after the real >");
	is_int(addr_parse_path("<>", 2, 1, &a, &end, &why), ADDR_OK,
	    "null path");
	ok(a.null == 1, "  null flag set");
	is_str(addr_format(&a, buf, sizeof(buf)), "", "  formats as empty");

	is_int(addr_parse_plain("User@Example.ORG.", 0, &a, &why), ADDR_OK,
	    "plain address");
	is_str(addr_format(&a, buf, sizeof(buf)), "User@example.org",
	    "  formatted, domain normalised");
	is_int(addr_parse_plain("<u@example.org>", 0, &a, &why), ADDR_OK,
	    "plain in brackets");
	is_int(addr_parse_plain("<u@example.org> x", 0, &a, &why),
	    ADDR_SYNTAX, "plain with junk after");
	is_int(addr_parse_plain("", 0, &a, &why), ADDR_SYNTAX,
	    "empty plain refused");
	is_int(addr_parse_plain("", 1, &a, &why), ADDR_OK,
	    "empty plain is null when allowed");
	is_int(addr_parse_plain("u%v@example.org", 0, &a, &why),
	    ADDR_ROUTING, "plain with %");
	is_int(addr_parse_plain("u@v@example.org", 0, &a, &why), ADDR_SYNTAX,
	    "plain with two @");
	is_int(addr_parse_plain("@a:u@example.org", 0, &a, &why),
	    ADDR_ROUTING, "plain source route");
	is_int(addr_parse_plain("postmaster", 0, &a, &why), ADDR_NODOMAIN,
	    "plain without domain");
	is_str(a.local, "postmaster", "  local part kept");

	strcpy(buf, "Mixed.Case.Example.");
	domain_normalise(buf);
	is_str(buf, "mixed.case.example", "domain_normalise");
	strcpy(buf, ".");
	domain_normalise(buf);
	is_str(buf, ".", "domain_normalise keeps a lone dot");

	is_int(addr_reply(ADDR_ROUTING, 0, &dsn), 550, "routing: 550");
	is_str(dsn, "5.7.1", "  5.7.1");
	is_int(addr_reply(ADDR_LITERAL, 0, &dsn), 550, "literal: 550");
	is_int(addr_reply(ADDR_SYNTAX, 0, &dsn), 501, "syntax: 501");
	is_str(dsn, "5.1.3", "  5.1.3 for a recipient");
	is_int(addr_reply(ADDR_SYNTAX, 1, &dsn), 501, "sender syntax: 501");
	is_str(dsn, "5.1.7", "  5.1.7 for a sender");
	is_int(addr_reply(ADDR_OK, 0, &dsn), 250, "ok: 250");
}

int
main(void)
{
	test_paths();
	test_lengths();
	test_misc();
	return done_testing();
}
