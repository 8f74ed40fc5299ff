/*
 * bundler.c - pack a customer's committed queue entries into bundles
 * and reconcile manifests after a crash.  The directory layout and the
 * order of steps that makes this crash-safe are in bundler.h; the one
 * rule everything rests on: ready/NAME is never removed while NAME.mf
 * exists, and NAME.mf is removed only after the entries it lists are
 * gone from the queue (unlinked and new/ fsync'd).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "bundler.h"
#include "dsnenv.h"
#include "log.h"
#include "qint.h"
#include "queue.h"

#define MF_MAGIC	"MBM 1"
#define MF_SUFFIX	".mf"
#define MF_MAX		(64 * 1024 * 1024)	/* longest manifest read */
#define BUNDLE_LEVEL	6
/* MAIL, RCPT, DATA, X-Envelope-To and "." around each copy, less <>s. */
#define COPY_OVERHEAD	64
/* X-Mailbridge-Envelope: with QID, ARRIVAL and a few DSN parameters. */
#define ENV_OVERHEAD	96

/* The directories of one customer's bundling. */
struct bdirs {
	char	base[PATH_MAX];		/* bundle-tmp/<c>: manifests */
	char	tmp[PATH_MAX];		/* bundles being written */
	char	ready[PATH_MAX];	/* finished, not yet published */
	char	outbox[PATH_MAX];	/* published */
	char	qnew[PATH_MAX];		/* the queue's new/ */
};

/* One committed entry as listed, oldest first. */
struct bentry {
	char	id[QID_LEN];
	time_t	mtime;
	uint64_t fsize;
	int	skip;			/* unreadable: leave it queued */
};

struct blist {
	struct bentry *v;
	size_t	n, cap;
};

/* The queue ids of one bundle, for its manifest. */
struct idlist {
	char  (*id)[QID_LEN];
	size_t	n, cap;
};

static void (*bundler_hook)(const char *);

static void
step(const char *what)
{
	if (bundler_hook != NULL)
		bundler_hook(what);
}

void
bundler_set_hook(void (*fn)(const char *step))
{
	bundler_hook = fn;
}

static void
seterr(char *err, size_t errlen, const char *fmt, const char *a,
    const char *b)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, fmt, a, b);
}

int
bundler_outbox(char *buf, size_t len, const char *spool,
    const char *customer)
{
	if (!name_is_safe(customer)) {
		errno = EINVAL;
		return -1;
	}
	return path_build(buf, len, "%s/outbox/%s", spool, customer);
}

/* dirs_init - the paths of customer's directories; -1 if unsafe. */
static int
dirs_init(struct bdirs *d, const char *spool, const char *customer)
{
	if (!name_is_safe(customer)) {
		errno = EINVAL;
		return -1;
	}
	if (path_build(d->base, sizeof(d->base), "%s/bundle-tmp/%s", spool,
	    customer) == -1 ||
	    path_build(d->tmp, sizeof(d->tmp), "%s/tmp", d->base) == -1 ||
	    path_build(d->ready, sizeof(d->ready), "%s/ready", d->base) == -1 ||
	    bundler_outbox(d->outbox, sizeof(d->outbox), spool, customer) ==
	    -1 ||
	    q_path(d->qnew, sizeof(d->qnew), spool, customer, "new", NULL) ==
	    -1)
		return -1;
	return 0;
}

static int
dirs_make(const struct bdirs *d)
{
	if (dir_make(d->tmp, 0700) == -1 || dir_make(d->ready, 0700) == -1 ||
	    dir_make(d->outbox, 0750) == -1)
		return -1;
	return 0;
}

/*
 * lock_take - the customer's queue lock, the one flush_customer takes
 * too (an flock on <spool>/q/<customer>): one of them at a time works
 * on a queue.  -1 (EWOULDBLOCK) if it is held.
 */
static int
lock_take(const char *spool, const char *customer)
{
	int busy;

	if (spool_prepare(spool, customer) != RS_OK)
		return -1;
	return spool_lock(spool, customer, &busy);
}

/* begin - the customer's directories made and its queue locked; -1. */
static int
begin(struct bdirs *d, const char *spool, const char *customer, char *err,
    size_t errlen)
{
	int lock;

	if (dirs_init(d, spool, customer) == -1 || dirs_make(d) == -1) {
		seterr(err, errlen, "%s: %s", customer, strerror(errno));
		return -1;
	}
	if ((lock = lock_take(spool, customer)) == -1)
		seterr(err, errlen, "%s: bundler busy: %s", customer,
		    strerror(errno));
	return lock;
}

