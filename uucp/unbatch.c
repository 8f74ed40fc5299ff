/*
 * unbatch.c - the leaf's bundle engine (unbatch.h, bridge-unbatch(8)).
 *
 * Invariants: a bundle is in the spool (fsync'ed) before anything of
 * it is injected; it is verified completely before the first message
 * is injected, with the DSN parameters of its envelope field (bundle(5))
 * where the MTA takes them; a copy is recorded in the journal only after
 * the local MTA accepted it (or its sender was sent a DSN, or no DSN is
 * owed or may be sent); a copy the MTA took without its parameters
 * that asked for NOTIFY=SUCCESS is recorded "taken" first and finished
 * once its "relayed" DSN is injected, retried (never the copy) until
 * then; the bundle leaves the spool only when every copy is recorded
 * (removed) or when it is damaged (moved to quarantine/).  Nothing is
 * removed on a temporary failure.  The journal is keyed by the
 * bundle's content (its SHA-256), not by its name or arrival: UUCP may
 * deliver a bundle twice (the hub crashed between uux and removing its
 * copy) and uuxqt runs jobs in any order, so a bundle seen again, in
 * whatever order, continues the one journal; a finished bundle leaves
 * finished/<id>, written before the bundle is removed and kept for
 * DONE_KEEP, and a copy of it arriving later is removed uninjected.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bundle.h"
#include "dsnenv.h"
#include "leafdsn.h"
#include "inject.h"
#include "journal.h"
#include "log.h"
#include "unbatch.h"

#define COPY_CHUNK	(128 * 1024)
#define STALE_SECS	3600	/* tmp copies and orphan journals */
#define DONE_KEEP	(60 * 86400)	/* how long a finished bundle is known */
#define ID_LEN		64	/* hex SHA-256 */

struct unbatch {
	const struct leaf_conf *lc;
	struct injector *ij;
	int	also_stderr;
	char	incoming[PATH_MAX];
	char	kept[PATH_MAX];
	char	quarantine[PATH_MAX];
	char	journal[PATH_MAX];
	char	finished[PATH_MAX];
	char	tmp[PATH_MAX];
};

/* What one bundle's run found, for the summary line. */
struct run {
	const char *name;
	char	id[ID_LEN + 1];	/* the content's SHA-256, the journal's key */
	int	fd;
	time_t	arrival;
	struct journal *j;
	unsigned sent, bounced, failed, deferred;
	int	down;
	int	stop;		/* journal or temp file trouble */
};

/* report - a problem the operator and UUCP should hear about. */
static void
report(struct unbatch *ub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
report(struct unbatch *ub, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warnx("%s", line);
	if (ub->also_stderr)
		fprintf(stderr, "%s: %s\n", log_progname(), line);
}

struct unbatch *
ub_new(const struct leaf_conf *lc, int also_stderr)
{
	struct unbatch *ub;
	const char *s = lc->spool;

	if ((ub = calloc(1, sizeof(*ub))) == NULL)
		return NULL;
	ub->lc = lc;
	ub->also_stderr = also_stderr;
	if (path_build(ub->incoming, PATH_MAX, "%s/incoming", s) == -1 ||
	    path_build(ub->kept, PATH_MAX, "%s/kept", s) == -1 ||
	    path_build(ub->quarantine, PATH_MAX, "%s/quarantine", s) == -1 ||
	    path_build(ub->journal, PATH_MAX, "%s/journal", s) == -1 ||
	    path_build(ub->finished, PATH_MAX, "%s/finished", s) == -1 ||
	    path_build(ub->tmp, PATH_MAX, "%s/tmp", s) == -1 ||
	    dir_make(ub->incoming, 0700) == -1 ||
	    dir_make(ub->kept, 0700) == -1 ||
	    dir_make(ub->quarantine, 0700) == -1 ||
	    dir_make(ub->journal, 0700) == -1 ||
	    dir_make(ub->finished, 0700) == -1 ||
	    dir_make(ub->tmp, 0700) == -1) {
		report(ub, "spool %s: %s", s, strerror(errno));
		free(ub);
		return NULL;
	}
	return ub;
}

void
ub_free(struct unbatch *ub)
{
	if (ub == NULL)
		return;
	inject_free(ub->ij);
	free(ub);
}

/* --- storing ------------------------------------------------------- */

static int
copy_fd(int in, int out, unsigned char magic[2])
{
	static unsigned char buf[COPY_CHUNK];
	uint64_t total = 0;
	ssize_t n;

	magic[0] = magic[1] = 0;
	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		if (total < 2) {
			magic[total] = buf[0];
			if (total == 0 && n > 1)
				magic[1] = buf[1];
		}
		total += (uint64_t)n;
		if (io_write_all(out, buf, (size_t)n) == -1)
			return -1;
	}
}

