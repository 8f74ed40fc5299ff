/*
 * bridged.c - the hub daemon's start-up (bridged(8)).  As root: read
 * the config, find the hub's user (bridge.conf's user, else _bridge;
 * never root), open bridged's own executable, give the user the spool
 * directory, take the pidfile lock and bind every listener.  Then drop
 * to that user for good, go to the background unless -d, write the
 * pidfile, make the shared usage table, start the queue process (which
 * prepares and recovers every customer's queue, as that user, before
 * it is ready: queued.c), settle what a crash left of bundling, open
 * the control socket and hand over to the master loop (master.c).
 * "bridged -x queue" is the queue process itself, "bridged -x lookup"
 * the lookup process (never by hand).
 *
 * Invariants: nothing inside the spool is read, written or followed
 * as root (only the pidfile, which is replaced when it is not a plain
 * file of root's); privileges are dropped before any client is
 * accepted and a failed drop is fatal; every start-up problem exits
 * with a sysexits code and a message naming it.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/socket.h>
#if defined(__FreeBSD__)
#include <sys/sysctl.h>
#endif
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
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
#include "tls.h"
#include "util.h"
#include "master.h"
#include "lookupd.h"
#include "sessiond.h"
#include "queued.h"
#include "spawner.h"

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

/*
 * hub_user - the user the hub runs as when started as root: the
 * config's user, else BRIDGE_USER.  Not root; it must exist (exit 78
 * naming the key otherwise).  NULL when not started as root: then the
 * hub runs as whoever started it.
 */
static struct passwd *
hub_user(const struct bridge_conf *c)
{
	static struct passwd hub;
	const char *name = BRIDGE_USER;
	struct passwd *pw;

	if (geteuid() != 0)
		return NULL;
	if (c->user != NULL && *c->user != '\0')
		name = c->user;
	if ((pw = getpwnam(name)) == NULL)
		log_fatalx(EXIT_CONFIG, "user %s does not exist: create it "
		    "(mk/users.sh) or name another in bridge.conf's user",
		    name);
	if (pw->pw_uid == 0)
		log_fatalx(EXIT_CONFIG, "user %s is root: bridged does not run "
		    "as root; name an unprivileged user in bridge.conf's user",
		    name);
	/* a copy: the next getpwnam overwrites what it points to */
	memset(&hub, 0, sizeof(hub));
	if ((hub.pw_name = strdup(pw->pw_name)) == NULL)
		log_fatal(EXIT_OSERR, "user %s", name);
	hub.pw_uid = pw->pw_uid;
	hub.pw_gid = pw->pw_gid;
	return &hub;
}

/*
 * session_user - started as root: the session processes' user and
 * root directory will do (conf_session_check; the directory is made
 * when missing), and the lookup process's user (conf_lookup_check), or
 * exit 78 naming the key.
 */
static void
session_user(const struct bridge_conf *c, const struct passwd *pw)
{
	char err[1024];
	uid_t uid;
	gid_t gid;

	if (pw == NULL)
		return;
	if (conf_session_check(c, 1, &uid, &gid, err, sizeof(err)) == -1)
		log_fatalx(EXIT_CONFIG, "%s; not started", err);
	log_debug("sessions run as uid %ld, chrooted to %s", (long)uid,
	    c->session_chroot != NULL ? c->session_chroot :
	    BRIDGE_SESSION_CHROOT);
	if (conf_lookup_check(c, &uid, &gid, err, sizeof(err)) == -1)
		log_fatalx(EXIT_CONFIG, "%s; not started", err);
	log_debug("the lookup process runs as uid %ld", (long)uid);
}

/*
 * spool_own - as root, before the drop: the spool's parents exist
 * (0755 when made here) and the spool is a 0700 directory of the hub's
 * user; one root made is given to it, one of another user is fatal.
 * Nothing inside it is touched as root.
 */
