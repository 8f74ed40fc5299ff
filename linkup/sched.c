/*
 * sched.c - the time side of bridge-linkup: the clock (real, or a
 * test's file), exponential backoff with jitter, and the next second
 * a hub's windows allow.  Windows are local time (TZ), minute-exact.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linkup.h"
#include "util.h"

#define CLOCK_ENV	"BRIDGE_LINKUP_CLOCK"

int
sched_fake(void)
{
	const char *p = getenv(CLOCK_ENV);

	return p != NULL && *p != '\0';
}

time_t
sched_now(void)
{
	const char *p = getenv(CLOCK_ENV);
	char buf[32], *end;
	ssize_t n;
	long long v;
	int fd;

	if (p == NULL || *p == '\0')
		return time(NULL);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
		return time(NULL);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return time(NULL);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || v < 0)
		return time(NULL);
	return (time_t)v;
}

double
sched_jitter(void)
{
	static int seeded;

	if (!seeded) {
		srandom((unsigned)(getpid() ^ (unsigned)(time_mono() * 1e6)));
		seeded = 1;
	}
	return (double)(random() % 1000000) / 1e6;
}

long
sched_backoff(const struct leaf_hub *h, int n, double rnd)
{
	double d = (double)h->backoff_base;
	int i;

	for (i = 1; i < n && d < (double)h->backoff_ceiling; i++)
		d *= 2;
	if (d > (double)h->backoff_ceiling)
		d = (double)h->backoff_ceiling;
	d *= 0.8 + 0.4 * rnd;
	if (d > (double)h->backoff_ceiling)
		d = (double)h->backoff_ceiling;
	return d < 1 ? 1 : (long)d;
}

time_t
sched_window_next(const struct leaf_hub *h, time_t t)
{
	time_t m;
	int i;

	if (h->nwindows == 0 || conf_window_match(h->windows, h->nwindows, t))
		return t;
	/* windows open on a minute: try each minute start for 8 days */
	m = t - t % 60 + 60;
	for (i = 0; i < 8 * 24 * 60; i++, m += 60)
		if (conf_window_match(h->windows, h->nwindows, m))
			return m;
	return -1;
}
