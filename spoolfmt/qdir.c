/*
 * qdir.c - the queue directories of a customer (spoolfmt(5)): creating
 * them, recovery at startup, usage counts and the ordered list of
 * committed entries, and the queue lock.
 *
 * Invariants: recovery never deletes a file of new/, it only moves bad
 * ones into corrupt/ (under a fresh name when the id is taken there);
 * only tmp/ leftovers are removed.  Every queue directory is reached
 * from the spool by openat(O_NOFOLLOW) and must belong to the process
 * (queue refused otherwise), and recovery removes or reads only
 * regular files of its own: a symlink or a foreign file planted in a
 * queue is left alone (tmp/) or moved to corrupt/ unread (new/).  Usage counts need readdir and one
 * fstatat per entry and nothing else.  Lists of names are kept in one
 * arena (a few bytes per entry) so 100,000 entries cost a few MB.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "qint.h"

#define CORRUPT_TRIES	1000	/* suffixes .1 .. .999 for taken names */

/* A compact list of directory entry names. */
struct names {
	char   *arena;		/* NUL-terminated names, back to back */
	size_t	len, cap;
	size_t *off;		/* where each name starts */
	size_t	n, ncap;
	char  **sorted;		/* after names_sort */
};

static void
names_free(struct names *nm)
{
	free(nm->arena);
	free(nm->off);
	free(nm->sorted);
	memset(nm, 0, sizeof(*nm));
}

