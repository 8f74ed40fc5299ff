/*
 * queue.c - writing queue entries (spoolfmt(5)): open a tmp file with
 * the envelope, buffer the message into it, commit by renaming it into
 * new/.
 *
 * Invariants: a file in new/ is complete, its size field is patched,
 * its data and the directory entry are on disk, and its mtime is the
 * arrival time.  A writer that fails anywhere removes its tmp file and
 * answers RS_TEMP; nothing half-written ever reaches new/.  Files are
 * created 0600 with O_EXCL and O_NOFOLLOW and never leak into children.
 */
#if defined(__FreeBSD__)
#include <sys/param.h>
#endif
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "qint.h"

#if defined(__FreeBSD__) && __FreeBSD_version >= 1300037
#define HAVE_COPY_FILE_RANGE 1
#elif defined(__linux__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 27))
#define HAVE_COPY_FILE_RANGE 1
#endif

#define QW_BUFSIZE	65536

struct qwriter {
	int	fd;
	int	failed;		/* errno of the first failed write, or 0 */
	uint64_t size;		/* message octets so far */
	off_t	size_off;	/* offset of the size digits */
	off_t	flushed;	/* octets handed to fd */
	time_t	arrival;
	char	id[QID_LEN];
	int	deferred;	/* tmp file made at the first output */
	int	created;	/* this writer made tmp (so may remove it) */
	int	create_failed;	/* failed holds the create's errno */
	char	customer[64];
	char	spool[PATH_MAX];
	size_t	len;		/* octets waiting in buf */
	char	rel[QID_LEN + 80];	/* "q/<customer>/tmp/<id>" */
	char	tmp[PATH_MAX];
	char	new[PATH_MAX];
	char	newdir[PATH_MAX];
	char	buf[QW_BUFSIZE];
};

static int open_tmp(struct qwriter *w, const char *spool,
    const char *customer);

/* ensure_open - a deferred writer's tmp file, made now if not yet. */
static int
ensure_open(struct qwriter *w)
{
	if (w->fd != -1)
		return 0;
	if (w->failed)
		return -1;
	if (!w->deferred || open_tmp(w, w->spool, w->customer) == -1) {
		w->failed = w->deferred ? errno : EBADF;
		w->create_failed = 1;
		return -1;
	}
	w->created = 1;
	return 0;
}

/* flush - hand the buffer to the file; errors stick in w->failed. */
static int
flush(struct qwriter *w)
{
	if (w->failed)
		return -1;
	if (w->len > 0 && ensure_open(w) == -1)
		return -1;
	if (w->len > 0 && io_write_all(w->fd, w->buf, w->len) == -1) {
		w->failed = errno;
		return -1;
	}
	w->flushed += (off_t)w->len;
	w->len = 0;
	return 0;
}

/* put - buffered write; blocks of a buffer or more go straight out. */
static int
put(struct qwriter *w, const char *p, size_t n)
{
	size_t c;

	while (n > 0) {
		if (w->failed)
			return -1;
		if (w->len == 0 && n >= QW_BUFSIZE) {
			if (ensure_open(w) == -1)
				return -1;
			if (io_write_all(w->fd, p, n) == -1) {
				w->failed = errno;
				return -1;
			}
			w->flushed += (off_t)n;
			return 0;
		}
		c = QW_BUFSIZE - w->len < n ? QW_BUFSIZE - w->len : n;
		memcpy(w->buf + w->len, p, c);
		w->len += c;
		p += c;
		n -= c;
		if (w->len == QW_BUFSIZE && flush(w) == -1)
			return -1;
	}
	return 0;
}

/* open_tmp - create tmp/<id>, preparing the queue once if it is missing. */
static int
open_tmp(struct qwriter *w, const char *spool, const char *customer)
{
	int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;

	w->fd = open(w->tmp, flags, 0600);
	if (w->fd == -1 && errno == ENOENT &&
	    spool_prepare(spool, customer) == RS_OK)
		w->fd = open(w->tmp, flags, 0600);
	/* held until the close: a sweep of tmp/ leaves a live file alone */
	if (w->fd != -1)
		(void)flock(w->fd, LOCK_EX | LOCK_NB);
	return w->fd;
}

