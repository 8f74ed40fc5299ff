/*
 * lookup.c - the hub's policy decisions for its sessions (lookup.h):
 * MAIL, RCPT, AUTH CRAM-MD5, ETRN and ATRN, each from one lproto.h
 * request into one reply.
 *
 * Invariants: a recipient is accepted only for the customer its
 * domain routes to, and its token binds the session's serial, the
 * customer and the address; ETRN releases a customer only for the
 * address the master recorded (etrn-from) or the customer the session
 * authenticated as here; the request to the master names a customer
 * that exists, the master's address and a domain of the customer's.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "lproto.h"
#include "penalty.h"
#include "queue.h"
#include "rcptlist.h"
#include "routes.h"
#include "util.h"
#include "lookup.h"


void
lookup_sess_init(struct lookup_sess *ls, uint32_t serial, int kind,
    const char *peer)
{
	memset(ls, 0, sizeof(*ls));
	ls->serial = serial;
	ls->kind = kind;
	strlcpy_(ls->peer, peer, sizeof(ls->peer));
	/* a unix socket's client is this host (smtpd_client_set) */
	if (strcmp(peer, "unix") == 0 || strncmp(peer, "uid ", 4) == 0) {
		strlcpy_(ls->name, "localhost", sizeof(ls->name));
		ls->named = 1;
	} else
		strlcpy_(ls->name, "unknown", sizeof(ls->name));
	ls->cram.release = kind == LOOKUP_ODMR ? REL_ODMR : REL_ETRN;
	ls->cram.tag = kind == LOOKUP_ODMR ? "odmr" : "smtp";
}

