/*
 * leafconf.h - leaf.conf (leaf.conf(5)), the customer site's config,
 * loaded with libconfuse into plain structs.  A loaded config is
 * immutable.  Every problem is reported as "file:line: message";
 * unknown keys, duplicate hubs and malformed values are errors.
 */
#ifndef LEAFCONF_H
#define LEAFCONF_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define LEAF_CONF_DEFAULT	PREFIX "/etc/bridge/leaf.conf"

#define INJECT_SENDMAIL	0	/* execve command -f SENDER -- RCPT... */
#define INJECT_SMTP	1	/* SMTP to server */
#define INJECT_LMTP	2	/* LMTP to server */

/* The ways a hub releases mail, in leaf_hub.methods[]. */
#define METHOD_ETRN	0
#define METHOD_ODMR	1
#define METHOD_UUCP	2
#define METHOD_SSH	3
#define METHOD_MAX	4

/*
 * One entry of windows = {...}: days, a time of day range and an
 * optional size cap ("Mon-Fri 08:00-18:00 max 200K").
 */
struct window {
	unsigned days;		/* bit 0 = Sunday ... bit 6 = Saturday */
	int	from, to;	/* minutes since midnight; to < from wraps */
	uint64_t max_size;	/* octets; 0 = no cap */
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

/* etrn { tls-policy tls-ca tls-name }, and the same in odmr */
struct leaf_tls {
	int	policy;		/* TLSP_* (conf.h); default may */
	char   *ca;		/* CA file (absolute); NULL: the system's */
	char   *name;		/* the certificate's name; NULL: server's */
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
	struct leaf_tls etrn_tls;
	int	has_odmr;
	char   *odmr_server;	/* host:port */
	char   *odmr_user;	/* AUTH CRAM-MD5 as this (required) */
	char   *odmr_secret;	/* its secret file (absolute) */
	struct leaf_tls odmr_tls;
	char  **odmr_targets;	/* domains for ATRN; none = all */
	int	nodmr_targets;
	int	has_uucp;
	char   *uucp_system;	/* Taylor system name, or NULL */
	char   *uucp_config;	/* uucico -I file (absolute), or NULL */
	char  **uucico;		/* full argv override, [0] absolute */
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
	long	online_deadline;	/* seconds; 0 = never hang up */
	long	max_online;	/* seconds one run may take, default 1h */
	long	backoff_base;	/* seconds, default 1m */
	long	backoff_ceiling;	/* seconds, default 6h */
	int	give_up;	/* failures before the loud warning, 10 */
	int	methods[METHOD_MAX];	/* METHOD_*, in the order written */
	int	nmethods;
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
	char  **link_down;	/* down-command argv ([0] absolute) or NULL */
	int	nlink_down;
	char   *metrics;	/* Prometheus textfile (absolute) or NULL */
};

/*
 * conf_leaf_load - parse path.  Problems go to errs one per line as
 * "file:line: message".  Returns the config, or NULL when anything was
 * wrong (*nerr says how many problems).
 */
struct leaf_conf *conf_leaf_load(const char *path, FILE *errs, int *nerr);
void	conf_leaf_free(struct leaf_conf *c);
struct leaf_hub *conf_leaf_hub(const struct leaf_conf *c, const char *name);

/*
 * conf_window_parse - "Mon-Fri 08:00-18:00", "Sat,Sun 00:00-24:00",
 * "22:00-06:00" (every day), each optionally followed by "max SIZE".
 * 0 or -1.
 */
int	conf_window_parse(const char *s, struct window *w);
/* conf_window_match - is the local time t inside one of the windows? */
int	conf_window_match(const struct window *w, int n, time_t t);
/*
 * conf_window_cap - the size cap in force at local time t: the largest
 * of the matching windows' caps; 0 (none) when a matching window has
 * no cap, when t is outside every window (an up event's run) or when
 * there are no windows.
 */
uint64_t conf_window_cap(const struct window *w, int n, time_t t);
/* conf_method_name - "etrn", "odmr", "uucp", "ssh". */
const char *conf_method_name(int method);
/* conf_endpoint_ok - "host:port", "[v6]:port" or (unix_ok) "unix:/p". */
int	conf_endpoint_ok(const char *s, int unix_ok);

#endif
