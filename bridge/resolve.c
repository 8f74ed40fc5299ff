/*
 * resolve.c - reverse DNS for the lookup process (resolve.h): a ring
 * of questions under one mutex, RESOLVE_THREADS threads that each take
 * one, call getnameinfo (bounded by RES_OPTIONS, which bridged sets)
 * and write the answer whole to a pipe (one struct, under PIPE_BUF, so
 * never interleaved), and the lookup's loop reading the pipe.
 *
 * Invariants: the threads touch nothing but the ring and the pipe; a
 * full ring, or threads that would not start, give "unknown" at once,
 * never a wait; a name with anything but letters, digits, '-', '_' and
 * '.' in it (it goes into a Received: header) is "unknown".
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "resolve.h"

#define RESOLVE_THREADS	4
#define RESOLVE_RING	4096

struct question {
	uint32_t serial;
	char	peer[64];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static struct question ring[RESOLVE_RING];
static unsigned head, count;
static int pipefd[2] = { -1, -1 };

/* lookup - the name of numeric address peer, or "unknown". */
static void
lookup(const char *peer, char *name, size_t len)
{
	struct addrinfo hints, *ai;
	const char *p;

	strlcpy_(name, "unknown", len);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(peer, NULL, &hints, &ai) != 0)
		return;
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, name, len, NULL, 0,
	    NI_NAMEREQD) != 0)
		strlcpy_(name, "unknown", len);
	freeaddrinfo(ai);
	for (p = name; *p != '\0'; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789-_.", *p) == NULL) {
			strlcpy_(name, "unknown", len);
			break;
		}
	if (*name == '\0')
		strlcpy_(name, "unknown", len);
}

static void *
worker(void *arg)
{
	struct question q;
	struct resolved a;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (count == 0)
			pthread_cond_wait(&more, &lock);
		q = ring[head];
		head = (head + 1) % RESOLVE_RING;
		count--;
		pthread_mutex_unlock(&lock);
		memset(&a, 0, sizeof(a));
		a.serial = q.serial;
		lookup(q.peer, a.name, sizeof(a.name));
		/* whole or not at all: sizeof(a) < PIPE_BUF */
		while (write(pipefd[1], &a, sizeof(a)) == -1 && errno == EINTR)
			;
	}
	return NULL;
}

int
resolve_start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int i, started = 0;

	if (pipe2(pipefd, O_CLOEXEC) == -1 ||
	    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) == -1) {
		log_warn("lookup: reverse DNS pipe");
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* the threads take no signal: the loop's ppoll gets them all */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < RESOLVE_THREADS; i++)
		if (pthread_create(&t, &attr, worker, NULL) == 0)
			started++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (started == 0) {
		log_warnx("lookup: no reverse DNS threads: names are looked "
		    "up in turn");
		close(pipefd[0]);
		close(pipefd[1]);
		pipefd[0] = pipefd[1] = -1;
		return -1;
	}
	return pipefd[0];
}

int
resolve_ask(uint32_t serial, const char *peer, struct resolved *out)
{
	struct question *q;

	memset(out, 0, sizeof(*out));
	out->serial = serial;
	if (pipefd[1] == -1) {
		lookup(peer, out->name, sizeof(out->name));
		return 1;
	}
	pthread_mutex_lock(&lock);
	if (count == RESOLVE_RING) {
		pthread_mutex_unlock(&lock);
		strlcpy_(out->name, "unknown", sizeof(out->name));
		return 1;
	}
	q = &ring[(head + count) % RESOLVE_RING];
	q->serial = serial;
	strlcpy_(q->peer, peer, sizeof(q->peer));
	count++;
	pthread_cond_signal(&more);
	pthread_mutex_unlock(&lock);
	return 0;
}

int
resolve_answer(struct resolved *out)
{
	ssize_t n;

	if (pipefd[0] == -1)
		return 0;
	do
		n = read(pipefd[0], out, sizeof(*out));
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(*out))
		return 0;
	out->name[sizeof(out->name) - 1] = '\0';
	return 1;
}