static void
say(struct lookup_reply *r, int code, const char *status, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
say(struct lookup_reply *r, int code, const char *status, const char *fmt,
    ...)
{
	va_list ap;

	r->code = code;
	strlcpy_(r->status, status, sizeof(r->status));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

void
lookup_named(struct lookup_sess *ls, const char *name)
{
	strlcpy_(ls->name, name, sizeof(ls->name));
	ls->named = 1;
}

/* client - "name[addr]" of the session, for the log. */
static const char *
client(const struct lookup_sess *ls)
{
	static char buf[340];

	snprintf(buf, sizeof(buf), "%s[%s]", ls->name, ls->peer);
	return buf;
}

/* ---- MAIL, RCPT ---- */

/* free_space_ok - statvfs of the spool leaves min-free after need. */
static int
free_space_ok(const struct bridge_conf *c, uint64_t need)
{
	struct statvfs sv;
	uint64_t avail;

	if (statvfs(c->spool, &sv) == -1) {
		log_warn("statvfs %s", c->spool);
		return 0;
	}
	avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return avail >= need && avail - need >= c->queue.min_free;
}

/*
 * do_mail - a transaction starts: its size limit and free space, whose
 * refusal each of its RCPTs gets (MAIL itself is not answered).
 */
static void
do_mail(struct lookup_srv *sv, struct lookup_sess *ls, uint64_t declared)
{
	uint64_t max = sv->conf->smtp.max_size;

	ls->declared = declared;
	ls->mail_refused = 0;
	if (max != 0 && declared > max)
		ls->mail_refused = 552;
	else if (!free_space_ok(sv->conf, declared))
		ls->mail_refused = 452;
}

/*
 * do_rcpt - route addr ("local@domain", as intake formats it; shown
 * for the reply) to its customer, or refuse it.
 */
static void
do_rcpt(struct lookup_srv *sv, struct lookup_sess *ls, const char *addr,
    const char *shown, struct lookup_reply *r)
{
	const struct bridge_conf *c = sv->conf;
	struct route_result rr;
	struct customer *cu;
	struct addr a;
	char again[ADDR_PATH_MAX];
	const char *why, *domain;
	uint64_t used, size;

	if (ls->mail_refused == 552) {
		say(r, 552, "5.3.4", "<%s>: Message size exceeds fixed limit "
		    "of %llu octets", shown,
		    (unsigned long long)c->smtp.max_size);
		return;
	}
	if (ls->mail_refused == 452) {
		say(r, 452, "4.3.1", "<%s>: Insufficient system storage",
		    shown);
		return;
	}
	/* the session parsed it; parsed here again, it must say the same */
	if (addr_parse_plain(addr, 0, &a, &why) != ADDR_OK || a.null ||
	    strcmp(addr_format(&a, again, sizeof(again)), addr) != 0) {
		say(r, 501, "5.1.3", "<%s>: Bad recipient address syntax",
		    shown);
		return;
	}
	domain = a.domain;
	routes_lookup(c->routes, domain, &rr);
	if (rr.kind == ROUTE_NONE) {
		say(r, 550, "5.7.1", "<%s>: Relay access denied", shown);
		return;
	}
	if (rr.kind == ROUTE_ERROR) {
		say(r, rr.code, rr.status, "<%s>: %s", shown, rr.text);
		return;
	}
	if ((cu = conf_customer(c, rr.customer)) == NULL) {
		log_warnx("route %s names unknown customer %s", rr.key,
		    rr.customer);
		say(r, 451, "4.3.0", "<%s>: Temporary routing problem", shown);
		return;
	}
	if (cu->rcpts != NULL && !rcptlist_has(cu->rcpts, a.local, domain)) {
		say(r, 550, "5.1.1",
		    "<%s>: Recipient address rejected: User unknown", shown);
		return;
	}
	if (cu->max_size != 0 && ls->declared > cu->max_size) {
		say(r, 552, "5.3.4",
		    "<%s>: Message size exceeds fixed limit of %llu octets",
		    shown, (unsigned long long)cu->max_size);
		return;
	}
	if (cu->quota != 0) {
		/* without SIZE= a customer at its quota takes nothing more */
		size = ls->declared > 0 ? ls->declared : 1;
		if (usage_get(sv->usage, c, cu, &used) != RS_OK) {
			say(r, 451, "4.3.0", "<%s>: Temporary queue problem",
			    shown);
			return;
		}
		if (used + size > cu->quota) {
			say(r, 452, "4.2.2",
			    "<%s>: Mailbox full: customer over quota", shown);
			return;
		}
	}
	if (sv->have_key) {
		if (verdict_make(sv->key, ls->serial, cu->name, addr,
		    r->token) == -1) {
			say(r, 451, "4.3.0", "<%s>: Temporary lookup problem",
			    shown);
			return;
		}
		r->have_token = 1;
	}
	strlcpy_(r->customer, cu->name, sizeof(r->customer));
	say(r, 250, "2.1.5", "Ok");
}

/* ---- AUTH ---- */

/*
 * Failed AUTHs across sessions (penalty.h): auth-failures within
 * auth-lockout from one address (an IPv6 /64) lock it out for
 * auth-lockout, four times as many for one customer from anywhere (a
 * guesser spread over many addresses; one address is locked long
 * before it could lock a customer out).  Each failure's reply waits a
 * second more than the one before.
 */
#define AUTH_CUSTOMER_TIMES	4

/* cust_key - the penalty key of customer name. */
static void
cust_key(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "c %s", name);
}

/*
 * auth_locked - when the client's address, or customer user (NULL or
 * "": none), is locked out, the 421 that closes into r (logged): 1;
 * else 0.
 */
static int
auth_locked(struct lookup_srv *sv, struct lookup_sess *ls, const char *user,
    struct lookup_reply *r)
{
	const struct bridge_conf *c = sv->conf;
	char key[PENALTY_KEY];
	const char *what = "address";
	double now = time_mono();
	long left = 0, l;

	if (sv->pen == NULL || c->smtp.auth_failures <= 0)
		return 0;
	if (penalty_addr_key('a', ls->peer, key, sizeof(key)) == 0)
		left = penalty_locked(sv->pen, key, now);
	if (user != NULL && user[0] != '\0') {
		cust_key(user, key, sizeof(key));
		if ((l = penalty_locked(sv->pen, key, now)) > left) {
			left = l;
			what = "account";
		}
	}
	if (left == 0)
		return 0;
	log_warnx("%s: %s: AUTH refused%s%s: locked out for %lds more after "
	    "too many failures", ls->cram.tag, client(ls), user != NULL &&
	    user[0] != '\0' ? " for " : "", user != NULL ? user : "", left);
	memset(r, 0, sizeof(*r));
	say(r, 421, "4.7.0", "%s Error: too many failed authentications "
	    "for this %s, try again in %ld minute%s", c->hostname, what,
	    (left + 59) / 60, (left + 59) / 60 == 1 ? "" : "s");
	r->close = 1;
	return 1;
}

/*
 * auth_failed - count a failed AUTH of the client (and of customer
 * user, when the answer named one that exists): at a limit the reply
 * becomes the 421 of the lockout, else it waits a second per failure
 * so far.
 */
static void
auth_failed(struct lookup_srv *sv, struct lookup_sess *ls, const char *user,
    struct lookup_reply *r)
{
	const struct bridge_conf *c = sv->conf;
	char key[PENALTY_KEY];
	double now = time_mono();
	int max = c->smtp.auth_failures, na = 0, nc = 0;

	if (sv->pen == NULL || max <= 0)
		return;
	if (penalty_addr_key('a', ls->peer, key, sizeof(key)) == 0)
		na = penalty_add(sv->pen, key, now, c->smtp.auth_lockout, max,
		    c->smtp.auth_lockout);
	if (user[0] != '\0' && conf_customer(c, user) != NULL) {
		cust_key(user, key, sizeof(key));
		nc = penalty_add(sv->pen, key, now, c->smtp.auth_lockout,
		    max * AUTH_CUSTOMER_TIMES, c->smtp.auth_lockout);
	}
	if (na >= max || nc >= max * AUTH_CUSTOMER_TIMES) {
		log_warnx("%s: %s: %d failed AUTHs %s within %lds: locked out "
		    "for %lds", ls->cram.tag, client(ls), na >= max ? na : nc,
		    na >= max ? "from this address" : "for its customer",
		    c->smtp.auth_lockout, c->smtp.auth_lockout);
		(void)auth_locked(sv, ls, user, r);
		return;
	}
	r->delay = na < AUTH_DELAY_MAX ? na : AUTH_DELAY_MAX;
}

static void
cram_out(struct lookup_reply *r, enum cram_outcome rv,
    const struct cram_reply *cr)
{
	r->code = cr->code;
	strlcpy_(r->status, cr->status != NULL ? cr->status : "",
	    sizeof(r->status));
	strlcpy_(r->text, cr->text, sizeof(r->text));
	r->close = rv == CRAM_CLOSE;
}

/*
 * auth_answer - the client's answer line to the pending 334 (or
 * AUTH's initial response): refused before any secret is looked at
 * when the client or the customer it names is locked out, else the
 * verdict, a failure counted.
 */
static void
auth_answer(struct lookup_srv *sv, struct lookup_sess *ls, const char *line,
    struct lookup_reply *r)
{
	struct cram_reply cr;
	enum cram_outcome rv;
	char user[64];

	memset(&cr, 0, sizeof(cr));
	if (cram_answer_user(&ls->cram, line, user, sizeof(user)) == -1 ||
	    !name_is_safe(user))
		user[0] = '\0';
	if (auth_locked(sv, ls, user, r)) {
		ls->cram.pending = 0;
		return;
	}
	rv = cram_finish(&ls->cram, sv->conf, client(ls), line, &cr);
	cram_out(r, rv, &cr);
	if (cr.failed)
		auth_failed(sv, ls, user, r);
}

/* ---- ETRN (RFC 1985) ---- */

struct etrn_req {
	const struct customer *cu[ETRN_CUST_MAX];
	int	n;
};

int
etrn_domain(char *d)
{
	size_t len = strlen(d), label = 0, i;

	if (len > 0 && d[len - 1] == '.')
		d[--len] = '\0';
	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i <= len; i++) {
		if (d[i] == '.' || d[i] == '\0') {
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)d[i]) && d[i] != '-')
			return -1;
		if (label == 0 && d[i] == '-')
			return -1;
		d[i] = (char)tolower((unsigned char)d[i]);
		label++;
	}
	return 0;
}