/* --- manifests ----------------------------------------------------- */

static int
ids_add(struct idlist *l, const char *id)
{
	void *p;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 64;
		if ((p = reallocarray(l->id, cap, sizeof(*l->id))) == NULL)
			return -1;
		l->id = p;
		l->cap = cap;
	}
	strlcpy_(l->id[l->n++], id, QID_LEN);
	return 0;
}

static void
ids_free(struct idlist *l)
{
	free(l->id);
	memset(l, 0, sizeof(*l));
}

/* mf_path - "<base>/<name>.mf" (suffix ".mf.tmp" when tmp). */
static int
mf_path(char *buf, size_t len, const struct bdirs *d, const char *name,
    int tmp)
{
	return path_build(buf, len, "%s/%s%s%s", d->base, name, MF_SUFFIX,
	    tmp ? ".tmp" : "");
}

/* mf_write - the manifest of bundle name, durably (tmp, fsync, rename). */
static enum result
mf_write(const struct bdirs *d, const char *name, const struct idlist *ids,
    char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *fp;
	size_t i;
	int fd, bad;

	if (mf_path(path, sizeof(path), d, name, 0) == -1 ||
	    mf_path(tmp, sizeof(tmp), d, name, 1) == -1) {
		seterr(err, errlen, "manifest for %s: %s", name,
		    strerror(errno));
		return RS_TEMP;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		return RS_TEMP;
	}
	fprintf(fp, "%s\nbundle %s\n", MF_MAGIC, name);
	for (i = 0; i < ids->n; i++)
		fprintf(fp, "id %s\n", ids->id[i]);
	fprintf(fp, "end %zu\n", ids->n);
	bad = fflush(fp) == EOF || fsync(fd) == -1;
	if (fclose(fp) == EOF)
		bad = 1;
	if (bad) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		return RS_TEMP;
	}
	step("manifest-tmp");
	if (rename(tmp, path) == -1 || io_fsync_dir(d->base) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return RS_TEMP;
	}
	step("manifest");
	return RS_OK;
}

/* mf_parse - the ids of a manifest's text; -1 when it is malformed. */
static int
mf_parse(char *text, const char *name, struct idlist *ids)
{
	char *line, *next;
	size_t want = 0;
	int lineno = 0, ended = 0;
	char *end;

	for (line = text; *line != '\0' && !ended; line = next) {
		if ((next = strchr(line, '\n')) == NULL)
			return -1;
		*next++ = '\0';
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, MF_MAGIC) != 0)
				return -1;
		} else if (lineno == 2) {
			if (strncmp(line, "bundle ", 7) != 0 ||
			    strcmp(line + 7, name) != 0)
				return -1;
		} else if (strncmp(line, "id ", 3) == 0) {
			if (!qid_is_valid(line + 3) || ids_add(ids, line + 3))
				return -1;
		} else if (strncmp(line, "end ", 4) == 0) {
			errno = 0;
			want = strtoull(line + 4, &end, 10);
			if (errno != 0 || *end != '\0' || end == line + 4)
				return -1;
			ended = 1;
		} else
			return -1;
	}
	return ended && want == ids->n ? 0 : -1;
}

