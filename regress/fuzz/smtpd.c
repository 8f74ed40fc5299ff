/*
 * smtpd.c - fuzz harness for the SMTP/LMTP server session
 * (etrn/smtpd.c with smtp_io.c, intake.c, addr.c, dsnparam.c, cram.c):
 * the input is what a client sends, whole, read from a file up to its
 * EOF; the replies go to /dev/null.  An input starting with LHLO is an
 * LMTP session.  The configuration is built in (two customers, a
 * recipient list, routes with an error: value, small limits, AUTH
 * with a secret); the spool is a temp directory per run whose queue
 * entries are removed every few hundred inputs and at exit.  No
 * network: ETRN's request to the master goes nowhere (reqfd -1).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "fuzztmp.h"
#include "log.h"
#include "rcptlist.h"
#include "routes.h"
#include "queue.h"
#include "util.h"
#include "smtpd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char spool[PATH_MAX];
static struct customer custs[2];
static struct bridge_conf conf;
static int devnull = -1;
static unsigned runs;

static const char routes_text[] =
    "acme.test      acme\n"
    ".acme.test     acme\n"
    "ship.test      ship\n"
    "gone.test      error:5.1.2 this domain has moved\n"
    "later.test     error:4.4.0 try again later\n";

/* rmtree - remove path and everything under it (no symlinks are made). */
static void
rmtree(const char *path, int self)
{
	char sub[PATH_MAX + 64];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
				rmtree(sub, 1);
			else
				unlink(sub);
		}
		closedir(d);
	}
	if (self)
		rmdir(path);
}

/* sweep - empty the customers' queues (tmp, new, corrupt). */
static void
sweep(void)
{
	static const char *sub[] = { "tmp", "new", "corrupt" };
	char path[PATH_MAX + 64];
	size_t i, j;

	for (i = 0; i < 2; i++)
		for (j = 0; j < 3; j++) {
			snprintf(path, sizeof(path), "%s/q/%s/%s", spool,
			    custs[i].name, sub[j]);
			rmtree(path, 0);
		}
}

static void
cleanup(void)
{
	rmtree(spool, 1);
}

static void
setup(void)
{
	char path[PATH_MAX + 64];
	int nerr = 0, i;

	fuzz_tmpdir(spool, "fuzz-smtpd");
	atexit(cleanup);
	log_init("fuzz-smtpd", LOG_TO_STDERR);
	fuzz_file(spool, "acme.users", "alice\nbob@acme.test\n", 20, 1);
	snprintf(path, sizeof(path), "%s/acme.users", spool);
	custs[0].name = "acme";
	custs[0].rcpts = rcptlist_load(path, stderr, &nerr);
	custs[0].recipients = strdup(path);
	fuzz_file(spool, "ship.secret", "tanstaafl\n", 10, 1);
	snprintf(path, sizeof(path), "%s/ship.secret", spool);
	custs[1].name = "ship";
	custs[1].secret = strdup(path);
	custs[1].quota = 100000;
	for (i = 0; i < 2; i++)
		custs[i].release = REL_ETRN;
	conf.hostname = "hub.test";
	conf.spool = spool;
	conf.smtp.max_size = 20000;
	conf.smtp.max_recipients = 5;
	conf.smtp.timeout = 5;
	conf.smtp.max_clients = 10;
	conf.queue.min_free = 0;
	conf.customers = custs;
	conf.ncustomers = 2;
	conf.routes = routes_load_buf("routes", routes_text, stderr, &nerr);
	if (conf.routes == NULL || nerr != 0 || custs[0].rcpts == NULL)
		abort();
	for (i = 0; i < 2; i++)
		if (spool_prepare(spool, custs[i].name) != RS_OK)
			abort();
	if ((devnull = open("/dev/null", O_WRONLY)) == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpd_client cl;
	struct smtpd_ctx ctx;
	int fd;

	if (devnull == -1)
		setup();
	fd = fuzz_file(spool, "in", data, size, 0);
	memset(&cl, 0, sizeof(cl));
	cl.lmtp = size >= 4 && strncasecmp((const char *)data, "LHLO", 4) == 0;
	strlcpy_(cl.addr, "192.0.2.1", sizeof(cl.addr));
	strlcpy_(cl.name, "client.test", sizeof(cl.name));
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.reqfd = -1;
	smtpd_session(&ctx, fd, devnull, &cl);
	close(fd);
	if (++runs % 256 == 0)
		sweep();
	return 0;
}