static void
etrn_add(const struct bridge_conf *c, struct etrn_req *rq, const char *name)
{
	const struct customer *cu = conf_customer(c, name);
	int i;

	if (cu == NULL || rq->n >= ETRN_CUST_MAX)
		return;
	for (i = 0; i < rq->n; i++)
		if (rq->cu[i] == cu)
			return;
	rq->cu[rq->n++] = cu;
}

struct etrn_scan {
	const struct bridge_conf *c;
	struct etrn_req *rq;
	const char *domain;
};

/* etrn_key - a routes key inside the @domain of the scan? */
static void
etrn_key(void *arg, const char *key, const char *value, const char *file,
    int line)
{
	struct etrn_scan *sc = arg;
	size_t kl = strlen(key), dl = strlen(sc->domain);

	(void)file;
	(void)line;

	if (strcmp(key, sc->domain) == 0 || (kl > dl &&
	    key[kl - dl - 1] == '.' && strcmp(key + kl - dl, sc->domain) == 0))
		etrn_add(sc->c, sc->rq, value);
}

/*
 * etrn_customers - the customers holding mail for domain (sub: its
 * subdomains too): where routes(5) sends it, and with sub every key
 * at or under it.
 */
static void
etrn_customers(const struct bridge_conf *c, const char *domain, int sub,
    struct etrn_req *rq)
{
	struct route_result res;
	struct etrn_scan sc;