static int
exists_in(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	return path_build(p, sizeof(p), "%s/%s", dir, name) == 0 &&
	    stat(p, &st) == 0;
}

/* bundle_id - the hex SHA-256 of fd's octets into id; 0 or -1. */
static int
bundle_id(int fd, char id[ID_LEN + 1])
{
	static unsigned char buf[COPY_CHUNK];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	EVP_MD_CTX *c;
	off_t off = 0;
	ssize_t n;
	int rc = -1;

	if ((c = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		goto out;
	for (;;) {
		n = pread(fd, buf, sizeof(buf), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (EVP_DigestUpdate(c, buf, (size_t)n) != 1)
			goto out;
		off += n;
	}
	if (n == -1 || EVP_DigestFinal_ex(c, md, &mdlen) != 1 ||
	    mdlen * 2 != ID_LEN)
		goto out;
	for (i = 0; i < mdlen; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

/* finished - was the bundle with this id injected to the end before? */
static int
finished(const struct unbatch *ub, const char *id)
{
	char p[PATH_MAX];
	struct stat st;

	return path_build(p, sizeof(p), "%s/%s", ub->finished, id) == 0 &&
	    stat(p, &st) == 0;
}

/* mark_finished - finished/<id>, synced; 0 or -1. */
static int
mark_finished(const struct unbatch *ub, const char *id)
{
	char p[PATH_MAX];
	int fd;

	if (path_build(p, sizeof(p), "%s/%s", ub->finished, id) == -1 ||
	    (fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (fsync(fd) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	return io_fsync_dir(ub->finished);
}

/* store - in copied to incoming/ under keep_name or a new name. */
static enum result
store(struct unbatch *ub, int in, const char *keep_name, const char *what,
    char *name, size_t len, int *lockfd)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	unsigned char magic[2];
	struct timespec ts;
	int fd;

	*lockfd = -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (path_build(tmp, sizeof(tmp), "%s/tmp-%x-%llx", ub->incoming,
	    (unsigned)getpid(), (unsigned long long)ts.tv_sec * 1000000000ULL +
	    (unsigned long long)ts.tv_nsec) == -1 ||
	    (fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1) {
		report(ub, "cannot store %s: %s: %s", what, tmp,
		    strerror(errno));
		return RS_TEMP;
	}
	if (flock(fd, LOCK_EX) == -1 || copy_fd(in, fd, magic) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	if (keep_name != NULL && (exists_in(ub->incoming, keep_name) ||
	    exists_in(ub->kept, keep_name))) {
		/* the same bundle again: resume the copy we have */
		unlink(tmp);
		close(fd);
		strlcpy_(name, keep_name, len);
		return RS_OK;
	}
	if (keep_name != NULL)
		strlcpy_(name, keep_name, len);
	else if (bundle_name_new(name, len, "in", magic[0] == 0x1f &&
	    magic[1] == 0x8b ? ".bsmtp.gz" : ".bsmtp") == -1)
		goto fail;
	if (path_build(dst, sizeof(dst), "%s/%s", ub->incoming, name) == -1 ||
	    rename(tmp, dst) == -1 || io_fsync_dir(ub->incoming) == -1)
		goto fail;
	*lockfd = fd;
	return RS_OK;
fail:
	report(ub, "cannot store %s in %s: %s", what, ub->incoming,
	    strerror(errno));
	unlink(tmp);
	close(fd);
	return RS_TEMP;
}

enum result
ub_store_fd(struct unbatch *ub, int fd, char *name, size_t len, int *lockfd)
{
	return store(ub, fd, NULL, "standard input", name, len, lockfd);
}

enum result
ub_store_file(struct unbatch *ub, const char *path, char *name, size_t len,
    int *lockfd)
{
	const char *base = strrchr(path, '/');
	enum result rs;
	int fd;

	base = base ? base + 1 : path;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		report(ub, "%s: %s", path, strerror(errno));
		return RS_PERM;
	}
	rs = store(ub, fd, bundle_name_is_valid(base) ? base : NULL, path,
	    name, len, lockfd);
	close(fd);
	return rs;
}

/* --- moving a bundle ----------------------------------------------- */

static int
move(const char *from_dir, const char *to_dir, const char *name,
    const char *sfx)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (path_build(a, sizeof(a), "%s/%s%s", from_dir, name, sfx) == -1 ||
	    path_build(b, sizeof(b), "%s/%s%s", to_dir, name, sfx) == -1)
		return -1;
	if (rename(a, b) == -1)
		return -1;
	io_fsync_dir(to_dir);
	io_fsync_dir(from_dir);
	return 0;
}

static void
quarantine(struct unbatch *ub, const char *dir, const char *name,
    const char *why)
{
	char p[PATH_MAX];
	int fd;

	if (move(dir, ub->quarantine, name, "") == -1) {
		report(ub, "%s: cannot quarantine: %s", name, strerror(errno));
		return;
	}
	move(ub->journal, ub->quarantine, name, ".j");
	if (path_build(p, sizeof(p), "%s/%s.why", ub->quarantine, name) == 0 &&
	    (fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) !=
	    -1) {
		dprintf(fd, "%s\n", why);
		fsync(fd);
		close(fd);
	}
	report(ub, "%s: damaged bundle quarantined in %s: %s", name,
	    ub->quarantine, why);
}

/* --- injecting ----------------------------------------------------- */

static const char *
status_word(enum result rs)
{
	return rs == RS_OK ? "sent" : rs == RS_TEMP ? "deferred" : "bounced";
}

static void
record(struct run *ru, unsigned msg, unsigned k, const char *what)
{
	if (ru->stop)
		return;
	if (journal_record(ru->j, msg, k, what) == -1) {
		log_warn("%s: journal", ru->name);
		ru->stop = 1;
	}
}

/*
 * notify - the DSN of kind action about m's copies r[0..n-1] (failed:
 * the refused ones; relayed, delivered: those the MTA took without
 * their DSN parameters), to m's sender through the local MTA.
 * 1 sent, 2 none is owed or may be sent, 0 not now (a failed DSN's
 * copies stay open and are tried again).
 */
static int
notify(struct unbatch *ub, struct run *ru, const struct bundle_msg *m,
    const struct dsnenv *e, struct inject_rcpt *ir, int n,
    enum dsn_action action)
{
	struct inject_rcpt dr;
	struct bundle_msg dsn;
	const char *why;
	int down = 0, k;

	if (!leafdsn_wanted(m, &why)) {
		log_info("%s: message %u: no %s DSN: %s", ru->name, m->index,
		    dsn_action_name(action), why);
		return 2;
	}
	if ((k = leafdsn_build(&dsn, ub->lc->hostname, m, e, ir, n,
	    ru->arrival, action)) == -1) {
		log_warnx("%s: message %u: DSN: out of memory", ru->name,
		    m->index);
		return 0;
	}
	if (k == 0) {
		if (action == DSN_FAILED)
			log_info("%s: message %u: no failed DSN: NOTIFY does "
			    "not ask for one", ru->name, m->index);
		return 2;
	}
	memset(&dr, 0, sizeof(dr));
	dr.addr = m->sender;
	inject_message(ub->ij, "", &dr, 1, &dsn, &down);
	bundle_msg_free(&dsn);
	log_info("%s: message %u: %s DSN to <%s>: status=%s (%s)", ru->name,
	    m->index, dsn_action_name(action), m->sender, status_word(dr.rs),
	    dr.diag);
	if (down)
		ru->down = 1;
	if (dr.rs == RS_PERM)
		return 2;
	return dr.rs == RS_OK;
}

/*
 * copy_env - the envelope of m's copies from its X-Mailbridge-Envelope:
 * field; NULL when it has none that parses.  A transaction with several
 * recipients (not the hub's writing) keeps only the message's part.
 */
static const struct dsnenv *
copy_env(struct run *ru, const struct bundle_msg *m, struct dsnenv *e)
{
	if (m->env == NULL)
		return NULL;
	if (dsnenv_parse(m->env, m->envlen, e) == -1) {
		log_warnx("%s: message %u: its %s field does not parse; "
		    "injected without its DSN parameters", ru->name, m->index,
		    DSNENV_HEADER);
		return NULL;
	}
	if (m->nrcpts != 1) {
		e->notify = 0;
		e->orcpt[0] = '\0';
	}
	return e;
}

/*
 * inject_copies - the pending copies of m (idx[] into m->rcpts): the
 * ones the MTA has not taken yet are injected; a copy it takes without
 * its DSN parameters that asked for NOTIFY=SUCCESS is journaled
 * "taken" until its relayed DSN is sent, so a DSN the MTA cannot take
 * now (down, or 4xx) is sent on a later run, and the copy is not
 * injected again.
 */
static void
inject_copies(struct unbatch *ub, struct run *ru, const struct bundle_msg *m,
    const unsigned *idx, int n)
{
	struct inject_rcpt *ir;
	struct dsnenv de;
	const struct dsnenv *e;
	unsigned *at;
	int i, k = 0, nperm = 0, nsucc = 0, down = 0, settled;

	ir = calloc((size_t)n, sizeof(*ir));
	at = calloc((size_t)n, sizeof(*at));
	if (ir == NULL || at == NULL) {
		free(ir);
		free(at);
		ru->stop = 1;
		return;
	}
	e = copy_env(ru, m, &de);
	for (i = 0; i < n; i++)		/* not taken first, then taken */
		if (!journal_taken(ru->j, m->index, idx[i]))
			at[k++] = idx[i];
	for (i = 0; i < n; i++)
		if (journal_taken(ru->j, m->index, idx[i]))
			at[k++] = idx[i];
	for (i = 0, k = 0; i < n; i++) {
		ir[i].addr = m->rcpts[at[i]];
		ir[i].env = e;
		if (!journal_taken(ru->j, m->index, at[i]))
			k++;
		else {
			ir[i].rs = RS_OK;	/* earlier; its DSN is owed */
			nsucc += leafdsn_rcpt_wants(&ir[i], DSN_RELAYED);
			log_info("%s: message %u: to=<%s>: taken by an earlier "
			    "run, its DSN still owed", ru->name, m->index,
			    ir[i].addr);
		}
	}
	if (k > 0)
		inject_message(ub->ij, m->sender, ir, k, m, &down);
	for (i = 0; i < k; i++) {
		log_info("%s: message %u: from=<%s>, to=<%s>, status=%s (%s)",
		    ru->name, m->index, m->sender, ir[i].addr,
		    status_word(ir[i].rs), ir[i].diag);
		if (ir[i].rs == RS_OK) {
			ru->sent++;
			if (leafdsn_rcpt_wants(&ir[i], DSN_RELAYED)) {
				record(ru, m->index, at[i], "taken");
				nsucc++;
			} else
				record(ru, m->index, at[i], "ok");
		} else if (ir[i].rs == RS_PERM)
			nperm++;
		else
			ru->deferred++;
	}
	if (nsucc > 0) {
		settled = down ? 0 : notify(ub, ru, m, e, ir, n,
		    ub->lc->inject.method == INJECT_LMTP ? DSN_DELIVERED :
		    DSN_RELAYED);
		for (i = 0; i < n; i++) {
			if (!leafdsn_rcpt_wants(&ir[i], DSN_RELAYED))
				continue;
			if (settled)
				record(ru, m->index, at[i], "ok");
			else
				ru->deferred++;	/* the DSN next time */
		}
	}
	if (nperm > 0) {
		settled = notify(ub, ru, m, e, ir, n, DSN_FAILED);
		for (i = 0; i < n; i++) {
			if (ir[i].rs != RS_PERM)
				continue;
			if (settled) {
				record(ru, m->index, at[i], settled == 1 ?
				    "bounced" : "failed");
				ru->bounced++;
			} else
				ru->deferred++;
		}
	}
	if (down)
		ru->down = 1;
	free(ir);
	free(at);
}

/* inject_all - every copy the journal does not list; 0 or -1 (stop). */
static int
inject_all(struct unbatch *ub, struct run *ru)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	unsigned idx[BUNDLE_RCPTS_MAX], k;
	char err[256];
	int n, rc;

	if (lseek(ru->fd, 0, SEEK_SET) == -1 ||
	    (r = bundle_reader_open(ru->fd, ub->tmp)) == NULL)
		return -1;
	while (!ru->down && !ru->stop &&
	    (rc = bundle_read_next(r, &m, err, sizeof(err))) == 1) {
		for (n = 0, k = 0; k < m.nrcpts; k++)
			if (!journal_done(ru->j, m.index, k))
				idx[n++] = k;
		if (n > 0 && bundle_read_body(r, &m, 1, err, sizeof(err)) == 0)
			inject_copies(ub, ru, &m, idx, n);
		else if (n > 0) {
			report(ub, "%s: message %u: %s", ru->name, m.index, err);
			ru->stop = 1;
		}
		bundle_msg_free(&m);
	}
	if (rc == -1 && !ru->stop) {
		report(ub, "%s: %s", ru->name, err);
		ru->stop = 1;
	}
	bundle_reader_close(r);
	return ru->stop ? -1 : 0;
}

/* open_locked - name in incoming/ or kept/, flock'ed; dir gets which. */
static int
open_locked(struct unbatch *ub, const char *name, const char **dir,
    enum ub_outcome *why)
{
	char p[PATH_MAX];
	struct stat st;
	int fd, i;
	const char *dirs[2] = { ub->incoming, ub->kept };

	for (i = 0; i < 2; i++) {
		if (path_build(p, sizeof(p), "%s/%s", dirs[i], name) == -1)
			continue;
		if ((fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			close(fd);
			*why = UB_BUSY;
			return -1;
		}
		if (fstat(fd, &st) == -1 || st.st_nlink == 0) {
			close(fd);
			continue;
		}
		*dir = dirs[i];
		return fd;
	}
	*why = UB_GONE;
	return -1;
}

static enum ub_outcome
finish(struct unbatch *ub, struct run *ru, const char *dir)
{
	char p[PATH_MAX];

	if (ru->deferred > 0 || ru->stop || ru->down) {
		if (dir != ub->kept && move(dir, ub->kept, ru->name, "") == -1)
			report(ub, "%s: cannot move to %s: %s", ru->name,
			    ub->kept, strerror(errno));
		log_info("%s: kept: sent=%u, bounced=%u, deferred=%u%s",
		    ru->name, ru->sent, ru->bounced, ru->deferred,
		    ru->down ? ", local MTA unavailable" : "");
		return UB_KEPT;
	}
	if (mark_finished(ub, ru->id) == -1) {
		report(ub, "%s: cannot record it as finished in %s: %s",
		    ru->name, ub->finished, strerror(errno));
		ru->stop = 1;
		return finish(ub, ru, dir);
	}
	if (path_build(p, sizeof(p), "%s/%s", dir, ru->name) == 0)
		unlink(p);
	io_fsync_dir(dir);
	if (path_build(p, sizeof(p), "%s/%s.j", ub->journal, ru->id) == 0)
		unlink(p);
	log_info("%s: done: sent=%u, bounced=%u", ru->name, ru->sent,
	    ru->bounced);
	return UB_DONE;
}

/*
 * drop_again - a bundle whose content was injected to the end before
 * (finished/<id>): removed, nothing of it injected.
 */
static enum ub_outcome
drop_again(struct run *ru, const char *dir)
{
	char p[PATH_MAX];

	if (path_build(p, sizeof(p), "%s/%s", dir, ru->name) == 0)
		unlink(p);
	io_fsync_dir(dir);
	log_info("%s: the same bundle (sha256 %.16s) was injected before: "
	    "removed, nothing injected again", ru->name, ru->id);
	return UB_DONE;
}

/*
 * open_journal - the journal of ru's content, locked; an old one named
 * after the bundle (journal/NAME.j, before content keys) is taken
 * over.  0, or -1 with ru->stop set.
 */
static int
open_journal(struct unbatch *ub, struct run *ru)
{
	char jp[PATH_MAX], old[PATH_MAX], err[256];
	struct stat st;

	if (path_build(jp, sizeof(jp), "%s/%s.j", ub->journal, ru->id) ==
	    -1 || path_build(old, sizeof(old), "%s/%s.j", ub->journal,
	    ru->name) == -1) {
		report(ub, "%s: journal path", ru->name);
		ru->stop = 1;
		return -1;
	}
	if (stat(jp, &st) == -1 && rename(old, jp) == 0)
		io_fsync_dir(ub->journal);
	if ((ru->j = journal_open(jp, err, sizeof(err))) == NULL) {
		report(ub, "%s: %s", ru->name, err);
		ru->stop = 1;
		return -1;
	}
	return 0;
}

enum ub_outcome
ub_process(struct unbatch *ub, const char *name, int lockfd, int *down)
{
	struct run ru;
	struct stat st;
	struct bundle_info info;
	char err[256], jp[PATH_MAX];
	const char *dir = ub->incoming;
	int again;
	enum ub_outcome out = UB_GONE;

	*down = 0;
	if (!bundle_name_is_valid(name))
		return UB_GONE;
	if (lockfd == -1 && (lockfd = open_locked(ub, name, &dir, &out)) == -1)
		return out;
	memset(&ru, 0, sizeof(ru));
	ru.name = name;
	ru.fd = lockfd;
	ru.arrival = fstat(lockfd, &st) == 0 ? st.st_mtime : time(NULL);
	if (bundle_verify_fd(lockfd, &info, err, sizeof(err)) == -1) {
		if (errno == 0) {
			quarantine(ub, dir, name, err);
			close(lockfd);
			return UB_CORRUPT;
		}
		report(ub, "%s: %s", name, err);
		ru.stop = 1;
		out = finish(ub, &ru, dir);
		close(lockfd);
		return out;
	}
	log_info("%s: verified: %u messages, %u copies, %llu octets%s", name,
	    info.messages, info.copies, (unsigned long long)info.raw,
	    info.gzip ? " gzip" : "");
	if (bundle_id(lockfd, ru.id) == -1) {
		report(ub, "%s: cannot read it: %s", name, strerror(errno));
		ru.stop = 1;
		out = finish(ub, &ru, dir);
		close(lockfd);
		return out;
	}
	if (finished(ub, ru.id)) {
		out = drop_again(&ru, dir);
		close(lockfd);
		return out;
	}
	if (ub->ij == NULL)
		ub->ij = inject_new(&ub->lc->inject, ub->lc->hostname);
	/* another run of the same content may finish while we wait */
	again = 0;
	if (open_journal(ub, &ru) == 0 && (again = finished(ub, ru.id)) &&
	    path_build(jp, sizeof(jp), "%s/%s.j", ub->journal, ru.id) == 0)
		unlink(jp);
	else if (ru.j != NULL && ub->ij == NULL)
		ru.stop = 1;
	else if (ru.j != NULL)
		inject_all(ub, &ru);
	out = again ? drop_again(&ru, dir) : finish(ub, &ru, dir);
	journal_close(ru.j);
	*down = ru.down;
	close(lockfd);
	return out;
}

/* --- retrying ------------------------------------------------------ */

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list - valid bundle names in dir appended to *v. */
static void
list(const char *dir, char ***v, size_t *n)
{
	DIR *d;
	struct dirent *e;
	char **nv;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!bundle_name_is_valid(e->d_name))
			continue;
		if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
			break;
		*v = nv;
		if (((*v)[*n] = strdup(e->d_name)) != NULL)
			(*n)++;
	}
	closedir(d);
}

static int
older(const char *path, time_t secs)
{
	struct stat st;

	return stat(path, &st) == 0 && time(NULL) - st.st_mtime > secs;
}

static int
stale(const char *path)
{
	return older(path, STALE_SECS);
}

/* ids - the content ids of the bundles in incoming/ and kept/. */
static void
ids(struct unbatch *ub, char ***v, size_t *n)
{
	char **names = NULL, p[PATH_MAX], id[ID_LEN + 1], **nv;
	size_t nn = 0, i;
	int fd, k;
	const char *dirs[2] = { ub->incoming, ub->kept };

	list(ub->incoming, &names, &nn);
	list(ub->kept, &names, &nn);
	for (i = 0; i < nn; i++) {
		for (k = 0; k < 2; k++) {
			if (path_build(p, sizeof(p), "%s/%s", dirs[k],
			    names[i]) == -1 ||
			    (fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
				continue;
			if (bundle_id(fd, id) == 0 &&
			    (nv = realloc(*v, (*n + 1) * sizeof(*nv))) != NULL) {
				*v = nv;
				if (((*v)[*n] = strdup(id)) != NULL)
					(*n)++;
			}
			close(fd);
		}
		free(names[i]);
	}
	free(names);
}

/*
 * orphan - journal/<b>.j with no bundle: b is neither a bundle's name
 * (journals from before content keys) nor the id of one in incoming/ or
 * kept/ (worked out once, in *v), and no run holds it.
 */
static int
orphan(struct unbatch *ub, const char *path, const char *b, char ***v,
    size_t *n, int *known)
{
	size_t i;
	int fd, free_;

	if (exists_in(ub->incoming, b) || exists_in(ub->kept, b))
		return 0;
	if (!*known) {
		ids(ub, v, n);
		*known = 1;
	}
	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], b) == 0)
			return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_;
}

/*
 * sweep - tmp copies of dead runs, journals without a bundle, records
 * of finished bundles older than DONE_KEEP.
 */
static void
sweep(struct unbatch *ub)
{
	DIR *d;
	struct dirent *e;
	char p[PATH_MAX], b[NAME_MAX + 1], **v = NULL;
	size_t len, nv = 0, i;
	int fd, known = 0;

	if ((d = opendir(ub->incoming)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, "tmp-", 4) != 0 ||
			    path_build(p, sizeof(p), "%s/%s", ub->incoming,
			    e->d_name) == -1 || !stale(p) ||
			    (fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
				continue;
			if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(p) == 0)
				log_info("removed stale %s", p);
			close(fd);
		}
		closedir(d);
	}
	if ((d = opendir(ub->journal)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			len = strlen(e->d_name);
			if (len < 3 || strcmp(e->d_name + len - 2, ".j") != 0 ||
			    len - 2 >= sizeof(b) || path_build(p, sizeof(p),
			    "%s/%s", ub->journal, e->d_name) == -1 ||
			    !stale(p))
				continue;
			memcpy(b, e->d_name, len - 2);
			b[len - 2] = '\0';
			if (orphan(ub, p, b, &v, &nv, &known) &&
			    unlink(p) == 0)
				log_info("removed orphaned journal %s", p);
		}
		closedir(d);
	}
	for (i = 0; i < nv; i++)
		free(v[i]);
	free(v);
	if ((d = opendir(ub->finished)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && path_build(p, sizeof(p), "%s/%s",
		    ub->finished, e->d_name) == 0 && older(p, DONE_KEEP) &&
		    unlink(p) == 0)
			log_info("removed %s, finished over %d days ago", p,
			    DONE_KEEP / 86400);
	closedir(d);
}

void
ub_retry(struct unbatch *ub, unsigned n[5])
{
	char **v = NULL;
	size_t nv = 0, i;
	enum ub_outcome out;
	int down = 0;

	sweep(ub);
	list(ub->kept, &v, &nv);
	list(ub->incoming, &v, &nv);
	if (nv > 0)
		qsort(v, nv, sizeof(*v), namecmp);
	for (i = 0; i < nv; i++) {
		if ((i > 0 && strcmp(v[i], v[i - 1]) == 0) || down)
			continue;
		out = ub_process(ub, v[i], -1, &down);
		n[out]++;
	}
	for (i = 0; i < nv; i++)
		free(v[i]);
	free(v);
}
