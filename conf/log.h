/*
 * log.h - the one logging module: syslog (facility mail) in daemons,
 * stderr in the foreground and in command-line tools.  Lines are
 * Postfix-style and name the queue id or customer they are about.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

#define LOG_TO_STDERR	0
#define LOG_TO_SYSLOG	1

void	log_init(const char *progname, int where);
void	log_set_debug(int on);
/* log_set_echo - with syslog, warnings are printed on stderr as well. */
void	log_set_echo(int on);
const char *log_progname(void);
/* log_last_warning - the text of the last warning logged, "" if none. */
const char *log_last_warning(void);
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_fatal(int ex, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
void	log_fatalx(int ex, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

#endif
