/*
 * conf_int.h - what the conf module's own files share and the rest of
 * the hub does not see: the private tail of a loaded config and the
 * embedded default.
 */
#ifndef CONF_INT_H
#define CONF_INT_H

#include "conf.h"

struct diag;

struct cust_priv {
	int	secret_line;		/* where secret = was set */
};

/* A loaded config: the public part first, so the two convert freely. */
struct conf_full {
	struct bridge_conf pub;
	char   *dir;			/* the config's dir or NULL */
	struct cust_priv *cpriv;	/* parallel to pub.customers */
};

struct conf_full *conf_load_diag(const char *path, struct diag *d);
/* conf_builtin_text - the embedded config and routes, malloc'ed. */
int	conf_builtin_text(char **conf_text, char **routes_text);
/* conf_read_text - a whole config file, bounded (conf_text.c). */
char   *conf_read_text(const char *path);
/* conf_strip_comments - blank comments; line of a mistake or 0. */
int	conf_strip_comments(char *s, const char **what);

#endif
