/*
 * qdir.c - the queue directories of a customer (spoolfmt(5)): creating
 * them, recovery at startup, usage counts and the ordered list of
 * committed entries, and the queue lock.
 *
 * Invariants: recovery never deletes a file of new/, it only moves bad
 * ones into corrupt/ (under a fresh name when the id is taken there);
 * only tmp/ leftovers are removed.  Usage counts need readdir and one
 * fstatat per entry and nothing else.  Lists of names are kept in one
 * arena (a few bytes per entry) so 100,000 entries cost a few MB.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
 * names_read - the names in dir (not "." or ".."), only queue ids if
 * ids_only, sorted into nm->sorted.  -1 and errno on error; a missing
 * dir is an empty list.
 */
static int
names_read(const char *dir, int ids_only, struct names *nm)
{
	struct dirent *de;
	DIR *d;
	int saved;

	memset(nm, 0, sizeof(*nm));
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? names_sort(nm) : -1;
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

enum result
spool_prepare(const char *spool, const char *customer)
{
	static const char *const subs[] = { "tmp", "new", "corrupt" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (q_path(path, sizeof(path), spool, customer, subs[i],
		    NULL) == -1) {
			log_warnx("%s: bad customer name or spool path",
			    customer);
			return RS_TEMP;
		}
		if (dir_make(path, 0700) == -1) {
			log_warn("%s: mkdir %s", customer, path);
			return RS_TEMP;
		}
	}
	return RS_OK;
}

/* sweep_tmp - remove every leftover of tmp/, one log line each. */
static void
sweep_tmp(const char *spool, const char *customer)
{
	char dir[PATH_MAX], safe[NAME_MAX + 1];
	struct names nm;
	size_t i;
	int fd;

	if (q_path(dir, sizeof(dir), spool, customer, "tmp", NULL) == -1 ||
	    names_read(dir, 0, &nm) == -1) {
		log_warn("%s: cannot read tmp/", customer);
		return;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: open tmp/", customer);
		names_free(&nm);
		return;
	}
	for (i = 0; i < nm.n; i++) {
		const char *name = nm.sorted[i];

		q_sanitize(name, safe, sizeof(safe));
		if (unlinkat(fd, name, 0) == -1 && errno != ENOENT)
			log_warn("%s/%s: cannot remove tmp file", customer,
			    safe);
		else
			log_info("%s/%s: removed incomplete tmp file",
			    customer, safe);
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
	char	newdir[PATH_MAX];
	char	cordir[PATH_MAX];
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

	why = entry_problem(r->spool, r->customer, name, err, sizeof(err),
	    &temp);
	if (why == NULL)
		return;
	q_sanitize(name, safe, sizeof(safe));
	if (temp) {
		log_warnx("%s/%s: left in new/, cannot check it now: %s",
		    r->customer, safe, why);
		return;
	}
	if (r->cfd == -1 && (dir_make(r->cordir, 0700) == -1 ||
	    (r->cfd = open(r->cordir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)) {
		log_warn("%s/%s: cannot open corrupt/", r->customer, safe);
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
	struct recover r;
	struct names nm;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.spool = spool;
	r.customer = customer;
	r.nfd = r.cfd = -1;
	if (q_path(r.newdir, sizeof(r.newdir), spool, customer, "new",
	    NULL) == -1 || q_path(r.cordir, sizeof(r.cordir), spool, customer,
	    "corrupt", NULL) == -1) {
		log_warnx("%s: bad customer name or spool path", customer);
		return -1;
	}
	sweep_tmp(spool, customer);
	if (names_read(r.newdir, 0, &nm) == -1) {
		log_warn("%s: cannot read new/", customer);
		return -1;
	}
	if (nm.n > 0 && (r.nfd = open(r.newdir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("%s: cannot open new/", customer);
		names_free(&nm);
		return -1;
	}
	for (i = 0; i < nm.n; i++)
		recover_one(&r, nm.sorted[i]);
	if (r.moved > 0 && (fsync(r.cfd) == -1 || fsync(r.nfd) == -1))
		log_warn("%s: fsync after recovery", customer);
	if (r.cfd != -1)
		close(r.cfd);
	if (r.nfd != -1)
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
