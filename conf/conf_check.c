/*
 * conf_check.c - what only an operator's check looks at beyond a load
 * (bridgectl check): secret files exist, are regular, private (mode
 * 0600 or stricter) and not empty.  Run as root with host set, also
 * what bridged started as root on this machine would refuse or get
 * wrong: its user exists and is not root, the spool is a directory of
 * root's or that user's (0700 when the user's), each unix listener's
 * directory is one nobody else can change (sock_dir_safe), the lmtp
 * group exists, and each secret file is that user's (bridged reads
 * them after dropping root).  Problems are collected with the load's
 * and printed in file and line order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"
#include "util.h"
#include "diag.h"

/* check_secret - the secret file exists, is private and not empty. */
static void
check_secret(struct diag *d, const char *file, int line, const char *path,
    const struct passwd *pw)
{
	struct stat st;
	char buf[2];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) == -1) {
		diag_add(d, file, line, "secret file %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode))
		diag_add(d, file, line, "secret file %s: not a regular file",
		    path);
	else if ((st.st_mode & 07177) != 0)
		diag_add(d, file, line, "secret file %s: mode %04o, must be "
		    "0600 or stricter", path, (unsigned)(st.st_mode & 07777));
	else if (pw != NULL && st.st_uid != pw->pw_uid)
		diag_add(d, file, line, "secret file %s: belongs to uid %ld; "
		    "bridged runs as %s and cannot read it", path,
		    (long)st.st_uid, pw->pw_name);
	else if ((n = read(fd, buf, 1)) <= 0 || buf[0] == '\n')
		diag_add(d, file, line, "secret file %s: %s", path,
		    n < 0 ? strerror(errno) : "first line is empty");
	close(fd);
}

/* check_user - the user bridged started as root runs as, or NULL. */
static struct passwd *
check_user(struct diag *d, const char *file, const struct bridge_conf *c)
{
	const char *name = BRIDGE_USER;
	struct passwd *pw;

	if (c->user != NULL && *c->user != '\0')
		name = c->user;
	if ((pw = getpwnam(name)) == NULL) {
		diag_add(d, file, 0, "user %s does not exist: bridged would "
		    "not start; create it (mk/users.sh) or name another in "
		    "user", name);
		return NULL;
	}
	if (pw->pw_uid == 0) {
		diag_add(d, file, 0, "user %s is root: bridged does not run "
		    "as root; name an unprivileged user in user", name);
		return NULL;
	}
	return pw;
}

/* check_spool - one bridged can take (it makes a missing one). */
static void
check_spool(struct diag *d, const char *file, const struct bridge_conf *c,
    const struct passwd *pw)
{
	struct stat st;

	if (stat(c->spool, &st) == -1) {
		if (errno != ENOENT)
			diag_add(d, file, 0, "spool %s: %s", c->spool,
			    strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode))
		diag_add(d, file, 0, "spool %s: not a directory", c->spool);
	else if (st.st_uid != 0 && pw != NULL && st.st_uid != pw->pw_uid)
		diag_add(d, file, 0, "spool %s belongs to uid %ld, not to the "
		    "hub's user %s (uid %ld): bridged would not start",
		    c->spool, (long)st.st_uid, pw->pw_name, (long)pw->pw_uid);
	else if (st.st_uid != 0 && (st.st_mode & 077) != 0)
		diag_add(d, file, 0, "spool %s: mode %04o, must be 0700 (other "
		    "users could read the mail)", c->spool,
		    (unsigned)(st.st_mode & 07777));
}

/* check_sockets - unix listeners bridged would bind, and their group. */
static void
check_sockets(struct diag *d, const char *file, const struct bridge_conf *c)
{
	const struct listeners *ls[3];
	char dir[PATH_MAX], why[PATH_MAX + 128], *slash;
	const char *spec;
	int i, j;

	ls[0] = &c->smtp.l;
	ls[1] = &c->lmtp.l;
	ls[2] = &c->odmr.l;
	for (i = 0; i < 3; i++)
		for (j = 0; j < ls[i]->nlisten; j++) {
			spec = ls[i]->listen[j];
			if (strncmp(spec, "unix:", 5) != 0 ||
			    strlcpy_(dir, spec + 5, sizeof(dir)) >= sizeof(dir) ||
			    (slash = strrchr(dir, '/')) == NULL || slash == dir)
				continue;
			*slash = '\0';
			if (sock_dir_safe(dir, 1, why, sizeof(why)) == -1)
				diag_add(d, file, 0, "listen %s: %s: bridged "
				    "would refuse to bind it", spec, why);
		}
	if (c->lmtp.group != NULL && getgrnam(c->lmtp.group) == NULL)
		diag_add(d, file, 0, "lmtp group %s does not exist: bridged "
		    "would not start", c->lmtp.group);
}

int
conf_check_load(const char *path, FILE *errs, int host,
    struct bridge_conf **out)
{
	struct conf_full *cf;
	struct passwd *pw = NULL;
	struct diag d;
	int i, n;

	if (out != NULL)
		*out = NULL;
	diag_init(&d, errs, 1);
	cf = conf_load_diag(path, &d);
	if (cf != NULL && host && geteuid() == 0) {
		pw = check_user(&d, path, &cf->pub);
		check_spool(&d, path, &cf->pub, pw);
		check_sockets(&d, path, &cf->pub);
	}
	if (cf != NULL)
		for (i = 0; i < cf->pub.ncustomers; i++)
			if (cf->pub.customers[i].secret != NULL)
				check_secret(&d, path, cf->cpriv[i].secret_line,
				    cf->pub.customers[i].secret, pw);
	diag_flush(&d);
	n = d.n;
	diag_free(&d);
	if (cf != NULL && n == 0 && out != NULL)
		*out = &cf->pub;
	else if (cf != NULL)
		conf_free(&cf->pub);
	return n;
}

int
conf_check(const char *path, FILE *errs)
{
	return conf_check_load(path, errs, 0, NULL);
}