	routes_lookup(c->routes, domain, &res);
	if (res.kind == ROUTE_CUSTOMER)
		etrn_add(c, rq, res.customer);
	if (sub) {
		sc.c = c;
		sc.rq = rq;
		sc.domain = domain;
		routes_foreach(c->routes, etrn_key, &sc);
	}
}

/* client_sa - the client's numeric address as a sockaddr; -1 if none. */
static int
client_sa(const char *addr, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* etrn_denied - why the client may not release cu, or NULL. */
static const char *
etrn_denied(const struct lookup_sess *ls, const struct customer *cu)
{
	struct sockaddr_storage ss;

	if (!(cu->release & REL_ETRN))
		return "ETRN is not how this node's mail is released";
	if (strcmp(ls->cram.auth, cu->name) == 0)
		return NULL;
	if (client_sa(ls->peer, &ss) == -1 ||
	    !conf_client_allowed(cu, (struct sockaddr *)&ss))
		return "client address not authorised";
	return NULL;
}

int
etrn_domain_owned(const struct bridge_conf *c, const struct customer *cu,
    const char *domain)
{
	struct route_result res;

	routes_lookup(c->routes, domain, &res);
	return res.kind == ROUTE_CUSTOMER && strcmp(res.customer, cu->name) ==
	    0 && strcmp(res.key, ".") != 0;
}

/*
 * etrn_send - ask the master to flush cu for this client, naming the
 * domain deliver-to = "mx" is to use (NULL: its first route key);
 * 0 or -1.
 */
static int
etrn_send(struct lookup_srv *sv, const struct lookup_sess *ls,
    const struct customer *cu, const char *domain)
{
	char buf[SMTPD_REQ_MAX];
	int n;

	if (sv->flush == NULL)
		return -1;
	n = snprintf(buf, sizeof(buf), "flush %s %s%s%s", cu->name, ls->peer,
	    domain != NULL ? " " : "", domain != NULL ? domain : "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return sv->flush(sv->flush_arg, buf);
}

/*
 * etrn_answer - the reply to an ETRN whose customers (names) have
 * each[] messages waiting and whose flushes were asked, logged.
 */
static void
etrn_answer(const struct lookup_sess *ls, const char *node,
    char names[][64], const uint64_t *each, int n, struct lookup_reply *r)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < n; i++)
		if (each[i] == ETRN_UNCOUNTED) {
			log_warnx("etrn: %s from %s: the master could not "
			    "count or flush it", names[i], client(ls));
			say(r, 458, "4.3.0", "Unable to queue messages for "
			    "node %s", node);
			return;
		}
	for (i = 0; i < n; i++) {
		total += each[i];
		if (each[i] > 0)
			log_info("etrn: %s from %s: node %s, %llu pending%s",
			    names[i], client(ls), node,
			    (unsigned long long)each[i],
			    strcmp(ls->cram.auth, names[i]) == 0 ?
			    ", authenticated" : "");
	}
	if (total == 0)
		say(r, 251, "2.0.0", "OK, no messages waiting for node %s",
		    node);
	else
		say(r, 253, "2.0.0", "OK, %llu pending messages for node %s "
		    "started", (unsigned long long)total, node);
}

/*
 * etrn_release - authorise, count, ask for the flushes, reply (or, with
 * sv->count, ask for the counting and flushing and reply when it is
 * done: lookup_etrn_counted).  domain is the domain the node names
 * (NULL for #customer).
 */
