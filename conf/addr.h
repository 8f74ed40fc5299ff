/*
 * addr.h - RFC 5321 mail paths: parsing "<local@domain>" from MAIL and
 * RCPT, normalising the domain (lower case, no trailing dot) and a
 * quoted local part that needs no quotes ("alice" is alice), and
 * spotting sender-specified routing (%, !, quoted @, source routes)
 * so that the hub never becomes a relay.
 */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* octets, RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255	/* octets, RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* octets including < >, 4.5.3.1.3 */

enum addr_status {
	ADDR_OK = 0,
	ADDR_SYNTAX,		/* not a path at all: 501 5.1.3 (or 5.1.7) */
	ADDR_TOOLONG,		/* local part, domain or path over limit */
	ADDR_ROUTING,		/* %, !, quoted @ or a source route: 550 5.7.1 */
	ADDR_LITERAL,		/* user@[1.2.3.4]: never ours: 550 5.7.1 */
	ADDR_NODOMAIN		/* "user" with no @domain */
};

struct addr {
	/* as written; quotes kept only where needed ("a b", not "a") */
	char	local[ADDR_LOCAL_MAX * 2 + 3];
	char	domain[ADDR_DOMAIN_MAX + 1];	/* lower case, no trailing dot */
	int	null;				/* <> */
};

/*
 * addr_parse_path - parse s (len octets, not NUL-terminated) which must
 * start with '<'.  On success fills a and sets *end just past '>'.
 * allow_null admits "<>" (MAIL FROM).  Returns an addr_status; *why
 * gets a short human reason for the reply text.
 */
enum addr_status addr_parse_path(const char *s, size_t len, int allow_null,
	    struct addr *a, size_t *end, const char **why);
/* addr_parse_plain - same for a bare "local@domain" (command lines). */
enum addr_status addr_parse_plain(const char *s, int allow_null,
	    struct addr *a, const char **why);
/* addr_format - "local@domain" (or "" for null) into buf. */
char   *addr_format(const struct addr *a, char *buf, size_t len);
/* domain_normalise - lower-case in place, drop one trailing dot. */
void	domain_normalise(char *d);
/*
 * addr_reply - the SMTP reply code and enhanced status for a parse
 * result: 501 5.1.7 (sender) or 5.1.3 (recipient) for syntax, length
 * and missing domain; 550 5.7.1 for routing and literals; 250 for ok.
 */
int	addr_reply(enum addr_status st, int sender, const char **dsn);

#endif