/* mf_read - read and parse the manifest of bundle name. */
static enum result
mf_read(const struct bdirs *d, const char *name, struct idlist *ids,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	char *text;
	ssize_t r;
	size_t got = 0;
	int fd;

	if (mf_path(path, sizeof(path), d, name, 0) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		seterr(err, errlen, "manifest %s: %s", name, strerror(errno));
		return RS_TEMP;
	}
	if (fstat(fd, &st) == -1 || st.st_size > MF_MAX ||
	    (text = malloc((size_t)st.st_size + 1)) == NULL) {
		seterr(err, errlen, "manifest %s: %s", name, "cannot read");
		close(fd);
		return RS_TEMP;
	}
	while (got < (size_t)st.st_size && (r = read(fd, text + got,
	    (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	text[got] = '\0';
	if (got != (size_t)st.st_size || mf_parse(text, name, ids) == -1) {
		free(text);
		ids_free(ids);
		seterr(err, errlen, "manifest %s: %s", name, "malformed");
		return RS_PERM;
	}
	free(text);
	return RS_OK;
}

/* mf_remove - unlink the manifest of name and fsync its directory. */
static enum result
mf_remove(const struct bdirs *d, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (mf_path(path, sizeof(path), d, name, 0) == -1 ||
	    (unlink(path) == -1 && errno != ENOENT) ||
	    io_fsync_dir(d->base) == -1) {
		seterr(err, errlen, "remove manifest %s: %s", name,
		    strerror(errno));
		return RS_TEMP;
	}
	return RS_OK;
}

/*
 * entries_remove - unlink the listed entries still in new/, fsync new/
 * once.  An entry already gone is fine (a crash after its unlink).
 */
static enum result
entries_remove(const struct bdirs *d, const struct idlist *ids, char *err,
    size_t errlen)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ids->n; i++) {
		if (path_build(path, sizeof(path), "%s/%s", d->qnew,
		    ids->id[i]) == -1 ||
		    (unlink(path) == -1 && errno != ENOENT)) {
			seterr(err, errlen, "remove %s: %s", ids->id[i],
			    strerror(errno));
			return RS_TEMP;
		}
		step("remove");
	}
	if (io_fsync_dir(d->qnew) == -1) {
		seterr(err, errlen, "fsync %s: %s", d->qnew, strerror(errno));
		return RS_TEMP;
	}
	return RS_OK;
}

/* --- recovery ------------------------------------------------------ */

/* file_exists - 1 if dir/name exists, 0 if not, -1 on another error. */
static int
file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (path_build(path, sizeof(path), "%s/%s", dir, name) == -1)
		return -1;
	if (lstat(path, &st) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

static int
unlink_in(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (path_build(path, sizeof(path), "%s/%s", dir, name) == -1)
		return -1;
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/*
 * settle - one manifest: not published (ready/NAME still there) -> drop
 * the manifest, then the finished bundle; published -> make the
 * publish durable, remove the entries, then the manifest.
 */
static enum result
settle(const struct bdirs *d, const char *customer, const char *name,
    char *err, size_t errlen)
{
	struct idlist ids = { 0 };
	enum result rs;
	int in_ready;

	if ((in_ready = file_exists(d->ready, name)) == -1) {
		seterr(err, errlen, "%s: %s", name, strerror(errno));
		return RS_TEMP;
	}
	if (in_ready) {
		if ((rs = mf_remove(d, name, err, errlen)) != RS_OK)
			return rs;
		step("recover-unpublished");
		if (unlink_in(d->ready, name) == -1 ||
		    io_fsync_dir(d->ready) == -1) {
			seterr(err, errlen, "%s: %s", name, strerror(errno));
			return RS_TEMP;
		}
		log_info("%s: bundle %s: not published, its messages stay "
		    "queued", customer, name);
		return RS_OK;
	}
	if ((rs = mf_read(d, name, &ids, err, errlen)) != RS_OK)
		return RS_TEMP;
	if (io_fsync_dir(d->outbox) == -1) {
		seterr(err, errlen, "fsync %s: %s", d->outbox, strerror(errno));
		ids_free(&ids);
		return RS_TEMP;
	}
	rs = entries_remove(d, &ids, err, errlen);
	if (rs == RS_OK) {
		step("recover-removed");
		rs = mf_remove(d, name, err, errlen);
	}
	if (rs == RS_OK)
		log_info("%s: bundle %s: published, %zu queue entries settled",
		    customer, name, ids.n);
	ids_free(&ids);
	return rs;
}

/* dir_clean - unlink every file in dir (bundles half written). */
static int
dir_clean(const char *dir)
{
	struct dirent *de;
	DIR *dp;
	int rc = 0;

	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlink_in(dir, de->d_name) == -1)
			rc = -1;
	}
	closedir(dp);
	return rc;
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

/*
 * recover_manifests - settle every NAME.mf in base, drop NAME.mf.tmp.
 * Returns RS_TEMP if any manifest had to be kept.
 */
static enum result
recover_manifests(const struct bdirs *d, const char *customer, char *err,
    size_t errlen)
{
	char name[BUNDLE_NAME_MAX];
	struct dirent *de;
	enum result rs = RS_OK;
	size_t n;
	DIR *dp;

	if ((dp = opendir(d->base)) == NULL) {
		seterr(err, errlen, "%s: %s", d->base, strerror(errno));
		return RS_TEMP;
	}
	while ((de = readdir(dp)) != NULL) {
		if (has_suffix(de->d_name, MF_SUFFIX ".tmp")) {
			unlink_in(d->base, de->d_name);
			continue;
		}
		if (!has_suffix(de->d_name, MF_SUFFIX))
			continue;
		n = strlen(de->d_name) - strlen(MF_SUFFIX);
		if (n >= sizeof(name))
			continue;
		memcpy(name, de->d_name, n);
		name[n] = '\0';
		if (!bundle_name_is_valid(name))
			continue;
		if (settle(d, customer, name, err, errlen) != RS_OK) {
			log_warnx("%s: bundle %s: kept its manifest: %s",
			    customer, name, err);
			rs = RS_TEMP;
		}
	}
	closedir(dp);
	return rs;
}

/* recover_locked - recovery with the lock held. */
static enum result
recover_locked(const struct bdirs *d, const char *customer, char *err,
    size_t errlen)
{
	struct dirent *de;
	enum result rs;
	DIR *dp;
	char mf[BUNDLE_NAME_MAX + sizeof(MF_SUFFIX)];

	if (dir_clean(d->tmp) == -1) {
		seterr(err, errlen, "%s: %s", d->tmp, strerror(errno));
		return RS_TEMP;
	}
	rs = recover_manifests(d, customer, err, errlen);
	/* Finished bundles whose manifest was never written (or removed). */
	if ((dp = opendir(d->ready)) == NULL)
		return rs;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (path_build(mf, sizeof(mf), "%s%s", de->d_name,
		    MF_SUFFIX) == -1 || file_exists(d->base, mf) != 0)
			continue;
		unlink_in(d->ready, de->d_name);
	}
	closedir(dp);
	return rs;
}

enum result
bundler_recover(const char *spool, const char *customer, char *err,
    size_t errlen)
{
	struct bdirs d;
	enum result rs;
	int lock;

	if ((lock = begin(&d, spool, customer, err, errlen)) == -1)
		return RS_TEMP;
	rs = recover_locked(&d, customer, err, errlen);
	close(lock);
	return rs;
}

/* --- listing and triggers ------------------------------------------ */

static int
list_add(void *arg, const char *id, const char *path)
{
	struct blist *l = arg;
	struct stat st;
	void *p;
	size_t cap;

	if (stat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 256;
		if ((p = reallocarray(l->v, cap, sizeof(*l->v))) == NULL)
			return -1;
		l->v = p;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	strlcpy_(l->v[l->n].id, id, QID_LEN);
	l->v[l->n].mtime = st.st_mtime;
	l->v[l->n].fsize = (uint64_t)st.st_size;
	l->n++;
	return 0;
}

/* due_from - is the suffix of l from i due?  *next: when by age. */
static int
due_from(const struct blist *l, size_t i, uint64_t max, long delay,
    time_t now, time_t *next)
{
	uint64_t bytes = 0;
	time_t oldest = 0;
	size_t k;

	for (k = i; k < l->n; k++) {
		if (l->v[k].skip)
			continue;
		bytes += l->v[k].fsize;
		if (oldest == 0 || l->v[k].mtime < oldest)
			oldest = l->v[k].mtime;
	}
	if (next != NULL)
		*next = oldest == 0 ? 0 : oldest + delay;
	if (oldest == 0)
		return 0;
	return oldest + delay <= now || (max > 0 && bytes >= max);
}

int
bundler_due(const char *spool, const char *customer, uint64_t max,
    long delay, time_t now, time_t *next)
{
	struct qusage u;

	if (next != NULL)
		*next = 0;
	if (spool_usage(spool, customer, &u) != RS_OK || u.count == 0)
		return 0;
	if (next != NULL)
		*next = u.oldest + delay;
	return u.oldest + delay <= now || (max > 0 && u.bytes >= max);
}

/* --- packing ------------------------------------------------------- */

/* A bundle being packed and where it stands. */
struct pack {
	const struct bdirs *d;
	const char *customer;
	struct bundle *b;
	struct idlist ids;
	uint64_t raw;
};

/*
 * entry_open - open entry e and read its envelope.  0 ok, 1 gone or
 * unreadable (e->skip set when it is unreadable), -1 I/O error.
 */
static int
entry_open(struct pack *p, struct bentry *e, int *fd, struct qenv *env,
    off_t *off, char *err, size_t errlen)
{
	char path[PATH_MAX], why[256];
	struct stat st;
	enum result rs;

	if (path_build(path, sizeof(path), "%s/%s", p->d->qnew, e->id) == -1)
		return -1;
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			return 1;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(*fd, &st) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		close(*fd);
		return -1;
	}
	rs = qenv_read_fd(*fd, st.st_size, env, off, why, sizeof(why));
	if (rs == RS_OK && (env->nrcpts < 1 || strcmp(env->id, e->id) != 0)) {
		qenv_free(env);
		strlcpy_(why, "no recipient or wrong id", sizeof(why));
		rs = RS_PERM;
	}
	if (rs != RS_OK) {
		close(*fd);
		if (rs == RS_TEMP) {
			seterr(err, errlen, "%s: %s", e->id, why);
			return -1;
		}
		log_warnx("%s: %s: left in the queue, not bundled: %s",
		    p->customer, e->id, why);
		e->skip = 1;
		return 1;
	}
	return 0;
}

/*
 * pack_entry - add every copy of e.  0 added, 1 not added (gone,
 * unreadable, or it does not fit: *full set), -1 error; -2 when a copy
 * could not be written after others were (the bundle must be redone).
 */
static int
pack_entry(struct pack *p, struct bentry *e, uint64_t max, int *full,
    char *err, size_t errlen)
{
	struct qenv env;
	enum result rs = RS_OK;
	struct dsnenv de;
	char hdr[DSNENV_HEADER_MAX];
	uint64_t cost;
	off_t off;
	int fd, i, r;

	if ((r = entry_open(p, e, &fd, &env, &off, err, errlen)) != 0)
		return r;
	cost = 0;
	for (i = 0; i < env.nrcpts; i++)
		cost += env.size + COPY_OVERHEAD + ENV_OVERHEAD +
		    strlen(env.sender) + 2 * strlen(env.rcpts[i]);
	if (p->ids.n > 0 && max > 0 && p->raw + cost > max) {
		*full = 1;
		r = 1;
		goto done;
	}
	for (i = 0; i < env.nrcpts && rs == RS_OK; i++) {
		dsnenv_of(&de, &env, env.rcpts[i]);
		if (dsnenv_header(&de, hdr, sizeof(hdr)) == -1) {
			seterr(err, errlen, "%s: %s", e->id,
			    "envelope cannot be written to a bundle");
			rs = RS_PERM;
			continue;
		}
		rs = bundle_add_fd(p->b, env.sender, env.rcpts[i], hdr, fd,
		    off, env.size, err, errlen);
	}
	if (rs == RS_PERM) {
		log_warnx("%s: %s: left in the queue, not bundled: %s",
		    p->customer, e->id, err);
		e->skip = 1;
		r = i > 1 ? -2 : 1;
		if (r == 1)
			goto done;
	} else if (rs != RS_OK) {
		r = -1;
	} else if (ids_add(&p->ids, e->id) == -1) {
		seterr(err, errlen, "%s: %s", e->id, strerror(errno));
		r = -1;
	} else {
		bundle_sizes(p->b, &p->raw, NULL, NULL);
		step("add");
	}
done:
	qenv_free(&env);
	close(fd);
	return r;
}

/*
 * drop_unpublished - after a failure before the rename into the outbox:
 * the manifest goes first; ready/NAME only once it is surely gone.
 */
static void
drop_unpublished(const struct bdirs *d, const char *name)
{
	if (mf_remove(d, name, NULL, 0) == RS_OK)
		unlink_in(d->ready, name);
}

/*
 * publish - finish the bundle into ready/, write its manifest, rename
 * it into the outbox, fsync, remove its entries and the manifest.
 */
static enum result
publish(struct pack *p, struct bundler_stats *st, char *err, size_t errlen)
{
	char name[BUNDLE_NAME_MAX], from[PATH_MAX], to[PATH_MAX];
	uint64_t raw, packed;
	unsigned copies;
	struct stat sb;
	enum result rs;

	bundle_sizes(p->b, &raw, &packed, &copies);
	step("written");
	rs = bundle_publish(p->b, p->d->ready, name, sizeof(name), err,
	    errlen);
	p->b = NULL;
	if (rs != RS_OK)
		return RS_TEMP;
	step("ready");
	if (mf_write(p->d, name, &p->ids, err, errlen) != RS_OK) {
		drop_unpublished(p->d, name);
		return RS_TEMP;
	}
	/* 0644: an SSH customer's user reads it through its 0770 outbox
	   (ssh/outbox.h); the spool keeps everyone else out. */
	if (path_build(from, sizeof(from), "%s/%s", p->d->ready, name) == -1 ||
	    path_build(to, sizeof(to), "%s/%s", p->d->outbox, name) == -1 ||
	    chmod(from, 0644) == -1 || rename(from, to) == -1) {
		seterr(err, errlen, "publish %s: %s", name, strerror(errno));
		drop_unpublished(p->d, name);
		return RS_TEMP;
	}
	step("published");
	if (io_fsync_dir(p->d->outbox) == -1) {
		seterr(err, errlen, "fsync %s: %s", p->d->outbox,
		    strerror(errno));
		return RS_TEMP;		/* the manifest settles it later */
	}
	step("synced");
	if ((rs = entries_remove(p->d, &p->ids, err, errlen)) != RS_OK)
		return rs;
	step("removed");
	if ((rs = mf_remove(p->d, name, err, errlen)) != RS_OK)
		return rs;
	step("done");
	packed = stat(to, &sb) == 0 ? (uint64_t)sb.st_size : packed;
	log_info("%s: bundle %s: %zu messages, %u copies, raw %llu, packed "
	    "%llu", p->customer, name, p->ids.n, copies,
	    (unsigned long long)raw, (unsigned long long)packed);
	st->bundles++;
	st->messages += (unsigned)p->ids.n;
	st->copies += copies;
	st->raw += raw;
	st->packed += packed;
	return RS_OK;
}

/*
 * pack_one - one bundle from the entries starting at *i; *i moves past
 * what it took (and what it skipped).
 */
static enum result
pack_one(struct pack *p, struct blist *l, size_t *i, const char *hostname,
    uint64_t max, struct bundler_stats *st, char *err, size_t errlen)
{
	size_t start = *i;
	int full = 0, r;

again:
	*i = start;
	ids_free(&p->ids);
	if (bundle_open(&p->b, p->d->tmp, p->customer, hostname,
	    BUNDLE_LEVEL, err, errlen) != RS_OK)
		return RS_TEMP;
	bundle_sizes(p->b, &p->raw, NULL, NULL);
	for (; *i < l->n && !full; (*i)++) {
		if (l->v[*i].skip)
			continue;
		r = pack_entry(p, &l->v[*i], max, &full, err, errlen);
		if (r == -2) {
			bundle_abort(p->b);
			p->b = NULL;
			goto again;
		}
		if (r == -1) {
			bundle_abort(p->b);
			p->b = NULL;
			return RS_TEMP;
		}
		if (full)
			break;
	}
	if (p->ids.n == 0) {
		bundle_abort(p->b);
		p->b = NULL;
		return RS_OK;
	}
	return publish(p, st, err, errlen);
}

enum result
bundler_run(const char *spool, const char *customer, const char *hostname,
    uint64_t max, long delay, int force, time_t now,
    struct bundler_stats *st, char *err, size_t errlen)
{
	struct blist l = { 0 };
	struct pack p;
	struct bdirs d;
	enum result rs;
	size_t i = 0;
	int lock;

	memset(st, 0, sizeof(*st));
	if ((lock = begin(&d, spool, customer, err, errlen)) == -1)
		return RS_TEMP;
	if ((rs = recover_locked(&d, customer, err, errlen)) != RS_OK)
		goto out;
	if (spool_list(spool, customer, list_add, &l) == -1) {
		seterr(err, errlen, "%s: queue listing: %s", customer,
		    strerror(errno));
		rs = RS_TEMP;
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.d = &d;
	p.customer = customer;
	while (rs == RS_OK && i < l.n &&
	    (force || due_from(&l, i, max, delay, now, NULL)))
		rs = pack_one(&p, &l, &i, hostname, max, st, err, errlen);
	ids_free(&p.ids);
	for (i = 0; i < l.n; i++)
		st->skipped += l.v[i].skip;
out:
	free(l.v);
	close(lock);
	return rs;
}