static void
etrn_release(struct lookup_srv *sv, struct lookup_sess *ls, const char *node,
    const char *domain, struct etrn_req *rq, struct lookup_reply *r)
{
	char *names[ETRN_CUST_MAX], *doms[ETRN_CUST_MAX];
	uint64_t each[ETRN_CUST_MAX];
	const char *why;
	int i;

	if (rq->n == 0) {
		say(r, 459, "4.7.1", "<%s>: node not allowed: no such node",
		    node);
		return;
	}
	for (i = 0; i < rq->n; i++)
		if ((why = etrn_denied(ls, rq->cu[i])) != NULL) {
			say(r, 459, "4.7.1", "<%s>: node not allowed: %s",
			    node, why);
			return;
		}
	strlcpy_(ls->etrn.node, node, sizeof(ls->etrn.node));
	ls->etrn.n = rq->n;
	for (i = 0; i < rq->n; i++) {
		strlcpy_(ls->etrn.cust[i], rq->cu[i]->name,
		    sizeof(ls->etrn.cust[i]));
		names[i] = ls->etrn.cust[i];
		/* the flush uses the first route key unless it is cu's */
		doms[i] = domain != NULL && etrn_domain_owned(sv->conf,
		    rq->cu[i], domain) ? (char *)domain : NULL;
	}
	if (sv->count != NULL) {
		if (sv->count(sv->count_arg, ls, names, doms, rq->n) == -1) {
			log_warn("etrn: node %s from %s: cannot reach the "
			    "master", node, client(ls));
			say(r, 458, "4.3.0", "Unable to queue messages for "
			    "node %s", node);
			return;
		}
		ls->etrn.pending = 1;	/* answered when it is counted */
		return;
	}
	for (i = 0; i < rq->n; i++)
		if (usage_count(sv->usage, sv->conf, rq->cu[i], &each[i]) !=
		    RS_OK)
			each[i] = 0;
	for (i = 0; i < rq->n; i++)
		if (each[i] > 0 && etrn_send(sv, ls, rq->cu[i], doms[i]) ==
		    -1) {
			log_warn("etrn: %s from %s: cannot reach the master",
			    rq->cu[i]->name, client(ls));
			say(r, 458, "4.3.0", "Unable to queue messages for "
			    "node %s", node);
			return;
		}
	etrn_answer(ls, node, ls->etrn.cust, each, rq->n, r);
}

int
lookup_etrn_counted(struct lookup_sess *ls, const uint64_t *counts, int n,
    struct lookup_reply *r)
{
	if (!ls->etrn.pending || n != ls->etrn.n)
		return 0;
	ls->etrn.pending = 0;
	memset(r, 0, sizeof(*r));
	etrn_answer(ls, ls->etrn.node, ls->etrn.cust, counts, n, r);
	return 1;
}

/*
 * etrn_too_often - an ETRN beyond smtp { etrn-per-minute } from one
 * client address (limits-exempt ones are not counted): 458 into r, 1.
 * The flushes coalesce anyway; this keeps one client from keeping the
 * lookup and the master counting queues.
 */
static int
etrn_too_often(struct lookup_srv *sv, struct lookup_sess *ls,
    struct lookup_reply *r)
{
	const struct bridge_conf *c = sv->conf;
	struct sockaddr_storage ss;
	char key[PENALTY_KEY];
	int n;

	if (sv->pen == NULL || c->smtp.etrn_per_minute <= 0 ||
	    client_sa(ls->peer, &ss) == -1 ||
	    conf_limits_exempt(c, (struct sockaddr *)&ss) ||
	    penalty_addr_key('e', ls->peer, key, sizeof(key)) == -1)
		return 0;
	n = penalty_add(sv->pen, key, time_mono(), 60, 0, 0);
	if (n <= c->smtp.etrn_per_minute)
		return 0;
	if (n == c->smtp.etrn_per_minute + 1)
		log_warnx("smtp: %s: more than %d ETRNs in a minute: refused "
		    "for the rest of it", client(ls), c->smtp.etrn_per_minute);
	say(r, 458, "4.7.0", "Too many ETRN requests from your address, try "
	    "again in a minute");
	return 1;
}

/*
 * do_etrn - "ETRN domain", "ETRN @domain" (and its subdomains),
 * "ETRN #customer"; the session has checked its state and that arg is
 * not empty.  Never a single label (a bare TLD such as @com).
 */
static void
do_etrn(struct lookup_srv *sv, struct lookup_sess *ls, const char *arg,
    struct lookup_reply *r)
{
	struct etrn_req rq;
	char node[300], dom[300];
	const char *p;

