/*
 * fuzztmp.h - the harnesses' own files: a temp directory per run under
 * $TMPDIR (however long its path: a cut template aborts, it is never
 * used cut) and files written in it with O_NOFOLLOW and mode 0600 from
 * the start, the input as an unlinked one.  Header-only.
 */
#ifndef FUZZTMP_H
#define FUZZTMP_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* fuzz_tmpdir - a fresh <TMPDIR>/<name>.XXXXXX into dir[PATH_MAX]. */
static void __attribute__((unused))
fuzz_tmpdir(char *dir, const char *name)
{
	const char *t = getenv("TMPDIR");
	int n;

	n = snprintf(dir, PATH_MAX, "%s/%s.XXXXXX", t != NULL ? t : "/tmp",
	    name);
	if (n < 0 || n >= PATH_MAX || mkdtemp(dir) == NULL)
		abort();
}

/*
 * fuzz_file - dir/name holding data: closed (0) when keep, else
 * unlinked and open at offset 0 (its descriptor).
 */
static int __attribute__((unused))
fuzz_file(const char *dir, const char *name, const void *data, size_t size,
    int keep)
{
	char path[PATH_MAX];
	int n, fd;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path) || (fd = open(path,
	    O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	if (keep) {
		close(fd);
		return 0;
	}
	unlink(path);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

#endif
