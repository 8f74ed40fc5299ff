/*
 * log.c - info/warn/warnx/debug/fatal to syslog (facility mail) or stderr.
 * warn appends strerror(errno); fatal exits with the sysexits code given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *log_name = "mailbridge";
static int log_where = LOG_TO_STDERR;
static int log_debugging;
static char log_last[512];	/* the last warning, for status reports */
static int log_echo;		/* syslog: warnings on stderr too */

void
log_init(const char *progname, int where)
{
	const char *p;

	if ((p = strrchr(progname, '/')) != NULL)
		progname = p + 1;
	log_name = progname;
	log_where = where;
	if (where == LOG_TO_SYSLOG)
		openlog(log_name, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_debug(int on)
{
	log_debugging = on;
}

void
log_set_echo(int on)
{
	log_echo = on;
}

const char *
log_progname(void)
{
	return log_name;
}

const char *
log_last_warning(void)
{
	return log_last;
}

static void
log_emit(int prio, const char *fmt, va_list ap, int with_errno)
{
	char buf[2048];
	int saved = errno;
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (with_errno) {
		n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(saved));
	}
	if (prio == LOG_WARNING)
		snprintf(log_last, sizeof(log_last), "%s", buf);
	if (log_where == LOG_TO_SYSLOG) {
		syslog(prio, "%s", buf);
		if (log_echo && prio <= LOG_WARNING)
			fprintf(stderr, "%s: %s%s\n", log_name,
			    prio == LOG_ERR ? "fatal: " : "", buf);
	} else
		fprintf(stderr, "%s: %s%s\n", log_name,
		    prio == LOG_ERR ? "fatal: " :
		    prio == LOG_WARNING ? "warning: " : "", buf);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debugging)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void
log_fatal(int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, fmt, ap, 1);
	va_end(ap);
	exit(ex);
}

void
log_fatalx(int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, fmt, ap, 0);
	va_end(ap);
	exit(ex);
}
