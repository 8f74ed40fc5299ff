/*
 * flush.c - deliver one customer's queue (see flush.h).
 *
 * The parent locks the queue directory and lists the entries (id order
 * is arrival order).  Workers, one per connection (forked when there
 * may be more than one), take the next entry from a counter they share,
 * so every connection sends oldest first and a slow connection holds
 * no one else's share.  A worker feeds its entries to smtpc_send one at
 * a time: next() takes and reads an entry's envelope and maps its
 * message; done() acts on the outcome at once, in this order: log each
 * recipient, commit the DSN for 5xx recipients (dsn_queue), then
 * rewrite the entry with the 4xx recipients left or remove it.  If the
 * DSN cannot be committed the entry is left exactly as it was.  A lost
 * connection is retried (a new connection, next host first) while it
 * keeps making progress.
 *
 * Widening: a flush starts with flush-connections connections.  When a
 * connection pays a round trip per message (no CHUNKING) and that
 * round trip is at least half of each message's time, the link idles
 * while it waits, so after each message the worker asks the parent for
 * as many more connections as would fill that idle time; the parent
 * grants at most as many as are running (the count at most doubles per
 * ask), while flush-connections-max allows and each new connection
 * would have two entries left.  When the link fills, the time per
 * message grows past twice the round trip and the asking stops.  A new
 * connection that cannot be made (refused, 421) stops the widening.
 * Workers report their counts to the parent through a pipe.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"
#include "dsnenv.h"
#include "flush.h"
#include "log.h"
#include "mx.h"
#include "tlsc.h"
#include "queue.h"

#define RECONNECTS_MAX	3
#define WORKERS_MAX	64	/* connections of one flush, at most */
#define WIDEN_EVERY	1	/* messages timed between asks to widen */
#define WIDEN_SHARE	0.5	/* ask when rtt >= this share of a message */

/* One entry on its way: the envelope, the mapped file, the results. */
struct item {
	struct smtpc_msg m;
	struct qenv env;
	void   *map;
	size_t	maplen;
	char	dsn_mail[DSNENV_PARAMS_MAX];	/* the DSN parameters sent */
	char  **dsn_rcpt;
};

struct worker {
	const struct bridge_conf *conf;
	const struct customer *cu;
	const struct flush_target *t;
	const struct flush_opts *o;
	struct strv *ids;
	size_t *claim;			/* next index into ids, shared */
	int	growfd;			/* ask the parent to widen; -1: no */
	long	asked;			/* pace count at the last ask */
	int	connected;		/* made a connection */
	struct smtpc *c;
	long	progress;		/* entries finished on this connection */
	struct flush_stats st;
};

/* What a forked worker tells the parent when it ends. */
struct worker_end {
	struct flush_stats st;
	int	connected;
};

void
flush_opts_default(struct flush_opts *o)
{
	memset(o, 0, sizeof(*o));
	smtpc_opts_default(&o->smtp);
	o->smtp.window_msgs = FLUSH_WINDOW_MSGS;
}

/* target_mx - the MX hosts of domain, or of the customer's first one. */
static enum result
target_mx(const struct bridge_conf *conf, const struct customer *cu,
    const char *domain, struct flush_target *t, char *err, size_t errlen)
{
	enum result rv;

	if (domain == NULL)
		domain = mx_domain(conf, cu);
	if (domain == NULL) {
		snprintf(err, errlen, "%s: deliver-to is \"mx\" but no "
		    "route names a domain of it", cu->name);
		return RS_PERM;
	}
	rv = mx_targets(domain, conf->hostname, &t->mx, &t->nhosts, err,
	    errlen);
	t->hosts = (const char *const *)t->mx;
	if (rv == RS_OK)
		log_debug("%s: MX of %s: %s%s", cu->name, domain, t->mx[0],
		    t->nhosts > 1 ? " ..." : "");
	return rv;
}

enum result
flush_target_conf(const struct bridge_conf *conf, const struct customer *cu,
    const char *peer, const char *domain, struct flush_target *t, char *err,
    size_t errlen)
{
	memset(t, 0, sizeof(*t));
	switch (cu->deliver_mode) {
	case DELIVER_HOSTS:
		if (cu->ndeliver_to == 0) {
			snprintf(err, errlen, "%s: no deliver-to", cu->name);
			return RS_PERM;
		}
		t->hosts = (const char *const *)cu->deliver_to;
		t->nhosts = cu->ndeliver_to;
		return RS_OK;
	case DELIVER_PEER:
		if (peer == NULL || peer[0] == '\0') {
			snprintf(err, errlen, "%s: deliver-to is \"peer\" "
			    "but there is no peer", cu->name);
			return RS_PERM;
		}
		t->one[0] = peer;
		t->hosts = t->one;
		t->nhosts = 1;
		return RS_OK;
	case DELIVER_MX:
		return target_mx(conf, cu, domain, t, err, errlen);
	default:
		snprintf(err, errlen, "%s: bad deliver-to", cu->name);
		return RS_PERM;
	}
}

