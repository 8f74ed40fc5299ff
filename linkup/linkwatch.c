/*
 * linkwatch.c - how the daemon notices the link: a probe (a TCP
 * connection to link { probe }, made in a child process so that a
 * hanging resolver or connect never stalls the daemon) and, where the
 * system has one, a routing socket that says when addresses or routes
 * change (netlink on Linux, PF_ROUTE on the BSDs), after which the
 * daemon probes at once instead of waiting for `every`.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif
#if defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#include <net/route.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linkwatch.h"
#include "util.h"

/* probe_connect - one TCP connection to host:port within secs; 0 or -1. */
static int
probe_connect(const char *where, int secs)
{
	struct addrinfo hints, *res, *ai;
	struct pollfd pf;
	char host[256], *colon;
	const char *port;
	socklen_t len;
	int fd, err, rc = -1;

	if (strlcpy_(host, where, sizeof(host)) >= sizeof(host))
		return -1;
	if (host[0] == '[') {
		if ((colon = strstr(host, "]:")) == NULL)
			return -1;
		*colon = '\0';
		port = colon + 2;
		memmove(host, host + 1, strlen(host));
	} else {
		if ((colon = strrchr(host, ':')) == NULL)
			return -1;
		*colon = '\0';
		port = colon + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && rc == -1; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK,
		    ai->ai_protocol)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			rc = 0;
		else if (errno == EINPROGRESS) {
			pf.fd = fd;
			pf.events = POLLOUT;
			len = sizeof(err);
			if (poll(&pf, 1, secs * 1000) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) == 0 && err == 0)
				rc = 0;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

pid_t
linkwatch_probe_start(const char *where, int secs)
{
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	alarm((unsigned)secs + 5);	/* the resolver has no timeout of ours */
	_exit(probe_connect(where, secs) == 0 ? 0 : 1);
}

int
linkwatch_route_open(void)
{
#ifdef __linux__
	struct sockaddr_nl sa;
	int fd;

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    NETLINK_ROUTE)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
	    RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
#elif defined(PF_ROUTE)
	int fd = socket(PF_ROUTE, SOCK_RAW, 0);

	if (fd != -1) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, O_NONBLOCK);
	}
	return fd;
#else
	return -1;
#endif
}

int
linkwatch_route_drain(int fd)
{
	char buf[8192];
	int n = 0;

	while (read(fd, buf, sizeof(buf)) > 0)
		n++;
	return n;
}
