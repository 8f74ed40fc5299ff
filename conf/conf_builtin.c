/*
 * conf_builtin.c - the embedded default config (-c builtin, used by
 * "make run"): a demo hub on loopback ports with one customer "demo".
 * The spool is $BRIDGE_SPOOL, or run/spool under the working
 * directory, always absolute; the LMTP socket is sock/lmtp.sock (and
 * bridge-enqueue's sock/enqueue.sock) beside
 * it (never inside: the spool belongs to the hub's user, the socket's
 * directory to whoever binds it, root).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"

static const char builtin_conf[] =
	"spool = \"%s\"\n"
	"relayhost = \"127.0.0.1:2526\"\n"
	"smtp { listen = {\"127.0.0.1:2525\"} }\n"
	"lmtp { listen = {\"unix:%s/sock/lmtp.sock\"} }\n"
	"enqueue { listen = {\"unix:%s/sock/enqueue.sock\"} }\n"
	"odmr { listen = {\"127.0.0.1:3366\"} }\n"
	"queue { min-free = \"10M\" }\n"
	"customer \"demo\" {\n"
	"\trelease = {\"etrn\", \"odmr\"}\n"
	"\tdeliver-to = {\"127.0.0.1:2526\"}\n"
	"\tetrn-from = {\"127.0.0.0/8\", \"::1/128\"}\n"
	"}\n";

static const char builtin_routes[] =
	"demo.example\t\tdemo\n"
	".demo.example\t\tdemo\n"
	"blocked.demo.example\terror:5.7.1 this domain takes no mail\n";

/* quoted - s with '"' and '\\' escaped for a libconfuse string. */
static char *
quoted(const char *s)
{
	char *out, *p;

	if ((out = malloc(strlen(s) * 2 + 1)) == NULL)
		return NULL;
	for (p = out; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p = '\0';
	return out;
}

/* builtin_spool - $BRIDGE_SPOOL or <cwd>/run/spool, made absolute. */
static char *
builtin_spool(void)
{
	const char *env = getenv("BRIDGE_SPOOL");
	char cwd[PATH_MAX], *out;

	if (env != NULL && env[0] == '/')
		return strdup(env);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (env != NULL && env[0] != '\0') {
		if (asprintf(&out, "%s/%s", cwd, env) == -1)
			return NULL;
	} else if (asprintf(&out, "%s/run/spool", cwd) == -1) {
		return NULL;
	}
	return out;
}

int
conf_builtin_text(char **conf_text, char **routes_text)
{
	char *spool = builtin_spool(), *q = NULL, *qd = NULL, *slash;
	int rc = -1;

	*conf_text = *routes_text = NULL;
	if (spool == NULL || (q = quoted(spool)) == NULL ||
	    (qd = strdup(q)) == NULL)
		goto out;
	if ((slash = strrchr(qd, '/')) != NULL)
		*slash = '\0';		/* the spool's parent */
	if (asprintf(conf_text, builtin_conf, q, qd, qd) == -1) {
		*conf_text = NULL;
		goto out;
	}
	if ((*routes_text = strdup(builtin_routes)) == NULL) {
		free(*conf_text);
		*conf_text = NULL;
		goto out;
	}
	rc = 0;
out:
	free(spool);
	free(q);
	free(qd);
	return rc;
}