void
flush_target_free(struct flush_target *t)
{
	strv_free(t->mx, t->mx != NULL ? (size_t)t->nhosts : 0);
	memset(t, 0, sizeof(*t));
}

/* ---- listing ---- */

/* ids_add - spool_list callback: keep the id. */
static int
ids_add(void *arg, const char *id, const char *path)
{
	(void)path;
	return strv_add(arg, id);
}

/* A list of entries and, with a backoff, only the due ones. */
struct due {
	struct strv *ids;
	time_t	now;
};

/* due_add - spool_list callback: keep the id if its time has come. */
static int
due_add(void *arg, const char *id, const char *path)
{
	struct due *d = arg;
	struct qenv env;
	int wait;

	if (qenv_read(path, &env, NULL, NULL, 0) != RS_OK)
		return errno == ENOENT ? 0 : strv_add(d->ids, id);
	wait = env.next_attempt > d->now;
	qenv_free(&env);
	return wait ? 0 : strv_add(d->ids, id);
}

/* ---- one entry ---- */

/* backoff_for - o's backoff for an entry that has had attempts tries. */
static long
backoff_for(const struct flush_opts *o, int attempts)
{
	long b = o->backoff;
	int k;

	for (k = 1; k < attempts && b < o->backoff_max; k++)
		b *= 2;
	return b > o->backoff_max && o->backoff_max > 0 ? o->backoff_max : b;
}

/*
 * schedule - with a backoff, an entry left queued after its attempt
 * number env->attempts gets its own next-attempt; logged once.
 */
static void
schedule(const struct flush_opts *o, struct qenv *env, time_t now)
{
	long b;

	if (o->backoff <= 0)
		return;
	b = backoff_for(o, env->attempts);
	env->next_attempt = now + b;
	log_info("%s: attempt %d left it queued; next attempt in %ld s",
	    env->id, env->attempts, b);
}

static void
item_free(struct item *it)
{
	int i;

	if (it->map != NULL && it->map != MAP_FAILED)
		munmap(it->map, it->maplen);
	for (i = 0; it->dsn_rcpt != NULL && i < it->env.nrcpts; i++)
		free(it->dsn_rcpt[i]);
	free(it->dsn_rcpt);
	qenv_free(&it->env);
	free(it->m.result);
	free(it);
}

/*
 * item_dsn - the DSN parameters of the entry's MAIL and RCPTs, for a
 * server that offers DSN (a recipient whose parameters do not fit gets
 * none).  -1 when out of memory.
 */
static int
item_dsn(struct item *it)
{
	struct dsnenv de;
	char buf[DSNENV_PARAMS_MAX];
	int i;

	dsnenv_of(&de, &it->env, NULL);
	if (dsnenv_mail_params(&de, it->dsn_mail, sizeof(it->dsn_mail)) == -1)
		it->dsn_mail[0] = '\0';
	if ((it->dsn_rcpt = calloc((size_t)it->env.nrcpts,
	    sizeof(*it->dsn_rcpt))) == NULL)
		return -1;
	for (i = 0; i < it->env.nrcpts; i++) {
		dsnenv_of(&de, &it->env, it->env.rcpts[i]);
		if (dsnenv_rcpt_params(&de, buf, sizeof(buf)) == 0 &&
		    buf[0] != '\0' && (it->dsn_rcpt[i] = strdup(buf)) == NULL)
			return -1;
	}
	it->m.dsn_mail = it->dsn_mail;
	it->m.dsn_rcpt = (const char *const *)it->dsn_rcpt;
	return 0;
}