static enum result
writer_new(const char *spool, const struct qenv *env, struct qwriter **wp,
    char *err, size_t errlen)
{
	struct qwriter *w;

	if ((w = malloc(sizeof(*w))) == NULL) {
		err_set(err, errlen, "%s", strerror(errno));
		return RS_TEMP;
	}
	memset(w, 0, offsetof(struct qwriter, buf));	/* not the buffer */
	w->fd = -1;
	w->arrival = env->arrival;
	strlcpy_(w->id, env->id, sizeof(w->id));
	snprintf(w->rel, sizeof(w->rel), "q/%s/tmp/%s", env->customer,
	    env->id);
	if (q_path(w->tmp, sizeof(w->tmp), spool, env->customer, "tmp",
	    env->id) == -1 ||
	    q_path(w->new, sizeof(w->new), spool, env->customer, "new",
	    env->id) == -1 ||
	    q_path(w->newdir, sizeof(w->newdir), spool, env->customer, "new",
	    NULL) == -1) {
		err_set(err, errlen, "%s: path too long", w->rel);
		free(w);
		return RS_TEMP;
	}
	*wp = w;
	return RS_OK;
}

static enum result
open_writer(const char *spool, const struct qenv *env, struct qwriter **wp,
    int deferred, char *err, size_t errlen)
{
	struct qwriter *w;
	struct qbuf text;
	enum result rs;
	size_t size_off;

	*wp = NULL;
	if ((rs = qenv_format(env, 0, &text, &size_off, err, errlen)) !=
	    RS_OK)
		return rs;
	if ((rs = writer_new(spool, env, &w, err, errlen)) != RS_OK) {
		qbuf_free(&text);
		return rs;
	}
	w->size_off = (off_t)size_off;
	w->deferred = deferred;
	strlcpy_(w->customer, env->customer, sizeof(w->customer));
	strlcpy_(w->spool, spool, sizeof(w->spool));
	if (!deferred && open_tmp(w, spool, env->customer) == -1) {
		err_set(err, errlen, "%s: create: %s%s", w->rel,
		    strerror(errno), errno == EEXIST ?
		    " (being written or rewritten)" : "");
		qbuf_free(&text);
		free(w);
		return RS_TEMP;
	}
	if (put(w, text.p, text.len) == -1) {
		err_set(err, errlen, "%s: write: %s", w->rel,
		    strerror(w->failed));
		qbuf_free(&text);
		qw_abort(w);
		return RS_TEMP;
	}
	qbuf_free(&text);
	*wp = w;
	return RS_OK;
}

enum result
qw_open(const char *spool, const struct qenv *env, struct qwriter **wp,
    char *err, size_t errlen)
{
	return open_writer(spool, env, wp, 0, err, errlen);
}

enum result
qw_open_deferred(const char *spool, const struct qenv *env,
    struct qwriter **wp, char *err, size_t errlen)
{
	return open_writer(spool, env, wp, 1, err, errlen);
}

enum result
qw_write(struct qwriter *w, const void *buf, size_t len)
{
	if (w == NULL || put(w, buf, len) == -1)
		return RS_TEMP;
	w->size += len;
	return RS_OK;
}

uint64_t
qw_size(const struct qwriter *w)
{
	return w->size;
}

const char *
qw_id(const struct qwriter *w)
{
	return w->id;
}

time_t
qw_arrival(const struct qwriter *w)
{
	return w->arrival;
}

const char *
qw_customer(const struct qwriter *w)
{
	return w->customer;
}

int
qw_flush_fd(struct qwriter *w, char *err, size_t errlen)
{
	if (flush(w) == -1 || ensure_open(w) == -1) {
		err_set(err, errlen, "%s: %s: %s", w->rel, w->create_failed ?
		    "create" : "write", strerror(w->failed));
		return -1;
	}
	return w->fd;
}

void
qw_add_size(struct qwriter *w, uint64_t n)
{
	w->size += n;
	w->flushed += (off_t)n;
}

int
q_copy(int in, off_t off, uint64_t len, int out, char *buf, size_t buflen)
{
	ssize_t n;
	size_t c;

#ifdef HAVE_COPY_FILE_RANGE
	while (len > 0) {
		c = len > (1U << 30) ? (1U << 30) : (size_t)len;
		n = copy_file_range(in, &off, out, NULL, c, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == ENOSYS || errno == EXDEV ||
		    errno == EINVAL || errno == EOPNOTSUPP ||
		    errno == ENOTSUP || errno == EBADF || errno == EPERM))
			break;		/* not here: copy by hand */
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;	/* the source is shorter */
			return -1;
		}
		len -= (uint64_t)n;
	}
#endif
	while (len > 0) {
		c = len > buflen ? buflen : (size_t)len;
		n = pread(in, buf, c, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (io_write_all(out, buf, (size_t)n) == -1)
			return -1;
		off += n;
		len -= (uint64_t)n;
	}
	return 0;
}