	while (*arg == ' ')
		arg++;
	if (*arg == '\0') {
		say(r, 500, "5.5.2", "Syntax: ETRN [@|#]node");
		return;
	}
	if (etrn_too_often(sv, ls, r))
		return;
	text_shown(arg, strlen(arg), node, sizeof(node));
	if (strlen(arg) >= sizeof(dom) - 1 || strchr(arg, ' ') != NULL) {
		say(r, 501, "5.5.4", "<%s>: bad node name", node);
		return;
	}
	memset(&rq, 0, sizeof(rq));
	if (arg[0] == '#') {
		if (!name_is_safe(arg + 1)) {
			say(r, 501, "5.5.4", "<%s>: bad queue name", node);
			return;
		}
		etrn_add(sv->conf, &rq, arg + 1);
		etrn_release(sv, ls, node, NULL, &rq, r);
		return;
	}
	p = arg[0] == '@' ? arg + 1 : arg;
	strlcpy_(dom, p, sizeof(dom));
	if (etrn_domain(dom) == -1) {
		say(r, 501, "5.5.4", "<%s>: bad domain name", node);
		return;
	}
	if (strchr(dom, '.') == NULL) {
		say(r, 459, "4.7.1", "<%s>: node not allowed: a top-level "
		    "domain or a single label", node);
		return;
	}
	etrn_customers(sv->conf, dom, arg[0] == '@', &rq);
	etrn_release(sv, ls, node, dom, &rq, r);
}

/* ---- ATRN (RFC 2645) ---- */

/*
 * do_atrn - the authenticated customer, when every comma-separated
 * domain of arg (none: all of them) routes to it.
 */
static void
do_atrn(struct lookup_srv *sv, struct lookup_sess *ls, char *arg,
    struct lookup_reply *r)
{
	struct route_result res;
	char *d;

	if (ls->cram.auth[0] == '\0' ||
	    conf_customer(sv->conf, ls->cram.auth) == NULL) {
		say(r, 530, "5.7.0", "Authentication required");
		return;
	}
	while (*arg == ' ')
		arg++;
	while (*arg != '\0' && (d = strsep(&arg, ",")) != NULL) {
		if (etrn_domain(d) == -1) {
			say(r, 501, "5.5.4",
			    "Syntax: ATRN [domain[,domain]...]");
			return;
		}
		routes_lookup(sv->conf->routes, d, &res);
		if (res.kind != ROUTE_CUSTOMER ||
		    strcmp(res.customer, ls->cram.auth) != 0) {
			log_info("odmr: %s: ATRN as %s refused: %s is not "
			    "its domain", client(ls), ls->cram.auth, d);
			say(r, 450, "4.7.1", "Access denied to <%s>", d);
			return;
		}
		if (arg == NULL)
			break;
	}
	strlcpy_(r->customer, ls->cram.auth, sizeof(r->customer));
	say(r, 250, "2.0.0", "Ok");
}

/* ---- the requests ---- */

/* cut - log why the session is cut off; -1. */
static int
cut(const struct lookup_sess *ls, const char *why)
{
	log_warnx("lookup: session %u (%s): %s: cut off", ls->serial,
	    ls->peer, why);
	return -1;
}

int
lookup_serve(struct lookup_srv *sv, struct lookup_sess *ls,
    struct chan_msg *m, struct lookup_reply *r)
{
	char a[ADDR_PATH_MAX + 8], b[CRAM_ANSWER_MAX + 16];
	struct cram_reply cr;
	enum cram_outcome rv;
	struct chan_rd rd;
	uint64_t declared;

