/*
 * leafconf.h - leaf.conf (leaf.conf(5)), the customer site's config,
 * loaded with libconfuse into plain structs.  A loaded config is
 * immutable.  Every problem is reported as "file:line: message";
 * unknown keys, duplicate hubs and malformed values are errors.
 */
#ifndef LEAFCONF_H
#define LEAFCONF_H

#include <stdio.h>
#include <time.h>

#define LEAF_CONF_DEFAULT	PREFIX "/etc/bridge/leaf.conf"

#define INJECT_SENDMAIL	0	/* execve command -f SENDER -- RCPT... */
#define INJECT_SMTP	1	/* SMTP to server */
#define INJECT_LMTP	2	/* LMTP to server */

/* One entry of windows = {...}: days and a time of day range. */
struct window {
	unsigned days;		/* bit 0 = Sunday ... bit 6 = Saturday */
	int	from, to;	/* minutes since midnight; to < from wraps */
};

struct leaf_inject {
	int	method;		/* INJECT_* */
	char  **command;	/* sendmail: argv prefix, [0] absolute */
	int	ncommand;
	char   *server;		/* smtp, lmtp: "host:port", "[v6]:port",
				   "unix:/path" */
	long	timeout;	/* seconds for one step; default 5m */
	int	dsn_options;	/* sendmail: the command takes -N -R -V */
};

struct leaf_hub {
	char   *name;		/* name_is_safe() */
	const char *file;
	int	line;		/* where its section ends */
	int	has_etrn;
	char   *etrn_server;	/* host:port */
	char  **etrn_targets;	/* "domain", "@domain", "#queue" */
	int	netrn_targets;
	char   *etrn_user;	/* AUTH CRAM-MD5 as this, or NULL */
	char   *etrn_secret;	/* its secret file (absolute), or NULL */
	int	has_uucp;
	char  **uucico;		/* argv, [0] absolute */
	int	nuucico;
	int	has_ssh;
	char   *ssh_server;	/* host[:port] */
	char   *ssh_user;
	char   *ssh_dir;	/* default "outbox" */
	char   *ssh_identity;
	char   *ssh_known_hosts;
	long	poll;		/* seconds, default 15m */
	struct window *windows;	/* none: any time */
	int	nwindows;
};

struct leaf_conf {
	char   *file;
	char   *hostname;	/* default: gethostname() */
	char   *spool;		/* absolute */
	struct leaf_inject inject;
	struct leaf_hub *hubs;
	int	nhubs;
	char   *link_probe;	/* host:port or NULL */
	long	link_every;	/* seconds, default 60 */
};

/*
 * conf_leaf_load - parse path.  Problems go to errs one per line as
 * "file:line: message".  Returns the config, or NULL when anything was
 * wrong (*nerr says how many problems).
 */
struct leaf_conf *conf_leaf_load(const char *path, FILE *errs, int *nerr);
void	conf_leaf_free(struct leaf_conf *c);
struct leaf_hub *conf_leaf_hub(const struct leaf_conf *c, const char *name);

/* conf_window_parse - "Mon-Fri 08:00-18:00", "Sat,Sun 00:00-24:00",
   "22:00-06:00" (every day).  0 or -1. */
int	conf_window_parse(const char *s, struct window *w);
/* conf_window_match - is the local time t inside one of the windows? */
int	conf_window_match(const struct window *w, int n, time_t t);
/* conf_endpoint_ok - "host:port", "[v6]:port" or (unix_ok) "unix:/p". */
int	conf_endpoint_ok(const char *s, int unix_ok);

#endif
