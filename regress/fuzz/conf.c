/*
 * conf.c - fuzz harness for the bridge.conf loader (conf/conf.c,
 * conf_text.c and libconfuse underneath): the input as a config file
 * in a temp directory of the run's own, next to a routes file and a
 * recipient list it may name by relative path ("routes", "acme.users"),
 * loaded as bridged loads it and freed.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "fuzztmp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[PATH_MAX];
static FILE *errs;

static void
put(const char *name, const void *data, size_t size)
{
	fuzz_file(dir, name, data, size, 1);
}

static void
cleanup(void)
{
	static const char *names[] = { "bridge.conf", "routes", "acme.users" };
	char path[PATH_MAX + 16];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
setup(void)
{
	static const char routes[] = "acme.example acme\n.acme.example acme\n"
	    "ship.example ship\nold.example error:5.1.6 moved\n";
	static const char users[] = "alice\nbob@acme.example\n";

	fuzz_tmpdir(dir, "fuzz-conf");
	atexit(cleanup);
	put("routes", routes, sizeof(routes) - 1);
	put("acme.users", users, sizeof(users) - 1);
	if ((errs = fopen("/dev/null", "w")) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bridge_conf *c;
	char path[PATH_MAX + 16];
	int nerr = 0;

	if (errs == NULL)
		setup();
	put("bridge.conf", data, size);
	snprintf(path, sizeof(path), "%s/bridge.conf", dir);
	if ((c = conf_load(path, errs, &nerr)) != NULL)
		conf_free(c);
	return 0;
}