static void
spool_own(const struct bridge_conf *c, const struct passwd *pw)
{
	char parent[1024], *slash;
	struct stat st;
	int fd;

	if (pw == NULL) {
		if (dir_make(c->spool, 0700) == -1)
			log_fatal(EXIT_CANTCREAT, "spool %s", c->spool);
		return;
	}
	if (strlcpy_(parent, c->spool, sizeof(parent)) >= sizeof(parent))
		log_fatalx(EXIT_CONFIG, "spool %s: path too long", c->spool);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		if (dir_make(parent, 0755) == -1)
			log_fatal(EXIT_CANTCREAT, "spool's parent %s", parent);
	}
	if (mkdir(c->spool, 0700) == -1 && errno != EEXIST)
		log_fatal(EXIT_CANTCREAT, "spool %s", c->spool);
	if ((fd = open(c->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1)
		log_fatal(EXIT_CANTCREAT, "spool %s", c->spool);
	if (st.st_uid == 0 && (fchown(fd, pw->pw_uid, pw->pw_gid) == -1 ||
	    fchmod(fd, 0700) == -1))
		log_fatal(EXIT_OSERR, "spool %s: giving it to %s", c->spool,
		    pw->pw_name);
	else if (st.st_uid != 0 && st.st_uid != pw->pw_uid)
		log_fatalx(EXIT_CONFIG, "spool %s belongs to uid %ld, not to "
		    "the hub's user %s (uid %ld)", c->spool, (long)st.st_uid,
		    pw->pw_name, (long)pw->pw_uid);
	close(fd);
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

/*
 * drop_privileges - become pw for good: its uid, its passwd group and
 * no other group (no group of root's or the user's survives); fatal
 * when that fails.
 */
static void
drop_privileges(const struct passwd *pw)
{
	if (pw == NULL)
		return;
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
		log_fatal(EXIT_OSERR, "cannot become user %s", pw->pw_name);
	if (setuid(0) != -1 || geteuid() == 0)
		log_fatalx(EXIT_OSERR, "still root after dropping to %s",
		    pw->pw_name);
	log_debug("running as %s (uid %ld)", pw->pw_name, (long)pw->pw_uid);
}

/*
 * spool_reachable - before anything forks: can the hub's user reach
 * the spool?  Tried with its effective ids (and its group alone), so
 * the answer is on stderr, not in a daemon's log.
 */
static void
spool_reachable(const struct bridge_conf *c, const struct passwd *pw)
{
	int fd, e;

	if (pw == NULL)
		return;
	if (setgroups(1, &pw->pw_gid) == -1 || setegid(pw->pw_gid) == -1 ||
	    seteuid(pw->pw_uid) == -1)
		log_fatal(EXIT_OSERR, "cannot become user %s", pw->pw_name);
	fd = open(c->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e = errno;
	if (seteuid(0) == -1 || setegid(0) == -1)
		log_fatal(EXIT_OSERR, "cannot become root again");
	if (fd == -1) {
		errno = e;
		log_fatal(EXIT_OSERR, "spool %s is not reachable as %s",
		    c->spool, pw->pw_name);
	}
	close(fd);
}

/*
 * spawner - as root, after going to the background: the spawner of
 * the session processes (spawner.h), a child of the master; its socket
 * into m->sp.
 */
static void
spawner(struct master *m, int selffd, int fg)
{
	static struct spawner_args a;
	static int fds[64];
	int i, n = 0, sock;

	for (i = 0; i < m->nl && n < 62; i++)
		fds[n++] = m->l[i].fd;
	fds[n++] = m->pidfd;
	fds[n++] = m->ctlfd;		/* control { listen }, if bound */
	a.selffd = selffd;
	a.conf_path = m->conf_path;
	a.fg = fg;
	a.close_fds = fds;
	a.nclose = n;
	if ((sock = spawner_start(&a, &m->sppid)) == -1)
		log_fatal(EXIT_OSERR, "cannot start the spawner");
	if (fcntl(sock, F_SETFL, O_NONBLOCK) == -1)
		log_fatal(EXIT_OSERR, "spawner");
	chan_init(&m->sp, sock, 4096);
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
	struct stat st;
	char buf[32];
	int fd, n;

	if (path == NULL)
		return -1;
	/*
	 * The default pidfile is in the spool, whose owner is not root: a
	 * symlink, a fifo or a hard link planted there is never written
	 * as root; it is replaced by a fresh file.
	 */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0644);
	/* a symlink: ELOOP, or EMLINK on FreeBSD */
	if (fd == -1 && errno != ELOOP && errno != EMLINK)
		log_fatal(EXIT_CANTCREAT, "pidfile %s", path);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || st.st_uid != geteuid()) {
		if (fd != -1)
			close(fd);
		log_warnx("pidfile %s: not a plain file of ours, replaced",
		    path);
		if ((unlink(path) == -1 && errno != ENOENT) ||
		    (fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0644)) == -1)
			log_fatal(EXIT_CANTCREAT, "pidfile %s", path);
	}
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
 * tls_check - the tls section loads (chain, key, their match), or the
 * hub does not start (78); without one, AUTH CRAM-MD5 in clear is
 * worth a warning.
 */
static void
tls_check(const struct bridge_conf *c)
{
	char err[700];
	void *ctx;
	int i;

	if (c->tls.cert == NULL) {
		for (i = 0; i < c->ncustomers; i++)
			if (c->customers[i].secret != NULL)
				break;
		if (i < c->ncustomers)
			log_warnx("no tls section: AUTH CRAM-MD5 goes in "
			    "clear (see bridge.conf(5), tls)");
		return;
	}
	if ((ctx = tls_server_new(c, err, sizeof(err))) == NULL)
		log_fatalx(EXIT_CONFIG, "tls: %s; not started", err);
	tls_server_free(ctx);
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

/*
 * open_self - bridged's own executable, opened while still root so the
 * queue process can be exec'd from it (fexecve) whatever the hub's user
 * may search.
 */
static int
open_self(const char *argv0)
{
	int fd = -1;
#if defined(__linux__)
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
#elif defined(__FreeBSD__)
	int mib[4] = { CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1 };
	char path[PATH_MAX];
	size_t len = sizeof(path);

	if (sysctl(mib, 4, path, &len, NULL, 0) == 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
#endif
	if (fd == -1 && strchr(argv0, '/') != NULL)
		fd = open(argv0, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		log_fatal(EXIT_OSERR, "cannot open my own executable (%s); "
		    "start bridged by its path", argv0);
	return fd;
}

int
main(int argc, char *argv[])
{
	struct master m;
	struct passwd *pw = NULL;
	const char *path = DEFAULT_CONF, *proc = NULL;
	int ch, fg = 0, restarted = 0, selffd;

	while ((ch = getopt(argc, argv, "c:dRx:")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			fg = 1;
			break;
		case 'R':
			restarted = 1;
			break;
		case 'x':
			proc = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init(argv[0], fg ? LOG_TO_STDERR : LOG_TO_SYSLOG);
	log_set_debug(fg);
	if (proc != NULL && strcmp(proc, "queue") == 0 && getuid() != 0)
		queue_main(restarted);		/* the master's child */
	if (proc != NULL && strcmp(proc, "lookup") == 0)
		lookup_main(path);	/* the master's or the spawner's child */
	if (proc != NULL && strcmp(proc, "session") == 0)
		session_main(path);	/* the master's or the spawner's child */
	if (proc != NULL)
		log_fatalx(EXIT_USAGE, "-x %s: not a process of bridged (and "
		    "never started by hand)", proc);
	selffd = open_self(argv[0]);
	/* bound the reverse lookups of the sessions (glibc, FreeBSD) */
	setenv("RES_OPTIONS", "timeout:3 attempts:1", 0);
	memset(&m, 0, sizeof(m));
	m.pidfd = -1;
	m.selffd = -1;
	m.ctlfd = -1;
	m.sp.sock = -1;
	/* kept absolute: SIGHUP reloads it after the chdir to the spool */
	if (strcmp(path, CONF_BUILTIN) != 0 && (m.conf_path = realpath(path,
	    NULL)) == NULL)
		log_fatal(EXIT_CONFIG, "%s", path);
	if (m.conf_path == NULL)
		m.conf_path = path;
	m.conf = conf_read(m.conf_path);
	/*
	 * the builtin config puts the spool under the working directory:
	 * pin it, for the reloads after the chdir and for the lookup and
	 * session processes, which read the config again from the spool
	 */
	if (strcmp(path, CONF_BUILTIN) == 0 &&
	    setenv("BRIDGE_SPOOL", m.conf->spool, 1) == -1)
		log_fatal(EXIT_OSERR, "setenv");
	tls_check(m.conf);
	pw = hub_user(m.conf);
	session_user(m.conf, pw);
	spool_own(m.conf, pw);
	m.pidfd = pidfile_lock(m.conf->pidfile);
	if (m.conf->pidfile != NULL)
		m.pidfile = strdup(m.conf->pidfile);
	if (master_listen(&m) == -1)
		log_fatalx(EXIT_OSERR, "cannot listen; not started");
	spool_reachable(m.conf, pw);
	if (!fg)
		daemonize();
	if (pw != NULL)
		spawner(&m, selffd, fg);
	drop_privileges(pw);
	if (chdir(m.conf->spool) == -1)
		log_fatal(EXIT_OSERR, "spool %s is not reachable as %s",
		    m.conf->spool, pw != NULL ? pw->pw_name : "this user");
	pidfile_put(m.pidfd, m.pidfile);
	warm_up();
	if ((m.usage = usage_create(m.conf)) == NULL)
		log_warn("usage table: quotas read the spool per message");
	if (master_signals(&m) == -1)
		log_fatal(EXIT_OSERR, "signals");
	if (master_procs(&m, selffd, fg) == -1)
		log_fatalx(EXIT_OSERR, "the lookup or queue process did not "
		    "start; not started");
	bundles_recover(m.conf);
	if (master_control(&m) == -1)
		log_fatalx(EXIT_OSERR, "cannot set up the jobs; not started");
	if (master_enqueue(&m) == -1)
		log_fatalx(EXIT_OSERR, "cannot listen on the enqueue socket; "
		    "not started");
	log_info("started: %s, spool %s, %d customers", path, m.conf->spool,
	    m.conf->ncustomers);
	master_loop(&m);
	return EXIT_OK;
}
