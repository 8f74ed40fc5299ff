/*
 * conf_check.c - what only an operator's check looks at beyond a load
 * (bridgectl check): secret files exist, are regular, private (mode
 * 0600 or stricter), not empty and, when root checks a config naming
 * its user, that user's (bridged reads them after dropping root).
 * Problems are collected with the
 * load's and printed in file and line order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"
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

int
conf_check_load(const char *path, FILE *errs, struct bridge_conf **out)
{
	struct conf_full *cf;
	struct passwd *pw = NULL;
	struct diag d;
	int i, n;

	if (out != NULL)
		*out = NULL;
	diag_init(&d, errs, 1);
	cf = conf_load_diag(path, &d);
	if (cf != NULL && geteuid() == 0 && cf->pub.user != NULL &&
	    *cf->pub.user != '\0')
		pw = getpwnam(cf->pub.user);
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
	return conf_check_load(path, errs, NULL);
}
