/*
 * util.c - sizes, durations, safe names and paths, durable I/O.
 * See util.h.  Nothing here allocates.
 */
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int
number_with_suffix(const char *s, const char *suffixes, const uint64_t *mult,
    uint64_t *out)
{
	uint64_t n = 0, m = 1;
	const char *p = s, *q;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p++ - '0');
	}
	if (*p != '\0') {
		if ((q = strchr(suffixes, *p)) == NULL || p[1] != '\0')
			return -1;
		m = mult[q - suffixes];
	}
	if (m != 1 && n > UINT64_MAX / m)
		return -1;
	*out = n * m;
	return 0;
}

int
size_parse(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = {
		1024, 1024, 1024ULL * 1024, 1024ULL * 1024,
		1024ULL * 1024 * 1024, 1024ULL * 1024 * 1024,
		1024ULL * 1024 * 1024 * 1024, 1024ULL * 1024 * 1024 * 1024,
	};

	if (s == NULL)
		return -1;
	return number_with_suffix(s, "kKmMgGtT", mult, out);
}

int
duration_parse(const char *s, long *out)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400, 604800 };
	uint64_t n;

	if (s == NULL || number_with_suffix(s, "smhdw", mult, &n) == -1 ||
	    n > LONG_MAX)
		return -1;
	*out = (long)n;
	return 0;
}

char *
size_format(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%llu", (unsigned long long)n);
		return buf;
	}
	while (v >= 1024.0 && u < 3) {
		v /= 1024.0;
		u++;
	}
	if (v < 10.0)
		snprintf(buf, len, "%.1f%c", v, units[u]);
	else
		snprintf(buf, len, "%.0f%c", v, units[u]);
	return buf;
}

char *
age_format(long secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, len, "%lds", secs);
	else if (secs < 3600)
		snprintf(buf, len, "%ldm%02lds", secs / 60, secs % 60);
	else if (secs < 86400)
		snprintf(buf, len, "%ldh%02ldm", secs / 3600, secs % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", secs / 86400,
		    secs % 86400 / 3600);
	return buf;
}

int
name_is_safe(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '-' || s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= 63)
			return 0;
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	}
	return 1;
}

int
path_build(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
dir_make(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (strlcpy_(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

size_t
strlcpy_(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n >= size ? size - 1 : n;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

void
err_set(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int
strv_add(struct strv *sv, const char *s)
{
	char **nv;
	size_t cap;

	if (sv->n == sv->cap) {
		cap = sv->cap ? sv->cap * 2 : 16;
		if ((nv = reallocarray(sv->v, cap, sizeof(*nv))) == NULL)
			return -1;
		sv->v = nv;
		sv->cap = cap;
	}
	if ((sv->v[sv->n] = strdup(s)) == NULL)
		return -1;
	sv->n++;
	return 0;
}

void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
io_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
io_fsync_dir(const char *dir)
{
	int fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
io_fsync_parent(const char *path)
{
	char buf[PATH_MAX];
	char *slash;

	if (strlcpy_(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(buf, '/')) == NULL)
		return io_fsync_dir(".");
	if (slash == buf)
		slash[1] = '\0';
	else
		*slash = '\0';
	return io_fsync_dir(buf);
}

double
time_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * sock_dir_safe - may a unix socket be bound (and a stale one
 * replaced) in dir?  Only when nobody else can rename or swap what is
 * there: dir and each directory above it belong to root or to us, dir
 * is writable by nobody else, and those above only with the sticky
 * bit.  With missing_ok, directories that do not exist yet count as
 * the 0755 ones the binder would make (for bridgectl check).
 */
int
sock_dir_safe(const char *dir, int missing_ok, char *why, size_t whylen)
{
	char p[PATH_MAX], *slash;
	struct stat st;
	int first = 1;

	if (strlcpy_(p, dir, sizeof(p)) >= sizeof(p)) {
		err_set(why, whylen, "path too long");
		return -1;
	}
	for (;;) {
		if (stat(p[0] != '\0' ? p : "/", &st) == -1) {
			if (errno != ENOENT || !missing_ok) {
				err_set(why, whylen, "%s: %s", p,
				    strerror(errno));
				return -1;
			}
			first = 0;
		} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
			err_set(why, whylen, "%s belongs to uid %ld; the "
			    "directory and those above it must be root's or "
			    "ours", p[0] != '\0' ? p : "/",
			    (long)st.st_uid);
			return -1;
		} else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		    (first || (st.st_mode & S_ISVTX) == 0)) {
			err_set(why, whylen, "%s is writable by others",
			    p[0] != '\0' ? p : "/");
			return -1;
		} else
			first = 0;
		if ((slash = strrchr(p, '/')) == NULL || p[0] == '\0')
			return 0;
		*slash = '\0';
	}
}

/* duration_format - "4h", "5d", "90m", "30s": a duration for people. */
char *
duration_format(long secs, char *buf, size_t len)
{
	if (secs > 0 && secs % 86400 == 0)
		snprintf(buf, len, "%ldd", secs / 86400);
	else if (secs > 0 && secs % 3600 == 0)
		snprintf(buf, len, "%ldh", secs / 3600);
	else if (secs > 0 && secs % 60 == 0)
		snprintf(buf, len, "%ldm", secs / 60);
	else
		snprintf(buf, len, "%lds", secs);
	return buf;
}

const char *
text_shown(const char *p, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	if (len > 0 && p[0] == '<')
		p++, len--;
	if (len > 0 && p[len - 1] == '>')
		len--;
	for (i = 0; i < len && o + 1 < size && o < 100; i++)
		buf[o++] = p[i] > ' ' && p[i] < 127 ? p[i] : '?';
	buf[o] = '\0';
	return buf;
}

int
addr_is_numeric(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}