/* item_open - read the envelope and map the message of entry id. */
static struct item *
item_open(struct worker *w, const char *id)
{
	char path[PATH_MAX], err[256];
	struct item *it;
	struct stat st;
	off_t off;
	enum result rv;
	int fd;

	if (q_path(path, sizeof(path), w->conf->spool, w->cu->name, "new",
	    id) == -1 || (it = calloc(1, sizeof(*it))) == NULL)
		return NULL;
	if ((rv = qenv_read(path, &it->env, &off, err, sizeof(err))) !=
	    RS_OK) {
		if (errno != ENOENT)
			log_warnx("%s: %s: skipped: %s", w->cu->name, id, err);
		free(it);
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 || (uint64_t)st.st_size != (uint64_t)off +
	    it->env.size || it->env.nrcpts == 0) {
		log_warnx("%s: %s: skipped: entry changed or unreadable",
		    w->cu->name, id);
		if (fd != -1)
			close(fd);
		qenv_free(&it->env);
		free(it);
		return NULL;
	}
	it->maplen = (size_t)st.st_size;
	it->map = it->maplen ? mmap(NULL, it->maplen, PROT_READ, MAP_PRIVATE,
	    fd, 0) : NULL;
	close(fd);
	if (it->map == MAP_FAILED ||
	    (it->m.result = calloc((size_t)it->env.nrcpts,
	    sizeof(*it->m.result))) == NULL || item_dsn(it) == -1) {
		log_warn("%s: %s: skipped: map", w->cu->name, id);
		item_free(it);
		return NULL;
	}
	it->m.sender = it->env.sender;
	it->m.rcpts = (const char *const *)it->env.rcpts;
	it->m.nrcpts = it->env.nrcpts;
	it->m.data = it->maplen ? (const char *)it->map + off : "";
	it->m.len = (size_t)it->env.size;
	it->m.body_8bit = it->env.body_8bit;
	it->m.arg = it;
	return it;
}

/* claim - the next entry's index for this worker; ids->n when none. */
static size_t
claim(struct worker *w)
{
	size_t i = __atomic_fetch_add(w->claim, 1, __ATOMIC_RELAXED);

	return i < w->ids->n ? i : w->ids->n;
}

/* left - entries nobody has taken yet. */
static size_t
left(const struct worker *w)
{
	size_t i = __atomic_load_n(w->claim, __ATOMIC_RELAXED);

	return i < w->ids->n ? w->ids->n - i : 0;
}

/*
 * maybe_widen - while round trips rule, ask for more connections: as
 * many as would fill the link's idle time as this connection sees it
 * (the round trip over the rest of a message's time), 1 to 64.
 */
static void
maybe_widen(struct worker *w)
{
	double rtt, cycle, k;
	unsigned char ask;
	long n;

	if (w->growfd == -1 || w->c == NULL ||
	    (n = smtpc_pace(w->c, &rtt, &cycle)) < w->asked + WIDEN_EVERY ||
	    rtt <= 0 || cycle <= 0 || rtt < WIDEN_SHARE * cycle ||
	    left(w) == 0)
		return;
	w->asked = n;
	k = cycle > rtt ? rtt / (cycle - rtt) : WORKERS_MAX;
	ask = k < 1 ? 1 : k > WORKERS_MAX ? WORKERS_MAX : (unsigned char)k;
	log_info("%s: flush: round trip %.0f ms of %.0f ms a message to %s: "
	    "asking for %u more connection%s", w->cu->name, rtt * 1000,
	    cycle * 1000, smtpc_relay(w->c), ask, ask == 1 ? "" : "s");
	if (write(w->growfd, &ask, 1) != 1)
		log_warn("%s: flush: widen", w->cu->name);
}

static struct smtpc_msg *
feed_next(void *arg)
{
	struct worker *w = arg;
	struct item *it;
	size_t i;

	maybe_widen(w);
	while ((i = claim(w)) < w->ids->n) {
		it = item_open(w, w->ids->v[i]);
		if (it != NULL) {
			w->st.entries++;
			return &it->m;
		}
	}
	return NULL;
}

static void
log_rcpt(struct worker *w, struct item *it, int i, const char *what,
    long delay)
{
	const struct smtpc_reply *r = &it->m.result[i];

	log_info("%s: to=<%s>, relay=%s, delay=%ld, dsn=%s, status=%s (%s)",
	    it->env.id, it->env.rcpts[i], smtpc_relay(w->c), delay, r->status,
	    what, r->text);
}

/*
 * report_kind - what the sender is owed about recipient i: a failed
 * DSN for a 5xx its NOTIFY asks about; for a 2xx from a server that
 * does not offer DSN and NOTIFY=SUCCESS, a relayed one (RFC 3461
 * 6.2.2.2; delivered, when the server is the customer's LMTP
 * server); else nothing (-1).
 */
static int
report_kind(const struct worker *w, const struct item *it, int i)
{
	switch (smtpc_class(&it->m.result[i])) {
	case RS_PERM:
		return qenv_notify(&it->env, it->env.rcpts[i], QN_FAILURE) ?
		    DSN_FAILED : -1;
	case RS_OK:
		if ((smtpc_ext(w->c) & SMTPC_EXT_DSN) ||
		    !qenv_notify(&it->env, it->env.rcpts[i], QN_SUCCESS))
			return -1;
		return w->o->smtp.lmtp ? DSN_DELIVERED : DSN_RELAYED;
	default:
		return -1;
	}
}

