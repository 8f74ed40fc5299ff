/*
 * linkwatch.h - the link probe and the routing socket (linkwatch.c).
 * The probe is a child process whose exit status is the answer: 0 the
 * connection was made, 1 not.
 */
#ifndef LINKWATCH_H
#define LINKWATCH_H

#include <sys/types.h>

/* linkwatch_probe_start - probe "host:port" (secs at most); the pid. */
pid_t	linkwatch_probe_start(const char *where, int secs);
/*
 * linkwatch_route_open - a non-blocking socket that becomes readable
 * when routes or addresses change; -1 where there is none.
 */
int	linkwatch_route_open(void);
/* linkwatch_route_drain - read all that is waiting; messages read. */
int	linkwatch_route_drain(int fd);

#endif
