/*
 * conf_check.c - what only an operator's check looks at beyond a load
 * (bridgectl check): the tls cert and key are files, the key not
 * open to others; secret files exist, are regular, private (mode
 * 0600 or stricter) and not empty.  Run as root with host set, also
 * what bridged started as root on this machine would refuse or get
 * wrong: its user exists and is not root, the spool is a directory of
 * root's or that user's (0700 when the user's), each unix listener's
 * directory is one nobody else can change (sock_dir_safe), the lmtp
 * group exists, the session processes' user and root directory and
 * the lookup process's user will do (conf_session_check,
 * conf_lookup_check), and each secret file is the lookup user's (the
 * lookup process reads them as that user).  Problems are collected with the load's
 * and printed in file and line order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
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
		    "bridged's lookup process runs as %s and cannot read it "
		    "(chown it to %s)", path, (long)st.st_uid, pw->pw_name,
		    pw->pw_name);
	else if ((n = read(fd, buf, 1)) <= 0 || buf[0] == '\n')
		diag_add(d, file, line, "secret file %s: %s", path,
		    n < 0 ? strerror(errno) : "first line is empty");
	close(fd);
}

/*
 * check_tls - tls { cert key }: both are regular files, and the key is
 * not open to others (its group may read it: ssl-cert style setups).
 * Whether they load and match is bridgectl check's (tls.h).
 */
static void
check_tls(struct diag *d, const char *file, const struct bridge_conf *c)
{
	const char *what[2] = { "cert", "key" }, *path[2];
	struct stat st;
	int i;

	path[0] = c->tls.cert;
	path[1] = c->tls.key;
	for (i = 0; i < 2 && path[0] != NULL; i++) {
		if (stat(path[i], &st) == -1)
			diag_add(d, file, 0, "tls %s %s: %s", what[i], path[i],
			    strerror(errno));
		else if (!S_ISREG(st.st_mode))
			diag_add(d, file, 0, "tls %s %s: not a regular file",
			    what[i], path[i]);
		else if (i == 1 && (st.st_mode & 0007) != 0)
			diag_add(d, file, 0, "tls key %s: mode %04o: others "
			    "may read it (chmod o-rwx)", path[i],
			    (unsigned)(st.st_mode & 07777));
	}
}