/*
 * dsn_refused - an entry of the DSN queue refused for good by the
 * relayhost: its copy goes to the postmaster (dsn_postmaster_copy),
 * never silently nowhere.  0 if it is safe to go on.
 */
static int
dsn_refused(struct worker *w, struct item *it, time_t now)
{
	struct dsn_rcpt rc;
	char qid[QID_LEN], err[256];
	enum result rs;
	int i;

	for (i = 0; i < it->env.nrcpts; i++) {
		if (smtpc_class(&it->m.result[i]) != RS_PERM)
			continue;
		memset(&rc, 0, sizeof(rc));
		rc.addr = it->env.rcpts[i];
		rc.action = DSN_FAILED;
		rc.status = it->m.result[i].status;
		rc.remote_mta = smtpc_host(w->c);
		rc.diag = it->m.result[i].text;
		rc.last_attempt = now;
		rs = dsn_postmaster_copy(w->conf->spool, w->conf->postmaster,
		    w->conf->hostname, &it->env, it->m.data, it->m.len, &rc,
		    now, qid, sizeof(qid), err, sizeof(err));
		if (rs == RS_TEMP) {
			log_warnx("%s: the postmaster's copy not queued: %s; "
			    "entry kept as it was", it->env.id, err);
			return -1;
		}
		if (rs == RS_PERM)
			log_warnx("%s: DSN to <%s> refused and dropped: %s (%s)",
			    it->env.id, rc.addr, err, rc.diag);
		else {
			log_info("%s: DSN to <%s> refused: copy %s queued for "
			    "the postmaster <%s>", it->env.id, rc.addr, qid,
			    w->conf->postmaster);
			w->st.dsns++;
		}
	}
	return 0;
}

/*
 * notify_sender - queue the DSN for the recipients report_kind picks
 * (ORCPT, ENVID, RET with it); 0 if it is safe to go on.  nperm: 5xx
 * recipients, for the log when none of them asks for a DSN.
 */
