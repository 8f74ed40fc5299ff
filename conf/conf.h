/*
 * conf.h - bridge.conf (bridge.conf(5)), loaded with libconfuse into
 * plain structs that the rest of the hub reads.  A loaded config is
 * immutable; reload builds a new one and frees the old.
 *
 * Every problem is reported as "file:line: message"; unknown keys,
 * duplicate customers, a customer without a release method and a route
 * to an unknown customer are errors.
 */
#ifndef CONF_H
#define CONF_H

#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>

#include "routes.h"

#define REL_ETRN	0x01
#define REL_ODMR	0x02
#define REL_UUCP	0x04
#define REL_SSH		0x08

#define DELIVER_HOSTS	0	/* deliver-to = "host:port", ... */
#define DELIVER_PEER	1	/* deliver-to = "peer": the ETRN client */
#define DELIVER_MX	2	/* deliver-to = "mx" */

/* Special -c value selecting the embedded default config (make run). */
#define CONF_BUILTIN	"builtin"

struct cidr {
	int	family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int	bits;
};

struct rcptlist;			/* recipients file, see rcptlist.h */

struct customer {
	char   *name;			/* name_is_safe() */
	const char *file;		/* where it was defined */
	int	line;
	unsigned release;		/* REL_* bits, at least one */
	int	deliver_mode;		/* DELIVER_* */
	char  **deliver_to;		/* host:port, DELIVER_HOSTS */
	int	ndeliver_to;
	struct cidr *etrn_from;
	int	netrn_from;
	char   *secret;			/* path; first line is the secret */
	uint64_t quota;			/* bytes queued; 0 = unlimited */
	uint64_t max_size;		/* 0 = smtp max-size */
	char   *recipients;		/* path or NULL */
	struct rcptlist *rcpts;		/* loaded recipients, or NULL */
	long	retry;			/* seconds; 0 = only on request */
	long	warn_after;		/* 0 = queue default */
	long	expire_after;		/* 0 = queue default */
	int	flush_connections;	/* default 2 */
	int	flush_connections_max;	/* default 20, or flush_connections
					   when only that is set */
	uint64_t bundle_max;		/* default 10M */
	long	bundle_delay;		/* default 5m */
	char   *uucp_node;
	char   *uucp_command;		/* default "rgsmtp" */
	char   *uucp_grade;		/* default "C" */
	char  **uux;			/* argv prefix, default {"uux"} */
	int	nuux;
	int	uucp_call;		/* start uucico -s node after uux */
	int	tls_policy;		/* TLSP_*: STARTTLS when flushing */
	char   *tls_ca;			/* CA file for verify; NULL: system's */
	char   *tls_name;		/* name the certificate must have;
					   NULL: the host connected to */
};

/* customer { tls-policy }: STARTTLS towards the customer's server */
enum {
	TLSP_NONE = 0,		/* never */
	TLSP_MAY,		/* when offered; in clear if it fails */
	TLSP_ENCRYPT,		/* required, the certificate not checked */
	TLSP_VERIFY		/* required, chain and name verified */
};
/* tls_policy_parse - "none", "may", "encrypt", "verify": TLSP_*, or -1. */
int	tls_policy_parse(const char *s);

#ifndef BRIDGE_USER
#define BRIDGE_USER	"_bridge"	/* the hub's user when bridge.conf names none */
#endif
#ifndef BRIDGE_SESSION_USER
#define BRIDGE_SESSION_USER	"_bridge-smtp"	/* the session processes' */
#endif
#ifndef BRIDGE_LOOKUP_USER
#define BRIDGE_LOOKUP_USER	"_bridge-lka"	/* the lookup process's */
#endif
#ifndef BRIDGE_SESSION_CHROOT
#define BRIDGE_SESSION_CHROOT	"/var/empty"	/* their root directory */
#endif

struct listeners {
	char  **listen;			/* "addr:port", "[v6]:port", "unix:/p" */
	int	nlisten;
};

