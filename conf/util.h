/*
 * util.h - small helpers every module needs: the three outcomes,
 * sizes and durations as written in the configs, safe names and paths,
 * and whole-buffer I/O with the fsync discipline of the spool.
 */
#ifndef UTIL_H
#define UTIL_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Every delivery, injection, hand-off and commit ends in one of these. */
enum result {
	RS_OK = 0,	/* done: the next holder has it */
	RS_TEMP = 1,	/* try later: nothing lost, keep it */
	RS_PERM = 2	/* never: refuse or return it with a DSN */
};

/* sysexits(3) values, spelled out so FreeBSD and glibc agree. */
#define EXIT_OK		0
#define EXIT_USAGE	64
#define EXIT_DATAERR	65
#define EXIT_NOINPUT	66
#define EXIT_NOUSER	67
#define EXIT_UNAVAIL	69
#define EXIT_SOFTWARE	70
#define EXIT_OSERR	71
#define EXIT_CANTCREAT	73
#define EXIT_IOERR	74
#define EXIT_TEMPFAIL	75
#define EXIT_NOPERM	77
#define EXIT_CONFIG	78

/* "50M", "2G", "512K", "1024": bytes.  -1 on a malformed value. */
int	size_parse(const char *s, uint64_t *out);
/* "30s", "5m", "4h", "21d", "90": seconds.  -1 on a malformed value. */
int	duration_parse(const char *s, long *out);
/* 14400 -> "4h", 90 -> "90s": the largest unit that divides it. */
char   *duration_format(long secs, char *buf, size_t len);
/* 1536 -> "1.5K"; writes at most len bytes, always terminated. */
char   *size_format(uint64_t n, char *buf, size_t len);
/* 3725 -> "1h02m"; a compact age for queue listings. */
char   *age_format(long secs, char *buf, size_t len);

/*
 * A name that may become a path component: [A-Za-z0-9._-], 1..63 chars,
 * no leading '-' or '.'.  Customers and queue ids are checked with it
 * before they touch a path.
 */
int	name_is_safe(const char *s);
/* addr_is_numeric - is s an IPv4 or IPv6 address literal (no []). */
int	addr_is_numeric(const char *s);

/* snprintf into buf; -1 (errno ENAMETOOLONG) if it did not fit. */
int	path_build(char *buf, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* mkdir -p with mode for each missing component; -1 and errno on error. */
int	dir_make(const char *path, mode_t mode);

size_t	strlcpy_(char *dst, const char *src, size_t size);
/* sock_dir_safe - may a unix socket live in dir?  -1 with why if not. */
int	sock_dir_safe(const char *dir, int missing_ok, char *why,
	    size_t whylen);
/*
 * text_shown - a printable copy of what a client wrote (len octets,
 * its <> dropped, at most 100 characters), for replies.
 */
const char *text_shown(const char *p, size_t len, char *buf, size_t size);
/* err_set - snprintf a reason into err, which may be NULL (len 0). */
void	err_set(char *err, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* A growable list of malloc'd strings. */
struct strv {
	char  **v;
	size_t	n, cap;
};
/* strv_add - append a copy of s; -1 (ENOMEM) if it could not be. */
int	strv_add(struct strv *sv, const char *s);
/* strv_free - free v[0..n-1] and v. */
void	strv_free(char **v, size_t n);

/* write(2) until done; retries EINTR.  -1 and errno on error. */
int	io_write_all(int fd, const void *buf, size_t len);
/* open the directory read-only and fsync it. */
int	io_fsync_dir(const char *dir);
/* fsync the directory part of path. */
int	io_fsync_parent(const char *path);

/* Monotonic seconds as a double, for timings and timeouts. */
double	time_mono(void);

#endif