static int
notify_sender(struct worker *w, struct item *it, int nperm, time_t now)
{
	const struct qrcpt_dsn *d;
	struct dsn_rcpt *rc;
	struct dsn_report r;
	char qid[QID_LEN], err[256];
	const char *to;
	int i, k, n = 0, failed = 0;

	if (strcmp(w->cu->name, DSN_QUEUE) == 0)
		return nperm > 0 ? dsn_refused(w, it, now) : 0;
	if ((rc = calloc((size_t)it->env.nrcpts, sizeof(*rc))) == NULL)
		return -1;
	for (i = 0; i < it->env.nrcpts; i++) {
		if ((k = report_kind(w, it, i)) == -1)
			continue;
		d = qenv_rcpt_dsn(&it->env, it->env.rcpts[i]);
		rc[n].orcpt = d != NULL ? d->orcpt : NULL;
		rc[n].addr = it->env.rcpts[i];
		rc[n].action = (enum dsn_action)k;
		rc[n].status = it->m.result[i].status;
		rc[n].remote_mta = smtpc_host(w->c);
		rc[n].diag = it->m.result[i].text;
		rc[n].last_attempt = now;
		failed |= k == DSN_FAILED;
		n++;
	}
	to = dsn_recipient(it->env.sender, w->conf->postmaster, it->m.data,
	    it->m.len);
	if (n == 0 || to == NULL) {
		if (nperm > 0 || n > 0)
			log_info("%s: no DSN: %s", it->env.id, n == 0 ?
			    "NOTIFY does not ask for one" : it->env.sender[0] ?
			    "automatic message and no postmaster" :
			    "null sender");
		free(rc);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = w->conf->hostname;
	r.to = to;
	r.orig_sender = it->env.sender;
	r.queue_id = it->env.id;
	r.arrival = it->env.arrival;
	r.now = now;
	r.rcpts = rc;
	r.nrcpts = n;
	r.orig = it->m.data;
	r.origlen = it->m.len;
	r.envid = it->env.envid;
	r.ret_full = failed && it->env.ret == QRET_FULL;
	if (dsn_queue(w->conf->spool, &r, qid, sizeof(qid), err,
	    sizeof(err)) != RS_OK) {
		log_warnx("%s: DSN to <%s> not queued: %s; entry kept as it "
		    "was", it->env.id, to, err);
		free(rc);
		return -1;
	}
	log_info("%s: %s DSN %s queued for <%s>", it->env.id,
	    failed ? "failed" : dsn_action_name(rc[0].action), qid, to);
	w->st.dsns++;
	free(rc);
	return 0;
}

/* settle_entry - rewrite the entry with the recipients left, or remove it. */
static void
settle_entry(struct worker *w, struct item *it, int nleft, int answered,
    time_t now)
{
	char **left, **all = it->env.rcpts, err[256];
	int i, n = 0, nall = it->env.nrcpts;

	if (nleft == 0) {
		if (q_remove(w->conf->spool, w->cu->name, it->env.id) != RS_OK)
			log_warn("%s: remove", it->env.id);
		else {
			log_info("%s: removed", it->env.id);
			w->st.done++;
			w->progress++;
		}
		return;
	}
	if (nleft == nall && !answered)
		return;			/* nothing happened to it */
	if ((left = calloc((size_t)nleft, sizeof(*left))) == NULL) {
		log_warn("%s: rewrite", it->env.id);
		return;
	}
	for (i = 0; i < nall; i++) {
		if (smtpc_class(&it->m.result[i]) != RS_TEMP)
			continue;
		left[n++] = all[i];
		if (it->m.result[i].code != 0 && qenv_set_reply(&it->env,
		    all[i], smtpc_host(w->c), it->m.result[i].text) == -1)
			log_warnx("%s: to=<%s>: the reply is not recorded",
			    it->env.id, all[i]);
	}
	it->env.rcpts = left;
	it->env.nrcpts = n;
	it->env.attempts++;
	it->env.last_attempt = now;
	schedule(w->o, &it->env, now);
	if (qenv_rewrite(w->conf->spool, &it->env, err, sizeof(err)) != RS_OK)
		log_warnx("%s: rewrite: %s", it->env.id, err);
	else if (n < nall)
		w->progress++;
	it->env.rcpts = all;
	it->env.nrcpts = nall;
	free(left);
}

static void
feed_done(void *arg, struct smtpc_msg *m)
{
	struct worker *w = arg;
	struct item *it = m->arg;
	time_t now = time(NULL);
	long delay = (long)(now - it->env.arrival);
	int i, nleft = 0, nperm = 0, nsucc = 0, answered = 0;

	for (i = 0; i < m->nrcpts; i++) {
		switch (smtpc_class(&m->result[i])) {
		case RS_OK:
			log_rcpt(w, it, i, "sent", delay);
			w->st.sent++;
			nsucc += report_kind(w, it, i) != -1;
			break;
		case RS_PERM:
			log_rcpt(w, it, i, "bounced", delay);
			w->st.bounced++;
			nperm++;
			break;
		default:
			log_rcpt(w, it, i, "deferred", delay);
			w->st.deferred++;
			nleft++;
			if (m->result[i].code != 0)
				answered = 1;
		}
	}
	if ((nperm == 0 && nsucc == 0) ||
	    notify_sender(w, it, nperm, now) == 0)
		settle_entry(w, it, nleft, answered, now);
	item_free(it);
}

/* ---- connections ---- */

/*
 * host_tls - STARTTLS on c as the customer's tls-policy says (none
 * when in_clear, or for LMTP and unix sockets): c, under TLS or in
 * clear where the policy lets it; NULL with why filled when it cannot
 * be met (c is closed then).  *again is set when a "may" handshake
 * failed: the host may be tried once more in clear.
 */
static struct smtpc *
host_tls(struct worker *w, struct smtpc *c, int in_clear, int *again,
    struct smtpc_reply *why)
{
	const char *helo = w->t->helo ? w->t->helo : w->conf->hostname;
	int policy = in_clear || w->o->smtp.lmtp ||
	    strncmp(smtpc_host(c), "unix:", 5) == 0 ? TLSP_NONE :
	    w->cu->tls_policy;

	switch (tlsc_start(c, policy, w->cu->tls_ca, w->cu->tls_name, helo,
	    why)) {
	case TLSC_TLS:
		log_info("%s: flush: TLS to %s: %s", w->cu->name,
		    smtpc_relay(c), smtpc_tls_info(c));
		return c;
	case TLSC_CLEAR:
		if (why->text[0] != '\0')
			log_warnx("%s: flush: in clear to %s: %s", w->cu->name,
			    smtpc_relay(c), why->text);
		return c;
	case TLSC_AGAIN:
		*again = 1;
		log_info("%s: flush: %s; tls-policy is may: again in clear",
		    w->cu->name, why->text);
		return NULL;
	default:
		return NULL;
	}
}

/*
 * worker_connect - the first host that greets us, takes EHLO and
 * meets the customer's tls-policy.
 */
static struct smtpc *
worker_connect(struct worker *w, int first, struct smtpc_reply *why)
{
	const char *helo = w->t->helo ? w->t->helo : w->conf->hostname;
	struct smtpc_reply r;
	struct smtpc *c;
	int i, k, in_clear, again;

	for (k = 0; k < w->t->nhosts; k++) {
		i = (first + k) % w->t->nhosts;
		for (in_clear = 0, again = 1; again && in_clear < 2;
		    in_clear++) {
			again = 0;
			if (smtpc_connect(w->t->hosts[i], 25, &w->o->smtp, &c,
			    why) != RS_OK) {
				log_info("%s: flush: %s", w->cu->name,
				    why->text);
				break;
			}
			if (smtpc_greeting(c, &r) != RS_OK ||
			    smtpc_hello(c, helo, &r) != RS_OK) {
				snprintf(why->text, sizeof(why->text),
				    "%s said: %.600s", smtpc_relay(c), r.text);
				smtpc_quit(c);
				break;
			}
			if ((c = host_tls(w, c, in_clear, &again, why)) ==
			    NULL)
				continue;
			log_debug("%s: connected to %s:%s%s%s%s", w->cu->name,
			    smtpc_relay(c),
			    smtpc_ext(c) & SMTPC_EXT_PIPELINING ?
			    " PIPELINING" : "",
			    smtpc_ext(c) & SMTPC_EXT_CHUNKING ?
			    " CHUNKING" : "",
			    smtpc_ext(c) & SMTPC_EXT_8BITMIME ?
			    " 8BITMIME" : "",
			    smtpc_ext(c) & SMTPC_EXT_SIZE ? " SIZE" : "");
			return c;
		}
	}
	return NULL;
}

static void
worker_run(struct worker *w)
{
	struct smtpc_feed feed = { feed_next, feed_done, w };
	struct smtpc_reply why;
	int tries = 0, host = 0;

	while (left(w) > 0) {
		if ((w->c = worker_connect(w, host, &why)) == NULL) {
			log_warnx("%s: flush: no connection: %s%s",
			    w->cu->name, why.text, w->connected ? "" :
			    "; its entries are left to the other connections "
			    "or stay queued");
			break;
		}
		w->connected = 1;
		w->asked = 0;
		w->st.connections++;
		w->progress = 0;
		if (smtpc_send(w->c, &feed) == RS_OK) {
			smtpc_quit(w->c);
			w->c = NULL;
			break;
		}
		smtpc_close(w->c);
		w->c = NULL;
		if (w->progress == 0 || ++tries > RECONNECTS_MAX)
			break;
		host++;
	}
}

/* ---- the parent ---- */

static void
stats_add(struct flush_stats *a, const struct flush_stats *b)
{
	a->entries += b->entries;
	a->done += b->done;
	a->sent += b->sent;
	a->deferred += b->deferred;
	a->bounced += b->bounced;
	a->dsns += b->dsns;
	a->connections += b->connections;
}

/* The parent's view of its forked workers. */
struct crew {
	struct worker proto;
	int	max;			/* connections allowed */
	int	n;			/* started */
	int	alive;
	int	grow[2];		/* workers ask to widen here */
	pid_t	pid[WORKERS_MAX];
	int	fd[WORKERS_MAX];	/* each worker's end report */
	struct flush_stats total;
};

/* crew_start - fork one more worker; -1 if it could not be. */
static int
crew_start(struct crew *cr)
{
	struct worker_end end;
	struct worker w;
	int p[2], k = cr->n;

	if (k >= WORKERS_MAX || pipe2(p, O_CLOEXEC) == -1) {
		log_warn("%s: flush: pipe", cr->proto.cu->name);
		return -1;
	}
	fflush(NULL);
	if ((cr->pid[k] = fork()) == -1) {
		log_warn("%s: flush: fork", cr->proto.cu->name);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (cr->pid[k] == 0) {
		close(p[0]);
		close(cr->grow[0]);
		w = cr->proto;
		w.growfd = cr->n < cr->max ? cr->grow[1] : -1;
		worker_run(&w);
		memset(&end, 0, sizeof(end));
		end.st = w.st;
		end.connected = w.connected;
		if (write(p[1], &end, sizeof(end)) != sizeof(end))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	cr->fd[k] = p[0];
	cr->n++;
	cr->alive++;
	return 0;
}

/* crew_reap - worker k's report (or its early end). */
static void
crew_reap(struct crew *cr, int k)
{
	struct worker_end end;
	ssize_t got;

	do
		got = read(cr->fd[k], &end, sizeof(end));
	while (got == -1 && errno == EINTR);
	if (got == (ssize_t)sizeof(end)) {
		stats_add(&cr->total, &end.st);
		if (!end.connected && k > 0 && cr->max > cr->n - 1) {
			cr->max = cr->n - 1;
			log_info("%s: flush: no more connections: staying "
			    "at %d", cr->proto.cu->name, cr->alive - 1);
		}
	} else
		log_warnx("%s: flush: worker %d ended early",
		    cr->proto.cu->name, k);
	close(cr->fd[k]);
	cr->fd[k] = -1;
	while (waitpid(cr->pid[k], NULL, 0) == -1 && errno == EINTR)
		;
	cr->alive--;
}

/*
 * crew_widen - the asks waiting in the pipe: each may at most double
 * the connections, within max and while each would have two entries.
 */
static void
crew_widen(struct crew *cr)
{
	unsigned char buf[WORKERS_MAX];
	ssize_t got;
	int i, want, before = cr->alive;

	got = read(cr->grow[0], buf, sizeof(buf));
	for (i = 0; i < got; i++) {
		want = buf[i] < cr->alive ? buf[i] : cr->alive;
		while (want-- > 0 && cr->n < cr->max &&
		    left(&cr->proto) >= (size_t)(2 * (cr->alive + 1)))
			if (crew_start(cr) == -1) {
				cr->max = cr->n;
				break;
			}
	}
	if (cr->alive > before)
		log_info("%s: flush: widened to %d connections",
		    cr->proto.cu->name, cr->alive);
}

/*
 * run_forked - n workers in children, widened up to max on their
 * asking; their counts come back by pipe.
 */
static void
run_forked(struct worker *proto, int n, int max, struct flush_stats *total)
{
	struct pollfd pfd[WORKERS_MAX + 1];
	int map[WORKERS_MAX + 1], i, k, np;
	struct crew *cr;

	if ((cr = calloc(1, sizeof(*cr))) == NULL) {
		log_warn("%s: flush", proto->cu->name);
		return;
	}
	cr->proto = *proto;
	cr->max = max;
	if (pipe2(cr->grow, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("%s: flush: pipe", proto->cu->name);
		free(cr);
		return;
	}
	for (i = 0; i < n; i++)
		if (crew_start(cr) == -1)
			break;
	while (cr->alive > 0) {
		np = 0;
		if (cr->n < cr->max) {
			pfd[np].fd = cr->grow[0];
			pfd[np].events = POLLIN;
			map[np++] = -1;
		}
		for (k = 0; k < cr->n; k++)
			if (cr->fd[k] != -1) {
				pfd[np].fd = cr->fd[k];
				pfd[np].events = POLLIN;
				map[np++] = k;
			}
		if (poll(pfd, (nfds_t)np, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s: flush: poll", proto->cu->name);
			break;
		}
		for (i = 0; i < np; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (map[i] == -1)
				crew_widen(cr);
			else
				crew_reap(cr, map[i]);
		}
	}
	for (k = 0; k < cr->n; k++)	/* only after a failed poll */
		if (cr->fd[k] != -1)
			crew_reap(cr, k);
	close(cr->grow[0]);
	close(cr->grow[1]);
	*total = cr->total;
	free(cr);
}

int
flush_lock(const struct bridge_conf *conf, const struct customer *cu,
    int *busy)
{
	return spool_lock(conf->spool, cu->name, busy);
}

/*
 * flush_list - the customer's entries in id order (with a backoff, the
 * ones whose next-attempt has come); -1 if unreadable.
 */
static int
flush_list(const struct bridge_conf *conf, const struct customer *cu,
    const struct flush_opts *o, struct strv *ids)
{
	struct due d = { ids, time(NULL) };

	memset(ids, 0, sizeof(*ids));
	if (spool_list(conf->spool, cu->name, o->backoff > 0 ? due_add :
	    ids_add, o->backoff > 0 ? (void *)&d : (void *)ids) != 0) {
		log_warnx("%s: flush: cannot list the queue", cu->name);
		strv_free(ids->v, ids->n);
		return -1;
	}
	return 0;
}

/*
 * unsent - with a backoff, the due entries from index from on that no
 * connection took (the relay host down) had their attempt too: each
 * gets attempts + 1 and its own next-attempt.
 */
static void
unsent(const struct bridge_conf *conf, const struct customer *cu,
    const struct flush_opts *o, const struct strv *ids, size_t from)
{
	char path[PATH_MAX], err[256];
	struct qenv env;
	time_t now = time(NULL);

	for (; o->backoff > 0 && from < ids->n; from++) {
		if (q_path(path, sizeof(path), conf->spool, cu->name, "new",
		    ids->v[from]) == -1 ||
		    qenv_read(path, &env, NULL, NULL, 0) != RS_OK)
			continue;
		env.attempts++;
		env.last_attempt = now;
		schedule(o, &env, now);
		if (qenv_rewrite(conf->spool, &env, err, sizeof(err)) != RS_OK)
			log_warnx("%s: rewrite: %s", env.id, err);
		qenv_free(&env);
	}
}

static void
flush_log(const struct customer *cu, const struct strv *ids,
    const struct flush_stats *st)
{
	if (ids->n > 0)
		log_info("%s: flush: %zu entries, %ld done, %ld sent, "
		    "%ld deferred, %ld bounced", cu->name, ids->n, st->done,
		    st->sent, st->deferred, st->bounced);
}

enum result
flush_customer_conn(const struct bridge_conf *conf,
    const struct customer *cu, struct smtpc *c, int lockfd,
    const struct flush_opts *o, struct flush_stats *stp)
{
	struct smtpc_feed feed;
	struct flush_opts def;
	struct flush_target t;
	struct worker w;
	struct strv ids;
	size_t next = 0;
	int all;

	if (stp != NULL)
		memset(stp, 0, sizeof(*stp));
	if (o == NULL) {
		flush_opts_default(&def);
		o = &def;
	}
	if (!name_is_safe(cu->name) || flush_list(conf, cu, o, &ids) == -1) {
		close(lockfd);
		smtpc_close(c);
		return RS_TEMP;
	}
	memset(&t, 0, sizeof(t));
	t.one[0] = smtpc_relay(c);
	t.hosts = t.one;
	t.nhosts = 1;
	memset(&w, 0, sizeof(w));
	w.conf = conf;
	w.cu = cu;
	w.t = &t;
	w.o = o;
	w.ids = &ids;
	w.claim = &next;
	w.growfd = -1;
	w.c = c;
	w.connected = 1;
	w.st.connections = 1;
	feed.next = feed_next;
	feed.done = feed_done;
	feed.arg = &w;
	if (ids.n > 0 && smtpc_send(c, &feed) == RS_OK)
		smtpc_quit(c);
	else if (ids.n == 0)
		smtpc_quit(c);
	else
		smtpc_close(c);
	close(lockfd);
	flush_log(cu, &ids, &w.st);
	if (stp != NULL)
		*stp = w.st;
	all = w.st.done == (long)ids.n;
	strv_free(ids.v, ids.n);
	return all ? RS_OK : RS_TEMP;
}

enum result
flush_customer(const struct bridge_conf *conf, const struct customer *cu,
    const struct flush_target *t, const struct flush_opts *o,
    struct flush_stats *stp)
{
	struct flush_opts def;
	struct flush_stats st;
	struct worker w;
	struct strv ids;
	size_t next, *shared, claimed = 0;
	int lockfd, n, max, busy;

	memset(&st, 0, sizeof(st));
	memset(&ids, 0, sizeof(ids));
	if (stp != NULL)
		*stp = st;
	if (!name_is_safe(cu->name) || t->nhosts < 1)
		return RS_PERM;
	if (o == NULL) {
		flush_opts_default(&def);
		o = &def;
	}
	if ((lockfd = flush_lock(conf, cu, &busy)) == -1) {
		if (busy)
			log_info("%s: flush: another flush is running",
			    cu->name);
		if (stp != NULL)
			stp->busy = busy;
		return busy || errno != ENOENT ? RS_TEMP : RS_OK;
	}
	if (flush_list(conf, cu, o, &ids) == -1) {
		close(lockfd);
		return RS_TEMP;
	}
	n = o->connections > 0 ? o->connections : cu->flush_connections;
	max = o->connections_max > 0 ? o->connections_max :
	    o->connections > 0 ? o->connections : cu->flush_connections_max;
	if (n < 1)
		n = 2;
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	if (max > WORKERS_MAX)
		max = WORKERS_MAX;
	if (max < n)
		max = n;
	if ((size_t)n > ids.n)
		n = (int)ids.n;
	memset(&w, 0, sizeof(w));
	w.conf = conf;
	w.cu = cu;
	w.t = t;
	w.o = o;
	w.ids = &ids;
	w.growfd = -1;
	if (n == 1 && max == 1) {
		next = 0;
		w.claim = &next;
		worker_run(&w);
		st = w.st;
		claimed = next;
	} else if (n >= 1) {
		shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (shared == MAP_FAILED)
			log_warn("%s: flush: mmap", cu->name);
		else {
			*shared = 0;
			w.claim = shared;
			run_forked(&w, n, max, &st);
			claimed = *shared;
			munmap(shared, sizeof(*shared));
		}
	}
	unsent(conf, cu, o, &ids, claimed);
	close(lockfd);
	flush_log(cu, &ids, &st);
	if (stp != NULL)
		*stp = st;
	n = st.done == (long)ids.n;
	strv_free(ids.v, ids.n);
	return n ? RS_OK : RS_TEMP;
}