enum result
qw_clone(struct qwriter *src, const char *spool, const struct qenv *env,
    struct qwriter **dst, char *err, size_t errlen)
{
	struct qwriter *w;
	enum result rs;
	off_t body_off;

	*dst = NULL;
	if (qw_flush_fd(src, err, errlen) == -1)
		return RS_TEMP;
	if ((rs = qw_open(spool, env, &w, err, errlen)) != RS_OK)
		return rs;
	if (qw_flush_fd(w, err, errlen) == -1) {
		qw_abort(w);
		return RS_TEMP;
	}
	body_off = src->flushed - (off_t)src->size;
	if (q_copy(src->fd, body_off, src->size, w->fd, w->buf,
	    sizeof(w->buf)) == -1) {
		err_set(err, errlen, "%s: copy from %s: %s", w->rel, src->rel,
		    strerror(errno));
		qw_abort(w);
		return RS_TEMP;
	}
	qw_add_size(w, src->size);
	*dst = w;
	return RS_OK;
}

/* patch_size - write the real size over the 20 zeros of the envelope. */
static int
patch_size(struct qwriter *w)
{
	char digits[QENV_SIZE_DIGITS + 1];
	ssize_t n;

	snprintf(digits, sizeof(digits), "%0*llu", QENV_SIZE_DIGITS,
	    (unsigned long long)w->size);
	if (w->size_off >= w->flushed) {
		memcpy(w->buf + (w->size_off - w->flushed), digits,
		    QENV_SIZE_DIGITS);
		return 0;
	}
	if (flush(w) == -1)
		return -1;
	n = pwrite(w->fd, digits, QENV_SIZE_DIGITS, w->size_off);
	if (n != QENV_SIZE_DIGITS) {
		w->failed = n == -1 ? errno : EIO;
		return -1;
	}
	return 0;
}

/* make_durable - size, buffer, mtime = arrival, fsync, close. */
static int
make_durable(struct qwriter *w, const char **what)
{
	struct timespec ts[2];
	int fd;

	*what = "write";
	if (patch_size(w) == -1 || flush(w) == -1 || ensure_open(w) == -1) {
		if (w->create_failed)
			*what = "create";
		errno = w->failed;
		return -1;
	}
	*what = "set mtime";
	ts[0].tv_sec = ts[1].tv_sec = w->arrival;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(w->fd, ts) == -1)
		return -1;
	*what = "fsync";
	if (fsync(w->fd) == -1)
		return -1;
	*what = "close";
	fd = w->fd;
	w->fd = -1;
	return close(fd);
}

/* still_there - new/<id> is still the file (dev, ino) being replaced. */
static enum result
still_there(struct qwriter *w, dev_t dev, ino_t ino, char *err,
    size_t errlen)
{
	struct stat st;

	if (lstat(w->new, &st) == -1) {
		err_set(err, errlen, "%s: gone while being rewritten: %s",
		    w->rel, strerror(errno));
		return errno == ENOENT ? RS_PERM : RS_TEMP;
	}
	if (st.st_dev != dev || st.st_ino != ino) {
		err_set(err, errlen, "%s: replaced while being rewritten",
		    w->rel);
		return RS_TEMP;
	}
	return RS_OK;
}

/*
 * commit - make w durable and rename it into new/.  keep: on success w
 * is not freed (qw_commit_set may still take it back); on failure it
 * always is.
 */
static enum result
commit(struct qwriter *w, int check, dev_t dev, ino_t ino, int keep,
    char *err, size_t errlen)
{
	const char *what;
	enum result rs = RS_TEMP;

	if (make_durable(w, &what) == -1) {
		err_set(err, errlen, "%s: %s: %s", w->rel, what,
		    strerror(errno));
		goto fail;
	}
	if (check && (rs = still_there(w, dev, ino, err, errlen)) != RS_OK)
		goto fail;
	if (rename(w->tmp, w->new) == -1) {
		err_set(err, errlen, "%s: rename into new/: %s", w->rel,
		    strerror(errno));
		rs = RS_TEMP;
		goto fail;
	}
	if (io_fsync_dir(w->newdir) == -1) {
		/* Not durable, so not ours: take it back (unless replacing). */
		err_set(err, errlen, "%s: fsync new/: %s", w->rel,
		    strerror(errno));
		if (!check)
			unlink(w->new);
		free(w);
		return RS_TEMP;
	}
	if (!keep)
		free(w);
	return RS_OK;
fail:
	qw_abort(w);
	return rs;
}