	memset(r, 0, sizeof(*r));
	memset(&cr, 0, sizeof(cr));
	if (m->fd != -1 && m->type != LM_ATRN)
		return cut(ls, "sent a descriptor");
	if (ls->etrn.pending)
		return cut(ls, "a request before its ETRN was answered");
	chan_rd_init(&rd, m);
	switch (m->type) {
	case LM_MAIL:
		declared = chan_get_u64(&rd);
		if (chan_get_end(&rd) != 0)
			return cut(ls, "malformed MAIL");
		do_mail(sv, ls, declared);
		return 0;		/* a notice: no reply */
	case LM_RCPT:
		if (chan_get_str(&rd, a, sizeof(a)) == NULL ||
		    chan_get_str(&rd, b, sizeof(b)) == NULL ||
		    chan_get_end(&rd) != 0)
			return cut(ls, "malformed RCPT");
		do_rcpt(sv, ls, a, b, r);
		return 1;
	case LM_AUTH:
		if (chan_get_str(&rd, b, sizeof(b)) == NULL ||
		    chan_get_end(&rd) != 0)
			return cut(ls, "malformed AUTH");
		if (ls->kind != LOOKUP_SMTP && ls->kind != LOOKUP_ODMR)
			return cut(ls, "AUTH on a local socket");
		if (auth_locked(sv, ls, NULL, r))
			return 1;
		rv = cram_start(&ls->cram, sv->conf, b, &cr);
		if (rv == CRAM_ANSWERED)	/* an initial response */
			auth_answer(sv, ls, ls->cram.initial, r);
		else
			cram_out(r, rv, &cr);
		return 1;
	case LM_ANSWER:
		if (chan_get_str(&rd, b, sizeof(b)) == NULL ||
		    chan_get_end(&rd) != 0)
			return cut(ls, "malformed AUTH answer");
		if (!ls->cram.pending)
			return cut(ls, "an AUTH answer without a challenge");
		auth_answer(sv, ls, b, r);
		return 1;
	case LM_TLS:
		if (chan_get_end(&rd) != 0)
			return cut(ls, "malformed TLS notice");
		if (ls->kind != LOOKUP_SMTP && ls->kind != LOOKUP_ODMR)
			return cut(ls, "TLS on a local socket");
		ls->cram.tls = 1;
		return 0;		/* a notice: no reply */
	case LM_ETRN:
		if (chan_get_str(&rd, b, sizeof(b)) == NULL ||
		    chan_get_end(&rd) != 0)
			return cut(ls, "malformed ETRN");
		if (ls->kind != LOOKUP_SMTP)
			return cut(ls, "ETRN on another listener");
		do_etrn(sv, ls, b, r);
		return ls->etrn.pending ? 0 : 1;
	case LM_ATRN:
		if (chan_get_str(&rd, b, sizeof(b)) == NULL ||
		    chan_get_end(&rd) != 0)
			return cut(ls, "malformed ATRN");
		if (ls->kind != LOOKUP_ODMR)
			return cut(ls, "ATRN on another listener");
		do_atrn(sv, ls, b, r);
		if (r->code != 250)
			return 1;
		/* allowed: the connection goes to a delivery worker */
		if (m->fd == -1 || sv->turn == NULL ||
		    sv->turn(sv->turn_arg, r->customer, ls->peer, ls->name,
		    m->fd) == -1) {
			memset(r, 0, sizeof(*r));
			say(r, 451, "4.3.0", "Unable to process ATRN now: no "
			    "delivery process");
			return 1;
		}
		m->fd = -1;
		r->close = 1;
		return 1;
	}
	return cut(ls, "unknown message");
}

void
lookup_reply_put(struct chan_wr *w, const struct lookup_reply *r)
{
	chan_put_u32(w, (uint32_t)r->code);
	chan_put_str(w, r->status);
	chan_put_str(w, r->text);
	chan_put_u32(w, (uint32_t)r->close);
	chan_put_u32(w, (uint32_t)r->delay);
	chan_put_str(w, r->customer);
	if (r->have_token)
		chan_put_bytes(w, r->token, VERDICT_LEN);
}

int
lookup_reply_get(const struct chan_msg *m, struct lookup_reply *r)
{
	struct chan_rd rd;

	memset(r, 0, sizeof(*r));
	if (m->type != LM_REPLY || m->fd != -1)
		return -1;
	chan_rd_init(&rd, m);
	r->code = (int)chan_get_u32(&rd);
	chan_get_str(&rd, r->status, sizeof(r->status));
	chan_get_str(&rd, r->text, sizeof(r->text));
	r->close = chan_get_u32(&rd) != 0;
	r->delay = (int)chan_get_u32(&rd);
	chan_get_str(&rd, r->customer, sizeof(r->customer));
	if (rd.left > 0 && !rd.err)
		r->have_token = chan_get_bytes(&rd, r->token, VERDICT_LEN) ==
		    VERDICT_LEN;
	if (chan_get_end(&rd) != 0 || r->code < 200 || r->code > 599 ||
	    r->delay < 0 || r->delay > AUTH_DELAY_MAX)
		return -1;
	return 0;
}
