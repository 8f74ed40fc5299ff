/*
 * crashpt.c - named crash points for the crash tests (crashpt.h).
 */
#include <stddef.h>

#include "crashpt.h"

static void (*hook)(const char *);

void
spool_set_crash_hook(void (*fn)(const char *step))
{
	hook = fn;
}

void
spool_crash_point(const char *step)
{
	if (hook != NULL)
		hook(step);
}