enum result
qw_commit(struct qwriter *w, char *err, size_t errlen)
{
	if (w == NULL) {
		err_set(err, errlen, "no writer");
		return RS_TEMP;
	}
	return commit(w, 0, 0, 0, 0, err, errlen);
}

enum result
qw_commit_if(struct qwriter *w, dev_t dev, ino_t ino, char *err,
    size_t errlen)
{
	return commit(w, 1, dev, ino, 0, err, errlen);
}

/* room - the file system of dir has min_free bytes free (0: no check). */
static int
room(const char *dir, uint64_t min_free)
{
	struct statvfs sv;

	if (min_free == 0)
		return 1;
	if (statvfs(dir, &sv) == -1) {
		log_warn("statvfs %s", dir);
		return 0;
	}
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize >= min_free;
}

int
qw_commit_set(struct qwriter **ws, int n, int all, uint64_t min_free,
    enum result *res, char *errs, size_t errlen)
{
	int i, ok = 0, failed = 0;

	if (n > 0 && !room(ws[0]->newdir, min_free)) {
		for (i = 0; i < n; i++) {
			err_set(errs + (size_t)i * errlen, errlen, "%s",
			    QUEUE_NOSPACE);
			qw_abort(ws[i]);
			ws[i] = NULL;
			res[i] = RS_TEMP;
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		errs[(size_t)i * errlen] = '\0';
		if (all && failed) {
			err_set(errs + (size_t)i * errlen, errlen,
			    "not committed: another copy failed");
			qw_abort(ws[i]);
			res[i] = RS_TEMP;
		} else if ((res[i] = commit(ws[i], 0, 0, 0, 1,
		    errs + (size_t)i * errlen, errlen)) != RS_OK) {
			failed = 1;
		}
		if (res[i] != RS_OK)
			ws[i] = NULL;
	}
	for (i = 0; i < n; i++) {
		if (ws[i] == NULL)
			continue;
		if (all && failed) {
			/* take back: nobody may see 250 for part of it */
			if (unlink(ws[i]->new) == -1 ||
			    io_fsync_dir(ws[i]->newdir) == -1) {
				log_warn("%s: could not take back %s",
				    ws[i]->rel, ws[i]->new);
				ok++;	/* it stays: count it */
			} else {
				err_set(errs + (size_t)i * errlen, errlen,
				    "taken back: another copy failed");
				res[i] = RS_TEMP;
			}
		} else {
			ok++;
		}
		free(ws[i]);
		ws[i] = NULL;
	}
	return ok;
}

void
qw_abort(struct qwriter *w)
{
	int saved = errno;

	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	if (!w->deferred || w->created)
		unlink(w->tmp);
	free(w);
	errno = saved;
}

/* --- rewriting ------------------------------------------------------- */

/* rewrite_copy - a new entry for env with the message octets of fd. */
static enum result
rewrite_copy(const char *spool, const struct qenv *env, int fd,
    const struct stat *st, char *err, size_t errlen)
{
	struct qwriter *w;
	struct qenv old;
	enum result rs;
	off_t body_off;
	char *buf;
	int out;

	if ((rs = qenv_read_fd(fd, st->st_size, &old, &body_off, err,
	    errlen)) != RS_OK)
		return rs;
	rs = qenv_check_place(&old, env->customer, env->id, err, errlen);
	qenv_free(&old);
	if (rs != RS_OK)
		return rs;
	if ((rs = qw_open(spool, env, &w, err, errlen)) != RS_OK)
		return rs;
	if ((out = qw_flush_fd(w, err, errlen)) == -1) {
		qw_abort(w);
		return RS_TEMP;
	}
	if ((buf = malloc(65536)) == NULL ||
	    q_copy(fd, body_off, old.size, out, buf, 65536) == -1) {
		err_set(err, errlen, "copy message: %s", strerror(errno));
		free(buf);
		qw_abort(w);
		return RS_TEMP;
	}
	free(buf);
	qw_add_size(w, old.size);
	return qw_commit_if(w, st->st_dev, st->st_ino, err, errlen);
}

enum result
qenv_rewrite(const char *spool, const struct qenv *env, char *err,
    size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	enum result rs;
	int fd;

	if (q_path(path, sizeof(path), spool, env->customer, "new",
	    env->id) == -1) {
		err_set(err, errlen, "bad customer, id or path");
		return RS_PERM;
	}
	if ((rs = qenv_open(path, &fd, &st, err, errlen)) != RS_OK)
		return rs;
	rs = rewrite_copy(spool, env, fd, &st, err, errlen);
	close(fd);
	return rs;
}
