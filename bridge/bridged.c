/*
 * bridged.c - the hub daemon's start-up (bridged(8)): read the config,
 * prepare and recover the spool, bind every listener, drop root to
 * the configured user, go to the background unless -d, write the
 * pidfile, make the shared usage table, settle what a crash left of
 * bundling (as the bridge user, before any job runs), open the
 * control socket, then hand over to the master loop (master.c).
 *
 * Invariants: privileges are dropped before any client is accepted and
 * a failed drop is fatal; every start-up problem exits with a sysexits
 * code and a message naming it.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundler.h"
#include "log.h"
#include "queue.h"
#include "util.h"
#include "master.h"

#ifndef PREFIX
#define PREFIX "/usr/local"
#endif
#define DEFAULT_CONF	PREFIX "/etc/bridge/bridge.conf"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bridged [-d] [-c config]\n");
	exit(EXIT_USAGE);
}

/* own - give path to the bridge user when root prepared it. */
static void
own(const char *path, const struct passwd *pw)
{
	struct stat st;

	if (pw == NULL || lstat(path, &st) == -1 || !S_ISDIR(st.st_mode))
		return;
	if ((st.st_uid != pw->pw_uid || st.st_gid != pw->pw_gid) &&
	    lchown(path, pw->pw_uid, pw->pw_gid) == -1)
		log_fatal(EXIT_OSERR, "chown %s", path);
}

/*
 * spool_setup - the spool and every customer's queue, owned by the
 * bridge user when we run as root; leftovers of a crash recovered.
 */
static void
spool_setup(const struct bridge_conf *c, const struct passwd *pw)
{
	static const char *const sub[] = { "tmp", "new", "corrupt" };
	char path[1024];
	int i, k, moved;

	if (dir_make(c->spool, 0700) == -1)
		log_fatal(EXIT_CANTCREAT, "spool %s", c->spool);
	own(c->spool, pw);
	for (i = 0; i < c->ncustomers; i++) {
		const char *name = c->customers[i].name;

		if (spool_prepare(c->spool, name) != RS_OK)
			log_fatal(EXIT_CANTCREAT, "queue of %s in %s", name,
			    c->spool);
		if (path_build(path, sizeof(path), "%s/q", c->spool) == 0)
			own(path, pw);
		if (path_build(path, sizeof(path), "%s/q/%s", c->spool,
		    name) == 0)
			own(path, pw);
		for (k = 0; k < 3; k++)
			if (q_path(path, sizeof(path), c->spool, name, sub[k],
			    NULL) == 0)
				own(path, pw);
		if ((moved = spool_recover(c->spool, name)) > 0)
			log_warnx("%s: %d damaged entries moved to corrupt/",
			    name, moved);
	}
}

/*
 * bundles_recover - for every uucp and ssh customer, settle the
 * bundles a crash interrupted (bundler.h) before anything else touches
 * its queue or outbox.
 */
static void
bundles_recover(const struct bridge_conf *c)
{
	char err[256];
	int i;

	for (i = 0; i < c->ncustomers; i++) {
		if (!(c->customers[i].release & (REL_UUCP | REL_SSH)))
			continue;
		if (bundler_recover(c->spool, c->customers[i].name, err,
		    sizeof(err)) != RS_OK)
			log_warnx("%s: bundle recovery: %s",
			    c->customers[i].name, err);
	}
}

/* drop_privileges - become pw for good; fatal when that fails. */
static void
drop_privileges(const struct passwd *pw)
{
	if (pw == NULL)
		return;
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
		log_fatal(EXIT_OSERR, "cannot become user %s", pw->pw_name);
	if (setuid(0) != -1 || geteuid() == 0)
		log_fatalx(EXIT_OSERR, "still root after dropping to %s",
		    pw->pw_name);
	log_debug("running as %s (uid %ld)", pw->pw_name, (long)pw->pw_uid);
}

static void
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		log_fatal(EXIT_OSERR, "fork");
	if (pid > 0)
		_exit(EXIT_OK);
	if (setsid() == -1)
		log_fatal(EXIT_OSERR, "setsid");
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/*
 * pidfile_lock - open path and lock it for as long as the master lives
 * (the lock survives the fork into the background), so a second
 * bridged stops before it touches the spool or the sockets, and a
 * stale file left by a crash stops nobody.  Returns the locked fd.
 */