/* check_user - the user bridged started as root runs as, or NULL. */
static struct passwd *
check_user(struct diag *d, const char *file, const struct bridge_conf *c)
{
	static struct passwd hub;
	static char hub_name[256];
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
	/* a copy: the next getpwnam overwrites what pw points to */
	strlcpy_(hub_name, pw->pw_name, sizeof(hub_name));
	memset(&hub, 0, sizeof(hub));
	hub.pw_name = hub_name;
	hub.pw_uid = pw->pw_uid;
	hub.pw_gid = pw->pw_gid;
	return &hub;
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

/*
 * own_user - the user named by key (name) exists and is neither root,
 * the hub's user nor (other set) the user named by okey: its uid and
 * gid, or -1 with the problem in err, ending in why.
 */
static int
own_user(const struct bridge_conf *c, const char *key, const char *name,
    const char *okey, const char *other, const char *why, uid_t *uid,
    gid_t *gid, char *err, size_t len)
{
	const char *hub;
	struct passwd *pw;
	uid_t hub_uid, other_uid = 0;
	int have_other = 0;

	hub = c->user != NULL && *c->user != '\0' ? c->user : BRIDGE_USER;
	if ((pw = getpwnam(hub)) == NULL) {
		snprintf(err, len, "user %s does not exist", hub);
		return -1;
	}
	hub_uid = pw->pw_uid;
	if (other != NULL && (pw = getpwnam(other)) != NULL) {
		other_uid = pw->pw_uid;
		have_other = 1;
	}
	if ((pw = getpwnam(name)) == NULL) {
		snprintf(err, len, "%s %s does not exist: create it "
		    "(mk/users.sh) or name another in %s", key, name, key);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_uid == hub_uid ||
	    (have_other && pw->pw_uid == other_uid)) {
		snprintf(err, len, "%s %s is %s%s: %s", key, name,
		    pw->pw_uid == 0 ? "root" :
		    pw->pw_uid == hub_uid ? "the hub's user" : "the ",
		    pw->pw_uid != 0 && pw->pw_uid != hub_uid ? okey : "", why);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
conf_lookup_check(const struct bridge_conf *c, uid_t *uid, gid_t *gid,
    char *err, size_t len)
{
	return own_user(c, "lookup-user", c->lookup_user != NULL ?
	    c->lookup_user : BRIDGE_LOOKUP_USER, "session-user",
	    c->session_user != NULL ? c->session_user : BRIDGE_SESSION_USER,
	    "the lookup process must run as a user of its own", uid, gid,
	    err, len);
}

int
conf_session_check(const struct bridge_conf *c, int make, uid_t *uid,
    gid_t *gid, char *err, size_t len)
{
	const char *dir;
	char why[PATH_MAX + 128];
	struct stat st;

	dir = c->session_chroot != NULL ? c->session_chroot :
	    BRIDGE_SESSION_CHROOT;
	if (own_user(c, "session-user", c->session_user != NULL ?
	    c->session_user : BRIDGE_SESSION_USER, NULL, NULL,
	    "the sessions must run as a user of their own", uid, gid, err,
	    len) == -1)
		return -1;
	if (make && mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, len, "session-chroot %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1) {
		if (errno == ENOENT && !make)
			return 0;	/* bridged makes it */
		snprintf(err, len, "session-chroot %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		snprintf(err, len, "session-chroot %s: must be a directory of "
		    "root's that nobody else may write (it is %s, uid %ld, "
		    "mode %04o)", dir, S_ISDIR(st.st_mode) ? "a directory" :
		    "not a directory", (long)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	/* nobody but root can swap it for another (sshd's rule) */
	if (sock_dir_safe(dir, 0, why, sizeof(why)) == -1) {
		snprintf(err, len, "session-chroot %s: %s", dir, why);
		return -1;
	}
	return 0;
}

/*
 * check_session - the session processes' user and root directory, and
 * the lookup process's user: that user, who must own the secrets
 * (NULL when it will not do).
 */
static struct passwd *
check_session(struct diag *d, const char *file, const struct bridge_conf *c)
{
	static struct passwd lka;
	static char lka_name[256];
	char err[PATH_MAX + 256];
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (conf_session_check(c, 0, &uid, &gid, err, sizeof(err)) == -1)
		diag_add(d, file, 0, "%s: bridged would not start", err);
	if (conf_lookup_check(c, &uid, &gid, err, sizeof(err)) == -1) {
		diag_add(d, file, 0, "%s: bridged would not start", err);
		return NULL;
	}
	if ((pw = getpwuid(uid)) == NULL)
		return NULL;
	strlcpy_(lka_name, pw->pw_name, sizeof(lka_name));
	memset(&lka, 0, sizeof(lka));
	lka.pw_name = lka_name;
	lka.pw_uid = uid;
	lka.pw_gid = gid;
	return &lka;
}

/* check_sockets - unix listeners bridged would bind, and their group. */
static void
check_sockets(struct diag *d, const char *file, const struct bridge_conf *c)
{
	const struct listeners *ls[5];
	char dir[PATH_MAX], why[PATH_MAX + 128], *slash;
	const char *spec;
	int i, j;

	ls[0] = &c->smtp.l;
	ls[1] = &c->lmtp.l;
	ls[2] = &c->odmr.l;
	ls[3] = &c->enqueue.l;
	ls[4] = &c->control.l;
	for (i = 0; i < 5; i++)
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
	if (c->enqueue.group != NULL && getgrnam(c->enqueue.group) == NULL)
		diag_add(d, file, 0, "enqueue group %s does not exist: "
		    "bridged would not start", c->enqueue.group);
	if (c->control.group != NULL && getgrnam(c->control.group) == NULL)
		diag_add(d, file, 0, "control group %s does not exist: "
		    "bridged would not start", c->control.group);
}

int
conf_check_load(const char *path, FILE *errs, int host,
    struct bridge_conf **out)
{
	struct conf_full *cf;
	struct passwd *pw = NULL, *lka = NULL;
	struct diag d;
	int i, n;

	if (out != NULL)
		*out = NULL;
	diag_init(&d, errs, 1);
	cf = conf_load_diag(path, &d);
	if (cf != NULL && host && geteuid() == 0) {
		pw = check_user(&d, path, &cf->pub);
		check_spool(&d, path, &cf->pub, pw);
		if (pw != NULL)
			lka = check_session(&d, path, &cf->pub);
		check_sockets(&d, path, &cf->pub);
	}
	if (cf != NULL)
		check_tls(&d, path, &cf->pub);
	if (cf != NULL)
		for (i = 0; i < cf->pub.ncustomers; i++)
			if (cf->pub.customers[i].secret != NULL)
				check_secret(&d, path, cf->cpriv[i].secret_line,
				    cf->pub.customers[i].secret, lka);
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
