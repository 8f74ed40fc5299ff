/*
 * outbox.c - create and check the hub-side layout of outbox.h: a
 * root-owned chroot per SSH user holding an outbox that the bridge
 * user writes and the customer's group reads and empties, reached from
 * the spool through a symlink.  One walker does both jobs; with fix
 * set it corrects what it may, otherwise it only reports.  Every
 * problem is one line on errs naming the path.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "outbox.h"
#include "util.h"

/* The walk in progress. */
struct walk {
	const struct outbox_spec *s;
	FILE   *errs;
	int	fix;
	int	problems;
	uid_t	bridge_uid;
	gid_t	bridge_gid;
	gid_t	user_gid;
};

static void __attribute__((format(printf, 3, 4)))
problem(struct walk *w, const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(w->errs, "outbox %s: %s: ", w->s->customer, path);
	va_start(ap, fmt);
	vfprintf(w->errs, fmt, ap);
	va_end(ap);
	fputc('\n', w->errs);
	w->problems++;
}

/* chroot_parents - sshd's rule for every component above chroot. */
static void
chroot_parents(struct walk *w, const char *chroot)
{
	char buf[PATH_MAX], *p;
	struct stat st;

	if (strlcpy_(buf, chroot, sizeof(buf)) >= sizeof(buf)) {
		problem(w, chroot, "path too long");
		return;
	}
	for (p = buf;;) {
		char keep = *p;

		if (p != buf)
			*p = '\0';
		if (stat(p == buf ? "/" : buf, &st) == 0 &&
		    (st.st_uid != 0 || (st.st_mode & 022) != 0 ||
		    !S_ISDIR(st.st_mode)))
			problem(w, p == buf ? "/" : buf, "must be a directory "
			    "owned by root and writable only by root, or sshd "
			    "refuses the chroot below it");
		*p = keep;
		if ((p = strchr(p + 1, '/')) == NULL)
			break;
	}
}

/*
 * want_dir - path is a real directory with this owner and mode;
 * created or corrected when fixing.  -1 when it is missing or is not a
 * directory at the end.
 */