struct bridge_conf {
	char   *file;			/* path it came from, or "builtin" */
	char   *hostname;
	char   *spool;			/* absolute */
	char   *routes_file;
	char   *user;			/* NULL or "" = don't drop */
	char   *session_user;		/* NULL: BRIDGE_SESSION_USER */
	char   *session_chroot;		/* NULL: BRIDGE_SESSION_CHROOT */
	char   *lookup_user;		/* NULL: BRIDGE_LOOKUP_USER */
	char   *postmaster;
	char   *pidfile;		/* default <spool>/bridged.pid */
	char   *relayhost;		/* "host:port" taking the DSNs, or NULL */
	struct {
		struct listeners l;
		int	max_clients;	/* default 100 */
		uint64_t max_size;	/* default 50M */
		int	max_recipients;	/* default 100 */
		long	timeout;	/* default 5m */
		int	auth_without_tls; /* offer AUTH in clear with a tls
					   section too */
		uint64_t min_data_rate;	/* octets/s DATA must keep; 0: off */
		long	max_session_time; /* a whole session; default 1h */
		int	max_per_client;	/* sessions per address; 0: off */
		int	max_per_network; /* ... per /24 or /64 */
		struct cidr *exempt;	/* limits-exempt: no per-client limit */
		int	nexempt;
		int	auth_failures;	/* AUTH failures before a lockout */
		long	auth_lockout;	/* ... of this long; also the window */
		int	etrn_per_minute; /* ETRNs per client; 0: no limit */
	} smtp;
	struct {
		struct listeners l;
		int	max_clients;
		long	timeout;
		char   *group;		/* sockets 0660 with it; NULL: 0666 */
	} lmtp;
	struct {
		struct listeners l;
		long	timeout;	/* default 10m */
		int	auth_without_tls;
	} odmr;
	struct {
		struct listeners l;	/* unix sockets only */
		char   *group;		/* sockets 0660 with it; NULL: 0666 */
	} enqueue;			/* bridge-enqueue's way in */
	struct {
		struct listeners l;	/* one unix socket; none: <spool>/control */
		char   *group;		/* it is 0660 with it; NULL: 0666 */
		char  **peers;		/* "user:role", "%group:role" */
		int	npeers;
	} control;			/* bridgectl's and bridge.cgi's way in */
	struct {
		char   *cert;		/* PEM chain, absolute; NULL: no TLS */
		char   *key;		/* PEM private key, absolute */
		char   *ciphers;	/* TLS 1.2 cipher list; NULL: ours */
		int	proto_min;	/* 12 or 13 (TLS 1.2, 1.3) */
		int	proto_max;
	} tls;				/* STARTTLS (etrn/tls.h) */
	struct {
		uint64_t min_free;	/* default 100M */
		long	warn_after;	/* default 4h */
		long	expire_after;	/* default 5d */
	} queue;
	struct customer *customers;
	int	ncustomers;
	struct routes *routes;
};

/*
 * conf_load - parse path (or CONF_BUILTIN) and everything it points at
 * (routes, recipient lists).  Problems go to errs one per line as
 * "file:line: message".  Returns the config, or NULL when anything was
 * wrong (*nerr says how many problems).
 */
struct bridge_conf *conf_load(const char *path, FILE *errs, int *nerr);
/*
 * conf_check - conf_load plus what only an operator check looks at:
 * secret files exist and are mode 0600 or stricter, listed files are
 * readable.  Returns the number of problems; prints each to errs.
 */
int	conf_check(const char *path, FILE *errs);
/*
 * conf_session_check - what bridged started as root needs for its
 * session processes: session-user exists and is neither root nor the
 * hub's user (its uid and gid into *uid, *gid); session-chroot is a
 * directory of root's that nobody else may write (made, 0755, when
 * make is set; when not, a missing one passes).  0, or -1 with the
 * problem, naming the key, in err.
 */
int	conf_session_check(const struct bridge_conf *c, int make, uid_t *uid,
	    gid_t *gid, char *err, size_t len);
/*
 * conf_lookup_check - the same for the lookup process: lookup-user
 * exists and is neither root, the hub's user nor session-user (its uid
 * and gid into *uid, *gid).  0, or -1 with the problem in err.
 */
int	conf_lookup_check(const struct bridge_conf *c, uid_t *uid, gid_t *gid,
	    char *err, size_t len);
/*
 * conf_check_load - conf_check that also hands back the loaded config
 * in *out when there were no problems (else *out is NULL).  With host
 * set and run as root, also what bridged started as root here would
 * refuse: its user, the spool's owner and mode, the unix sockets'
 * directories and group, secret files that user does not own.
 */
int	conf_check_load(const char *path, FILE *errs, int host,
	    struct bridge_conf **out);
/* conf_load_logged - conf_load with its messages sent to the log. */
struct bridge_conf *conf_load_logged(const char *path);
void	conf_free(struct bridge_conf *c);

struct customer *conf_customer(const struct bridge_conf *c, const char *name);
/*
 * conf_limits_exempt - is sa in smtp { limits-exempt } (the networks
 * the per-client connection and ETRN limits leave alone)?
 */
int	conf_limits_exempt(const struct bridge_conf *c,
	    const struct sockaddr *sa);
/* conf_client_allowed - is sa in the customer's etrn-from list? */
int	conf_client_allowed(const struct customer *cu,
	    const struct sockaddr *sa);
/* cidr_parse - "203.0.113.0/24", "2001:db8::/32", "127.0.0.1". */
int	cidr_parse(const char *s, struct cidr *out);
int	cidr_match(const struct cidr *c, const struct sockaddr *sa);
/*
 * conf_hostport - split "host:port" or "[v6]:port" (port 1-65535);
 * host gets the name or address without brackets.  -1 if malformed.
 */
int	conf_hostport(const char *spec, char *host, size_t hostlen, int *port);
/*
 * tls_proto_parse - tls { protocols }: "TLSv1.2", "TLSv1.3" or both
 * into *min and *max as 12 and 13 (either may be NULL); -1 if bad.
 */
int	tls_proto_parse(const char *s, int *min, int *max);
/*
 * conf_listen_parse - a listen value ("a.b.c.d:port", "[v6]:port",
 * "unix:/path") as a socket address ready for bind.  -1 if malformed.
 */
int	conf_listen_parse(const char *spec, struct sockaddr_storage *ss,
	    socklen_t *len);

#endif
