/*
 * qid.c - queue ids and queue paths (spoolfmt(5)).
 *
 * An id is 13 upper-case hex digits of microseconds since the epoch,
 * '.', the process id in hex, '.', a per-process counter in hex:
 * "0065A1B2C3D4E.1A2B.3".  The fixed-width time prefix makes ids sort
 * by time as strings; the pid separates processes that start in the
 * same microsecond, the counter separates ids of one process.  Within
 * one process the time part never repeats or goes backwards, so its ids
 * are strictly increasing even when the clock steps back.  Safe to call
 * from several threads.
 */
#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

#define QID_TIME_DIGITS	13
#define QID_PID_MAX	8	/* hex digits of a 32-bit pid */
#define QID_CTR_MAX	16	/* hex digits of a 64-bit counter */

static unsigned long long qid_last_us;
static unsigned long long qid_counter;

void
qid_new(char *buf, size_t len)
{
	struct timeval tv;
	unsigned long long us;

	unsigned long long last, ctr;

	gettimeofday(&tv, NULL);
	us = (unsigned long long)tv.tv_sec * 1000000ULL +
	    (unsigned long long)tv.tv_usec;
	last = __atomic_load_n(&qid_last_us, __ATOMIC_RELAXED);
	do {
		if (us <= last)
			us = last + 1;
	} while (!__atomic_compare_exchange_n(&qid_last_us, &last, us, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	ctr = __atomic_add_fetch(&qid_counter, 1, __ATOMIC_RELAXED);
	snprintf(buf, len, "%0*llX.%lX.%llX", QID_TIME_DIGITS,
	    us & 0xFFFFFFFFFFFFFULL, (unsigned long)getpid(), ctr);
}

/* hex_run - length of the run of upper-case hex digits at s. */
static size_t
hex_run(const char *s)
{
	size_t n = 0;

	while (isdigit((unsigned char)s[n]) || (s[n] >= 'A' && s[n] <= 'F'))
		n++;
	return n;
}

time_t
qid_time(const char *id)
{
	unsigned long long us = 0;
	int i, c;

	for (i = 0; i < QID_TIME_DIGITS; i++) {
		c = (unsigned char)id[i];
		if (c >= '0' && c <= '9')
			us = us * 16 + (unsigned)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			us = us * 16 + (unsigned)((c | 0x20) - 'a' + 10);
		else
			return 0;
	}
	return (time_t)(us / 1000000);
}

int
qid_is_valid(const char *id)
{
	size_t n;

	if (id == NULL || hex_run(id) != QID_TIME_DIGITS ||
	    id[QID_TIME_DIGITS] != '.')
		return 0;
	id += QID_TIME_DIGITS + 1;
	if ((n = hex_run(id)) < 1 || n > QID_PID_MAX || id[n] != '.')
		return 0;
	id += n + 1;
	if ((n = hex_run(id)) < 1 || n > QID_CTR_MAX || id[n] != '\0')
		return 0;
	return 1;
}

/*
 * q_path - "<spool>/q/<customer>/<sub>/<id>", or the directory itself
 * when id is NULL.  -1 (and no path) when customer, sub or id is not
 * acceptable or the path does not fit.
 */
int
q_path(char *buf, size_t len, const char *spool, const char *customer,
    const char *sub, const char *id)
{
	if (len > 0)
		buf[0] = '\0';
	if (!name_is_safe(customer) || sub == NULL ||
	    (strcmp(sub, "tmp") != 0 && strcmp(sub, "new") != 0 &&
	    strcmp(sub, "corrupt") != 0)) {
		errno = EINVAL;
		return -1;
	}
	if (id == NULL)
		return path_build(buf, len, "%s/q/%s/%s", spool, customer, sub);
	if (!qid_is_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	return path_build(buf, len, "%s/q/%s/%s/%s", spool, customer, sub, id);
}