static int
want_dir(struct walk *w, const char *path, uid_t uid, gid_t gid,
    mode_t mode)
{
	struct stat st;

	if (lstat(path, &st) == -1) {
		if (errno != ENOENT || !w->fix) {
			problem(w, path, "%s", strerror(errno));
			return -1;
		}
		if (mkdir(path, mode) == -1) {
			problem(w, path, "cannot create: %s", strerror(errno));
			return -1;
		}
		if (lstat(path, &st) == -1) {
			problem(w, path, "%s", strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		problem(w, path, "is not a directory");
		return -1;
	}
	if (st.st_uid == uid && st.st_gid == gid &&
	    (st.st_mode & 07777) == mode)
		return 0;
	if (w->fix && chown(path, uid, gid) == 0 && chmod(path, mode) == 0)
		return 0;
	problem(w, path, "should be owned by %lu:%lu with mode %04o "
	    "(is %lu:%lu %04o)", (unsigned long)uid, (unsigned long)gid,
	    (unsigned)mode, (unsigned long)st.st_uid,
	    (unsigned long)st.st_gid, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* spool_outbox - <spool>/outbox exists (its modes are the spool's). */
static int
spool_outbox(struct walk *w, const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1 && errno == ENOENT && w->fix &&
	    (mkdir(path, 0700) == -1 ||
	    chown(path, w->bridge_uid, w->bridge_gid) == -1)) {
		problem(w, path, "cannot create: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		problem(w, path, "should be the spool's outbox directory");
		return -1;
	}
	return 0;
}

/* bundles - every bundle in the outbox readable by the user. */
static void
bundles(struct walk *w, const char *outbox)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if ((d = opendir(outbox)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    path_build(path, sizeof(path), "%s/%s", outbox,
		    e->d_name) == -1 || lstat(path, &st) == -1 ||
		    !S_ISREG(st.st_mode) ||
		    (st.st_mode & 07777) == OUTBOX_BUNDLE_MODE)
			continue;
		if (w->fix && chmod(path, OUTBOX_BUNDLE_MODE) == 0)
			continue;
		problem(w, path, "should have mode %04o so that %s can read "
		    "it (is %04o)", OUTBOX_BUNDLE_MODE, w->s->user,
		    (unsigned)(st.st_mode & 07777));
	}
	closedir(d);
}

/* link_to - <spool>/outbox/<customer> is a symlink to target. */
static void
link_to(struct walk *w, const char *link, const char *target)
{
	char got[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(link, &st) == 0 && S_ISDIR(st.st_mode) && w->fix &&
	    rmdir(link) == -1) {
		problem(w, link, "is a directory (%s): move its bundles to %s "
		    "and remove it", strerror(errno), target);
		return;
	}
	if (lstat(link, &st) == -1) {
		if (errno != ENOENT || !w->fix) {
			problem(w, link, "should be a symlink to %s (%s)",
			    target, strerror(errno));
			return;
		}
		if (symlink(target, link) == -1) {
			problem(w, link, "cannot create the symlink: %s",
			    strerror(errno));
			return;
		}
		if (lchown(link, w->bridge_uid, w->bridge_gid) == -1)
			problem(w, link, "lchown: %s", strerror(errno));
		io_fsync_parent(link);
		return;
	}
	if (!S_ISLNK(st.st_mode)) {
		problem(w, link, "should be a symlink to %s", target);
		return;
	}
	if ((n = readlink(link, got, sizeof(got) - 1)) == -1) {
		problem(w, link, "readlink: %s", strerror(errno));
		return;
	}
	got[n] = '\0';
	if (strcmp(got, target) != 0)
		problem(w, link, "points to %s, not %s", got, target);
}

/* accounts - look up the user and the bridge user. */
static int
accounts(struct walk *w)
{
	const struct outbox_spec *s = w->s;
	struct passwd *pw;

	if (!name_is_safe(s->customer) || !name_is_safe(s->user)) {
		problem(w, s->customer, "customer and user names must be "
		    "[A-Za-z0-9._-], not starting with '.' or '-'");
		return -1;
	}
	if ((pw = getpwnam(s->bridge_user)) == NULL) {
		problem(w, s->bridge_user, "no such user (the bridge user)");
		return -1;
	}
	w->bridge_uid = pw->pw_uid;
	w->bridge_gid = pw->pw_gid;
	if ((pw = getpwnam(s->user)) == NULL) {
		problem(w, s->user, "no such user (the customer's SSH user)");
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_uid == w->bridge_uid) {
		problem(w, s->user, "the SSH user must be an account of its "
		    "own, not root or the bridge user");
		return -1;
	}
	w->user_gid = pw->pw_gid;
	return 0;
}

static int
walk(const struct outbox_spec *s, FILE *errs, int fix)
{
	struct walk w;
	char root[PATH_MAX], box[PATH_MAX], sbox[PATH_MAX], link[PATH_MAX];
	struct stat a, b;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.errs = errs;
	w.fix = fix;
	if (s->chroot[0] != '/' || s->spool[0] != '/') {
		problem(&w, s->chroot, "spool and chroot must be absolute");
		return w.problems;
	}
	if (accounts(&w) == -1 ||
	    path_build(root, sizeof(root), "%s/%s", s->chroot, s->user) ==
	    -1 ||
	    path_build(box, sizeof(box), "%s/outbox", root) == -1 ||
	    path_build(sbox, sizeof(sbox), "%s/outbox", s->spool) == -1 ||
	    path_build(link, sizeof(link), "%s/%s", sbox, s->customer) == -1)
		return w.problems + (w.problems == 0);
	chroot_parents(&w, s->chroot);
	if (want_dir(&w, s->chroot, 0, 0, OUTBOX_CHROOT_MODE) == -1 ||
	    want_dir(&w, root, 0, 0, OUTBOX_CHROOT_MODE) == -1 ||
	    want_dir(&w, box, w.bridge_uid, w.user_gid, OUTBOX_DIR_MODE) ==
	    -1 || spool_outbox(&w, sbox) == -1)
		return w.problems;
	bundles(&w, box);
	link_to(&w, link, box);
	if (stat(sbox, &a) == 0 && stat(box, &b) == 0 && a.st_dev != b.st_dev)
		problem(&w, box, "is not on the filesystem of %s: the bundler "
		    "renames bundles into it", sbox);
	return w.problems;
}

int
outbox_prepare(const struct outbox_spec *s, FILE *errs)
{
	return walk(s, errs, 1);
}

int
outbox_check(const struct outbox_spec *s, FILE *errs)
{
	return walk(s, errs, 0);
}