static int
pidfile_lock(const char *path)
{
	char buf[32];
	int fd, n;

	if (path == NULL)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1)
		log_fatal(EXIT_CANTCREAT, "pidfile %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = (int)read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_fatalx(EXIT_TEMPFAIL, "already running as pid %s (%s)",
		    buf, path);
	}
	return fd;
}

/* pidfile_put - our pid (after going to the background) into the file. */
static void
pidfile_put(int fd, const char *path)
{
	char buf[32];
	int n;

	if (fd == -1)
		return;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || lseek(fd, 0, SEEK_SET) == -1 ||
	    io_write_all(fd, buf, (size_t)n) == -1)
		log_fatal(EXIT_CANTCREAT, "pidfile %s", path);
}

/* conf_read - the config at start-up; problems to stderr, then exit 78. */
static struct bridge_conf *
conf_read(const char *path)
{
	struct bridge_conf *c;
	int nerr = 0;

	if ((c = conf_load(path, stderr, &nerr)) == NULL)
		log_fatalx(EXIT_CONFIG, "%s: %d problem%s, not started", path,
		    nerr, nerr == 1 ? "" : "s");
	return c;
}

/*
 * warm_up - load the time zone and the resolver and NSS configuration
 * once here, so that every session process inherits them.
 */
static void
warm_up(void)
{
	struct sockaddr_in sin;
	char host[256];

	tzset();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)getnameinfo((struct sockaddr *)&sin, sizeof(sin), host,
	    sizeof(host), NULL, 0, NI_NAMEREQD);
}

int
main(int argc, char *argv[])
{
	struct master m;
	struct passwd *pw = NULL;
	const char *path = DEFAULT_CONF;
	int ch, fg = 0;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			fg = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init(argv[0], fg ? LOG_TO_STDERR : LOG_TO_SYSLOG);
	log_set_debug(fg);
	/* bound the reverse lookups of the sessions (glibc, FreeBSD) */
	setenv("RES_OPTIONS", "timeout:3 attempts:1", 0);
	memset(&m, 0, sizeof(m));
	m.pidfd = -1;
	m.reqfd[0] = m.reqfd[1] = -1;
	m.ctlfd = -1;
	/* kept absolute: SIGHUP reloads it after the chdir to the spool */
	if (strcmp(path, CONF_BUILTIN) != 0 && (m.conf_path = realpath(path,
	    NULL)) == NULL)
		log_fatal(EXIT_CONFIG, "%s", path);
	if (m.conf_path == NULL)
		m.conf_path = path;
	m.conf = conf_read(m.conf_path);
	if (geteuid() == 0 && m.conf->user != NULL && *m.conf->user != '\0' &&
	    (pw = getpwnam(m.conf->user)) == NULL)
		log_fatalx(EXIT_CONFIG, "user %s does not exist",
		    m.conf->user);
	if (dir_make(m.conf->spool, 0700) == -1)
		log_fatal(EXIT_CANTCREAT, "spool %s", m.conf->spool);
	m.pidfd = pidfile_lock(m.conf->pidfile);
	if (m.conf->pidfile != NULL)
		m.pidfile = strdup(m.conf->pidfile);
	spool_setup(m.conf, pw);
	if (master_listen(&m) == -1)
		log_fatalx(EXIT_OSERR, "cannot listen; not started");
	drop_privileges(pw);
	if (chdir(m.conf->spool) == -1)
		log_fatal(EXIT_OSERR, "chdir %s", m.conf->spool);
	if (!fg)
		daemonize();
	pidfile_put(m.pidfd, m.pidfile);
	warm_up();
	if ((m.usage = usage_create(m.conf)) == NULL)
		log_warn("usage table: quotas read the spool per message");
	if (master_signals(&m) == -1)
		log_fatal(EXIT_OSERR, "signals");
	bundles_recover(m.conf);
	if (master_control(&m) == -1)
		log_fatalx(EXIT_OSERR, "cannot set up the jobs; not started");
	log_info("started: %s, spool %s, %d customers", path, m.conf->spool,
	    m.conf->ncustomers);
	master_loop(&m);
	return EXIT_OK;
}
