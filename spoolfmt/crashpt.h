/*
 * crashpt.h - named crash points for the crash tests: code that has
 * just made a step durable (DSNs committed, before the entry or bundle
 * they replace is touched) calls spool_crash_point("step"); a test
 * installs a hook that kills the process there.  Off (NULL) unless a
 * test sets it.
 */
#ifndef CRASHPT_H
#define CRASHPT_H

void	spool_crash_point(const char *step);
void	spool_set_crash_hook(void (*fn)(const char *step));

#endif
