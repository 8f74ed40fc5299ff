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
 * removed on a temporary failure.
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

#include "bundle.h"
#include "dsnenv.h"
#include "leafdsn.h"
#include "inject.h"
#include "journal.h"
#include "log.h"
#include "unbatch.h"

#define COPY_CHUNK	(128 * 1024)
#define STALE_SECS	3600	/* tmp copies and orphan journals */

struct unbatch {
	const struct leaf_conf *lc;
	struct injector *ij;
	int	also_stderr;
	char	incoming[PATH_MAX];
	char	kept[PATH_MAX];
	char	quarantine[PATH_MAX];
	char	journal[PATH_MAX];
	char	tmp[PATH_MAX];
};

/* What one bundle's run found, for the summary line. */
struct run {
	const char *name;
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
	    path_build(ub->tmp, PATH_MAX, "%s/tmp", s) == -1 ||
	    dir_make(ub->incoming, 0700) == -1 ||
	    dir_make(ub->kept, 0700) == -1 ||
	    dir_make(ub->quarantine, 0700) == -1 ||
	    dir_make(ub->journal, 0700) == -1 ||
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
	if (path_build(p, sizeof(p), "%s/%s", dir, ru->name) == 0)
		unlink(p);
	io_fsync_dir(dir);
	if (path_build(p, sizeof(p), "%s/%s.j", ub->journal, ru->name) == 0)
		unlink(p);
	log_info("%s: done: sent=%u, bounced=%u", ru->name, ru->sent,
	    ru->bounced);
	return UB_DONE;
}

enum ub_outcome
ub_process(struct unbatch *ub, const char *name, int lockfd, int *down)
{
	struct run ru;
	struct stat st;
	struct bundle_info info;
	char err[256], jp[PATH_MAX];
	const char *dir = ub->incoming;
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
	if (ub->ij == NULL)
		ub->ij = inject_new(&ub->lc->inject, ub->lc->hostname);
	if (path_build(jp, sizeof(jp), "%s/%s.j", ub->journal, name) == -1 ||
	    (ru.j = journal_open(jp, err, sizeof(err))) == NULL) {
		report(ub, "%s: %s", name, ru.j == NULL ? err : "journal path");
		ru.stop = 1;
	} else if (ub->ij == NULL)
		ru.stop = 1;
	else
		inject_all(ub, &ru);
	journal_close(ru.j);
	out = finish(ub, &ru, dir);
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
stale(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && time(NULL) - st.st_mtime > STALE_SECS;
}

/* sweep - tmp copies of dead runs, journals without a bundle. */
static void
sweep(struct unbatch *ub)
{
	DIR *d;
	struct dirent *e;
	char p[PATH_MAX], b[NAME_MAX + 1];
	size_t len;
	int fd;

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
	if ((d = opendir(ub->journal)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len < 3 || strcmp(e->d_name + len - 2, ".j") != 0 ||
		    len - 2 >= sizeof(b))
			continue;
		memcpy(b, e->d_name, len - 2);
		b[len - 2] = '\0';
		if (exists_in(ub->incoming, b) || exists_in(ub->kept, b) ||
		    path_build(p, sizeof(p), "%s/%s", ub->journal,
		    e->d_name) == -1 || !stale(p))
			continue;
		if (unlink(p) == 0)
			log_info("removed orphaned journal %s", p);
	}
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