static int
names_add(struct names *nm, const char *name)
{
	size_t l = strlen(name) + 1, ncap;
	void *p;

	if (nm->len + l > nm->cap) {
		for (ncap = nm->cap ? nm->cap : 4096; ncap < nm->len + l;)
			ncap *= 2;
		if ((p = realloc(nm->arena, ncap)) == NULL)
			return -1;
		nm->arena = p;
		nm->cap = ncap;
	}
	if (nm->n == nm->ncap) {
		ncap = nm->ncap ? nm->ncap * 2 : 256;
		if ((p = reallocarray(nm->off, ncap, sizeof(*nm->off))) ==
		    NULL)
			return -1;
		nm->off = p;
		nm->ncap = ncap;
	}
	memcpy(nm->arena + nm->len, name, l);
	nm->off[nm->n++] = nm->len;
	nm->len += l;
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* names_sort - fill nm->sorted with the names in strcmp order. */
static int
names_sort(struct names *nm)
{
	size_t i;

	if ((nm->sorted = calloc(nm->n ? nm->n : 1, sizeof(char *))) == NULL)
		return -1;
	for (i = 0; i < nm->n; i++)
		nm->sorted[i] = nm->arena + nm->off[i];
	free(nm->off);
	nm->off = NULL;
	qsort(nm->sorted, nm->n, sizeof(char *), cmp_names);
	return 0;
}

/*
 * names_readfd - the names in the directory open on dfd (not "." or
 * ".."), only queue ids if ids_only, sorted into nm->sorted; dfd stays
 * open and its own.  -1 and errno on error.
 */
static int
names_readfd(int dfd, int ids_only, struct names *nm)
{
	struct dirent *de;
	DIR *d;
	int fd, saved;

	memset(nm, 0, sizeof(*nm));
	if ((fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (ids_only && !qid_is_valid(de->d_name)))
			continue;
		if (names_add(nm, de->d_name) == -1)
			break;
	}
	saved = errno;
	closedir(d);
	if (saved == 0 && names_sort(nm) == -1)
		saved = errno;
	if (saved != 0) {
		names_free(nm);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * names_read - names_readfd of the directory dir; a missing dir is an
 * empty list.
 */
static int
names_read(const char *dir, int ids_only, struct names *nm)
{
	int fd, rc, saved;

	memset(nm, 0, sizeof(*nm));
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? names_sort(nm) : -1;
	rc = names_readfd(fd, ids_only, nm);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/*
 * dir_step - open the directory name under dfd without following a
 * symlink, creating it (mode) first when create is set; it must be a
 * directory of the process's effective uid.  The fd, or -1 with *why.
 */
static int
dir_step(int dfd, const char *name, int create, mode_t mode,
    const char **why)
{
	struct stat st;
	int fd;

	if (create && mkdirat(dfd, name, mode) == -1 && errno != EEXIST) {
		*why = strerror(errno);
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1) {
		*why = errno == ELOOP || errno == EMLINK || errno == ENOTDIR ?
		    "not a directory (a symlink?)" : strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		*why = strerror(errno);
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		*why = "owned by another user";
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int
q_dir_open(const char *spool, const char *customer, const char *sub,
    int create, char *why, size_t whylen)
{
	const char *steps[3], *err = NULL;
	int fd, next, i, n = 0, saved;

	if (!name_is_safe(customer) || (sub != NULL && !name_is_safe(sub))) {
		snprintf(why, whylen, "bad customer or directory name");
		errno = EINVAL;
		return -1;
	}
	steps[n++] = "q";
	steps[n++] = customer;
	if (sub != NULL)
		steps[n++] = sub;
	if ((create && dir_make(spool, 0700) == -1) ||
	    (fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "spool %s: %s", spool, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		next = dir_step(fd, steps[i], create, 0700, &err);
		saved = errno;
		close(fd);
		if (next == -1) {
			snprintf(why, whylen, "%s/%s%s%s%s%s: %s", spool,
			    steps[0], i >= 1 ? "/" : "", i >= 1 ? steps[1] : "",
			    i >= 2 ? "/" : "", i >= 2 ? steps[2] : "", err);
			errno = saved;
			return -1;
		}
		fd = next;
	}
	return fd;
}

int
spool_as_owner(const char *spool, char *why, size_t whylen)
{
	struct stat st;
	struct passwd *pw;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (stat(spool, &st) == -1) {
		if (errno == ENOENT)
			return 0;	/* root makes it, as before */
		snprintf(why, whylen, "spool %s: %s", spool, strerror(errno));
		return -1;
	}
	if (st.st_uid == 0)
		return 0;
	gid = (pw = getpwuid(st.st_uid)) != NULL ? pw->pw_gid : st.st_gid;
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(st.st_uid) == -1 || setuid(0) != -1) {
		snprintf(why, whylen, "cannot become the spool's owner "
		    "(uid %ld): %s", (long)st.st_uid, strerror(errno));
		return -1;
	}
	return 0;
}

const char *
q_sanitize(const char *s, char *buf, size_t len)
{
	size_t i;

	if (len == 0)
		return "";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ?
		    '?' : s[i];
	buf[i] = '\0';
	return buf;
}

int
spool_lock(const char *spool, const char *customer, int *busy)
{
	char dir[PATH_MAX];
	int fd;

	*busy = 0;
	if (path_build(dir, sizeof(dir), "%s/q/%s", spool, customer) == -1 ||
	    (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		*busy = errno == EWOULDBLOCK;
		close(fd);
		return -1;
	}
	return fd;
}

int
spool_lock_wait(const char *spool, const char *customer, int tries)
{
	int i, fd, busy;

	for (i = 0; i < tries; i++) {
		if ((fd = spool_lock(spool, customer, &busy)) != -1 || !busy)
			return fd;
		usleep(50000);
	}
	return -1;
}

enum result
spool_prepare(const char *spool, const char *customer)
{
	static const char *const subs[] = { "tmp", "new", "corrupt" };
	char why[PATH_MAX + 64], safe[NAME_MAX + 1];
	const char *err;
	size_t i;
	int cfd, fd;

	q_sanitize(customer, safe, sizeof(safe));
	if ((cfd = q_dir_open(spool, customer, NULL, 1, why,
	    sizeof(why))) == -1) {
		log_warnx("%s: queue refused: %s", safe, why);
		return RS_TEMP;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((fd = dir_step(cfd, subs[i], 1, 0700, &err)) == -1) {
			log_warnx("%s: queue refused: %s/q/%s/%s: %s", safe,
			    spool, safe, subs[i], err);
			close(cfd);
			return RS_TEMP;
		}
		close(fd);
	}
	close(cfd);
	return RS_OK;
}

/*
 * plain_ours - is name under dfd a regular file of the effective uid
 * (not followed if it is a symlink)?  Only those does recovery remove
 * or read.
 */
static int
plain_ours(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && st.st_uid == geteuid();
}

/*
 * in_use - is somebody writing the tmp file name of dfd?  Every writer
 * holds an flock on its tmp file (queue.c), so a file that cannot be
 * locked now is alive.  *fdp gets the file, locked, when it is not.
 */
static int
in_use(int dfd, const char *name, int *fdp)
{
	*fdp = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (*fdp == -1)
		return 0;
	if (flock(*fdp, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK) {
		close(*fdp);
		*fdp = -1;
		return 1;
	}
	return 0;
}

/*
 * spool_sweep_tmp - remove every leftover of tmp/, one log line each;
 * what is not a regular file of ours is left where it is, and logged;
 * what a live writer holds locked is left alone.
 */
void
spool_sweep_tmp(const char *spool, const char *customer)
{
	char why[PATH_MAX + 64], safe[NAME_MAX + 1];
	struct names nm;
	size_t i;
	int fd;

	if ((fd = q_dir_open(spool, customer, "tmp", 0, why,
	    sizeof(why))) == -1) {
		if (errno != ENOENT)
			log_warnx("%s: tmp/ not swept: %s", customer, why);
		return;
	}
	if (names_readfd(fd, 0, &nm) == -1) {
		log_warn("%s: cannot read tmp/", customer);
		close(fd);
		return;
	}
	for (i = 0; i < nm.n; i++) {
		const char *name = nm.sorted[i];
		int lfd = -1;

		q_sanitize(name, safe, sizeof(safe));
		if (!plain_ours(fd, name))
			log_warnx("%s/tmp/%s: left alone: not a regular file "
			    "of the queue's owner", customer, safe);
		else if (in_use(fd, name, &lfd))
			log_debug("%s/%s: being written: left alone",
			    customer, safe);
		else if (unlinkat(fd, name, 0) == -1 && errno != ENOENT)
			log_warn("%s/%s: cannot remove tmp file", customer,
			    safe);
		else
			log_info("%s/%s: removed incomplete tmp file",
			    customer, safe);
		if (lfd != -1)
			close(lfd);
	}
	close(fd);
	names_free(&nm);
}

/*
 * to_corrupt - move name from new/ (nfd) into corrupt/ (cfd) without
 * ever replacing a file there: link + unlink, or rename to a name that
 * is free where hard links are refused.  *dst gets the name used.
 */
static int
to_corrupt(int nfd, int cfd, const char *name, char *dst, size_t dstlen)
{
	struct stat st;
	int i;

	for (i = 0; i < CORRUPT_TRIES; i++) {
		if (i == 0)
			snprintf(dst, dstlen, "%s", name);
		else
			snprintf(dst, dstlen, "%s.%d", name, i);
		if (linkat(nfd, name, cfd, dst, 0) == 0)
			return unlinkat(nfd, name, 0);
		if (errno == EEXIST)
			continue;
		if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP &&
		    errno != EMLINK)
			return -1;
		if (fstatat(cfd, dst, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (errno != ENOENT)
			return -1;
		return renameat(nfd, name, cfd, dst);
	}
	errno = EEXIST;
	return -1;
}

/* entry_problem - why new/<name> is bad, or NULL if it reads fine. */
static const char *
entry_problem(const char *spool, const char *customer, const char *name,
    char *err, size_t errlen, int *temp)
{
	struct qenv env;
	enum result rs;

	*temp = 0;
	if (!qid_is_valid(name))
		return "name is not a queue id";
	rs = qenv_load(spool, customer, name, &env, NULL, err, errlen);
	if (rs == RS_OK) {
		qenv_free(&env);
		return NULL;
	}
	if (rs == RS_TEMP)
		*temp = 1;
	return err;
}

struct recover {
	const char *spool, *customer;
	int	nfd, cfd;
	int	moved;
};

/* recover_one - check one entry of new/ and quarantine it if bad. */
static void
recover_one(struct recover *r, const char *name)
{
	char err[512], safe[NAME_MAX + 1], dst[NAME_MAX + 16];
	char safedst[NAME_MAX + 16];
	const char *why;
	int temp;

	if (!plain_ours(r->nfd, name)) {
		why = "not a regular file of the queue's owner (not read)";
		temp = 0;
	} else
		why = entry_problem(r->spool, r->customer, name, err,
		    sizeof(err), &temp);
	if (why == NULL)
		return;
	q_sanitize(name, safe, sizeof(safe));
	if (temp) {
		log_warnx("%s/%s: left in new/, cannot check it now: %s",
		    r->customer, safe, why);
		return;
	}
	if (r->cfd == -1 && (r->cfd = q_dir_open(r->spool, r->customer,
	    "corrupt", 1, err, sizeof(err))) == -1) {
		log_warnx("%s/%s: left in new/, no corrupt/: %s", r->customer,
		    safe, err);
		return;
	}
	if (to_corrupt(r->nfd, r->cfd, name, dst, sizeof(dst)) == -1) {
		log_warn("%s/%s: cannot move to corrupt/ (%s)", r->customer,
		    safe, why);
		return;
	}
	r->moved++;
	if (strcmp(dst, name) == 0)
		log_warnx("%s/%s: moved to corrupt/: %s", r->customer, safe,
		    why);
	else
		log_warnx("%s/%s: moved to corrupt/ as %s: %s", r->customer,
		    safe, q_sanitize(dst, safedst, sizeof(safedst)), why);
}

/*
 * spool_recover - see queue.h.  Run it before anything writes to the
 * queue: a writer whose tmp file is swept fails with RS_TEMP, and
 * loses nothing.  -1 when new/ cannot be read.
 */
int
spool_recover(const char *spool, const char *customer)
{
	char why[PATH_MAX + 64];
	struct recover r;
	struct names nm;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.spool = spool;
	r.customer = customer;
	r.nfd = r.cfd = -1;
	spool_sweep_tmp(spool, customer);
	if ((r.nfd = q_dir_open(spool, customer, "new", 0, why,
	    sizeof(why))) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warnx("%s: new/ not recovered: %s", customer, why);
		return -1;
	}
	if (names_readfd(r.nfd, 0, &nm) == -1) {
		log_warn("%s: cannot read new/", customer);
		close(r.nfd);
		return -1;
	}
	for (i = 0; i < nm.n; i++)
		recover_one(&r, nm.sorted[i]);
	if (r.moved > 0 && (fsync(r.cfd) == -1 || fsync(r.nfd) == -1))
		log_warn("%s: fsync after recovery", customer);
	if (r.cfd != -1)
		close(r.cfd);
	close(r.nfd);
	names_free(&nm);
	return r.moved;
}

enum result
spool_usage(const char *spool, const char *customer, struct qusage *u)
{
	char dir[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	memset(u, 0, sizeof(*u));
	if (q_path(dir, sizeof(dir), spool, customer, "new", NULL) == -1)
		return RS_PERM;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? RS_OK : RS_TEMP;
	while ((de = readdir(d)) != NULL) {
		if (!qid_is_valid(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode))
			continue;
		u->count++;
		u->bytes += (uint64_t)st.st_size;
		if (u->oldest == 0 || st.st_mtime < u->oldest)
			u->oldest = st.st_mtime;
	}
	closedir(d);
	return RS_OK;
}

/* spool_list - see queue.h; -1 (errno set) when new/ cannot be read. */
int
spool_list(const char *spool, const char *customer,
    int (*fn)(void *arg, const char *id, const char *path), void *arg)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct names nm;
	size_t i;
	int rc = 0;

	if (q_path(dir, sizeof(dir), spool, customer, "new", NULL) == -1 ||
	    names_read(dir, 1, &nm) == -1)
		return -1;
	for (i = 0; i < nm.n && rc == 0; i++) {
		if (path_build(path, sizeof(path), "%s/%s", dir,
		    nm.sorted[i]) == -1) {
			rc = -1;
			break;
		}
		rc = fn(arg, nm.sorted[i], path);
	}
	names_free(&nm);
	return rc;
}

/* sched_one - spool_list callback: one entry's next-attempt. */
static int
sched_one(void *arg, const char *id, const char *path)
{
	struct qschedule *s = arg;
	struct qenv env;
	time_t t = 0;

	if (qenv_read(path, &env, NULL, NULL, 0) == RS_OK) {
		t = env.next_attempt;
		qenv_free(&env);
	} else if (errno == ENOENT)
		return 0;		/* delivered meanwhile */
	if (s->count == 0 || t < s->soonest)
		s->soonest = t;
	s->count++;
	if (strcmp(id, s->newest) > 0)
		strlcpy_(s->newest, id, sizeof(s->newest));
	return 0;
}

enum result
spool_schedule(const char *spool, const char *customer,
    struct qschedule *s)
{
	memset(s, 0, sizeof(*s));
	if (spool_list(spool, customer, sched_one, s) != 0)
		return errno == ENOENT ? RS_OK : RS_TEMP;
	return RS_OK;
}

int
spool_customers(const char *spool, char ***list, int *n)
{
	char dir[PATH_MAX];
	struct names nm;
	struct stat st;
	size_t i;
	int k = 0;

	*list = NULL;
	*n = 0;
	if (path_build(dir, sizeof(dir), "%s/q", spool) == -1 ||
	    names_read(dir, 0, &nm) == -1)
		return -1;
	if ((*list = calloc(nm.n + 1, sizeof(char *))) == NULL) {
		names_free(&nm);
		return -1;
	}
	for (i = 0; i < nm.n; i++) {
		if (!name_is_safe(nm.sorted[i]) ||
		    path_build(dir, sizeof(dir), "%s/q/%s", spool,
		    nm.sorted[i]) == -1 || stat(dir, &st) == -1 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (((*list)[k] = strdup(nm.sorted[i])) == NULL) {
			spool_customers_free(*list, k);
			*list = NULL;
			names_free(&nm);
			return -1;
		}
		k++;
	}
	names_free(&nm);
	*n = k;
	return 0;
}

void
spool_customers_free(char **list, int n)
{
	int i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

enum result
q_remove(const char *spool, const char *customer, const char *id)
{
	char path[PATH_MAX], dir[PATH_MAX];

	if (q_path(path, sizeof(path), spool, customer, "new", id) == -1 ||
	    q_path(dir, sizeof(dir), spool, customer, "new", NULL) == -1)
		return RS_PERM;
	if (unlink(path) == -1)
		return errno == ENOENT ? RS_PERM : RS_TEMP;
	if (io_fsync_dir(dir) == -1)
		return RS_TEMP;
	return RS_OK;
}
