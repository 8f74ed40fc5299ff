/*
 * ssh.h - the leaf's SSH pull (bridge-fetch(8)): a libssh2 session to
 * the hub, strict host key checking against a known_hosts file, public
 * key authentication, and SFTP listing and resumable downloads of the
 * customer's outbox.
 *
 * Every call ends in one of the FETCH_* outcomes below, which
 * bridge-fetch maps one to one onto its exit codes.  A refusal (host
 * key, authentication) is never retried by the library; a network
 * failure keeps whatever was downloaded.
 */
#ifndef SSH_H
#define SSH_H

#include <stdint.h>
#include <stdio.h>

#include "util.h"

enum fetch_rc {
	FETCH_OK = EXIT_OK,		/* done, or nothing to do */
	FETCH_TEMP = EXIT_TEMPFAIL,	/* network, hub unreachable: later */
	FETCH_REFUSED = EXIT_NOPERM,	/* host key or authentication */
	FETCH_CONFIG = EXIT_CONFIG,	/* bad settings, unreadable key */
	FETCH_DATAERR = EXIT_DATAERR,	/* a bundle is damaged */
	FETCH_IOERR = EXIT_IOERR	/* the leaf's own disk */
};

#define SSH_ERR_MAX	1024
#define SSH_NAME_MAX	128	/* a bundle name with its NUL */
#define SSH_BUF_MIN	30000	/* one SFTP read request's payload */
#define SSH_LIST_MAX	100000	/* bundles taken from one listing */
#define SSH_BUF_DEFAULT	(35 * 30000)	/* ~1 MiB: libssh2 reads ahead 4x */

/* What one connection needs; strings are borrowed. */
struct ssh_target {
	const char *host;
	int	port;			/* 22 unless given */
	const char *user;
	const char *dir;		/* remote outbox, "outbox" by default */
	const char *identity;		/* private key file; .pub beside it */
	const char *known_hosts;
	int	accept_new;		/* -A: record an unknown host key */
	long	connect_timeout;	/* seconds */
	long	io_timeout;		/* seconds without progress */
	long	keepalive;		/* seconds between keepalives */
	uint64_t max_size;		/* skip larger bundles; 0 = none */
};

struct ssh_conn;

/* --- knownhosts.c -------------------------------------------------- */

/*
 * ssh_path_expand - "~/x" and "~" to $HOME (or the passwd entry's home)
 * into buf; other paths are copied.  -1 when it does not fit or there
 * is no home.
 */
int	ssh_path_expand(const char *in, char *buf, size_t len);
/* ssh_fingerprint - "SHA256:" + unpadded base64 of a 32-octet hash. */
void	ssh_fingerprint(const unsigned char *sha256, char *buf, size_t len);
/*
 * ssh_hostkey_verify - accept the session's host key only when the
 * known_hosts file lists it for host (as "[host]:port" unless port is
 * 22, or plain host; hashed entries match).  An unknown host is refused
 * unless accept_new, which appends the key to the file; a changed key
 * is always refused.  err explains a refusal, with the key's type and
 * fingerprint and what the operator can do.  Returns FETCH_OK,
 * FETCH_REFUSED or FETCH_CONFIG (the file cannot be read or written).
 */
enum fetch_rc ssh_hostkey_verify(void *session, const char *host, int port,
	    const char *known_hosts, int accept_new, char *err, size_t errlen);

/* --- fetch.c ------------------------------------------------------- */

/*
 * ssh_connect - TCP connect (connect_timeout), SSH handshake, host key
 * check, public key authentication, SFTP start.  *cp is set on
 * FETCH_OK; otherwise err says why.
 */
enum fetch_rc ssh_connect(const struct ssh_target *t, struct ssh_conn **cp,
	    char *err, size_t errlen);
void	ssh_close(struct ssh_conn *c);

/* One remote bundle, as the listing found it. */
struct ssh_entry {
	char	name[SSH_NAME_MAX];
	uint64_t size;
};

/*
 * ssh_name_is_bundle - a name bridge-fetch will download: exactly the
 * shape of bundle(5) names (bundle_name_is_valid), which the injection
 * engine also insists on.
 */
int	ssh_name_is_bundle(const char *name);
/*
 * ssh_list - the regular files in the remote outbox whose names pass
 * ssh_name_is_bundle, sorted by name (which is oldest first), at most
 * SSH_LIST_MAX.  *ep is malloc'ed; *np entries.  Other names are
 * skipped silently.
 */
enum fetch_rc ssh_list(struct ssh_conn *c, struct ssh_entry **ep, size_t *np,
	    char *err, size_t errlen);

/* Progress of one download, for the terminal line and the log. */
struct ssh_xfer {
	const char *name;
	uint64_t size;			/* remote size, 0 if unknown */
	uint64_t offset;		/* where the download (re)started */
	uint64_t got;			/* octets fetched this time */
	double	started;		/* time_mono() */
	double	net;			/* seconds from open to EOF */
};

typedef void ssh_progress_fn(const struct ssh_xfer *x, int final, void *arg);

/* Download tuning; zero fields take the defaults. */
struct ssh_opts {
	size_t	bufsize;		/* read size, a multiple of 30000 */
	uint64_t rate;			/* octets per second, 0 = unlimited */
	ssh_progress_fn *progress;
	void   *progress_arg;
};

/*
 * ssh_download - fetch the remote bundle e into the local file part,
 * appending from the file's current size (a resume), then fsync.  A
 * local file larger than the remote one is started afresh.  x is
 * filled in either way, so a caller can report what moved.  FETCH_TEMP
 * when the connection fails (what arrived is kept and synced),
 * FETCH_IOERR for the local disk.
 */
enum fetch_rc ssh_download(struct ssh_conn *c, const struct ssh_entry *e,
	    const char *part, const struct ssh_opts *o, struct ssh_xfer *x,
	    char *err, size_t errlen);
/*
 * ssh_remove - unlink the remote bundle.  A bundle that is already gone
 * counts as removed.
 */
enum fetch_rc ssh_remove(struct ssh_conn *c, const char *name, char *err,
	    size_t errlen);
/*
 * ssh_keepalive - send a keepalive if one is due; for long pauses
 * between SFTP requests (while injecting).  Returns the seconds until
 * the next one is due.
 */
int	ssh_keepalive(struct ssh_conn *c);
/* ssh_alive - may more requests be sent (no network failure yet)? */
int	ssh_alive(const struct ssh_conn *c);

/* --- pull.c -------------------------------------------------------- */

/*
 * The leaf's side of a pull, per hub account (user@host):
 *
 *   <spool>/fetch/<account>/partial/NAME.part   being downloaded
 *   <spool>/fetch/<account>/done/NAME           handed to the engine,
 *                                                not yet removed remotely
 *
 * A bundle moves partial -> the engine's incoming/ (unbatch.h) only
 * after done/NAME is on disk, and done/NAME goes only after the hub's
 * copy is gone.  So after a crash, done/NAME with no bundle left in
 * partial/, incoming/ or kept/ means "injected, remove it on the hub",
 * and a bundle the engine quarantined is never removed on the hub.
 */
struct leaf_conf;
struct pull;

/*
 * pull_new - lock the leaf spool against a second bridge-fetch and
 * prepare the engine.  verbose: log each transfer's offset and size;
 * echo: the log is syslog, so print problems on stderr too.  NULL with
 * err filled (*rc says how to exit).
 */
struct pull *pull_new(const struct leaf_conf *lc, const struct ssh_opts *o,
	    int verbose, int echo, enum fetch_rc *rc, char *err,
	    size_t errlen);
/*
 * pull_hub - connect to t, then for each bundle oldest first: finish a
 * crashed run's work, or download, verify, inject and remove it.  One
 * log line per bundle; problems are logged here.  The outcome that
 * matters most (refusal over damage over try-later) is returned.
 */
enum fetch_rc pull_hub(struct pull *p, const struct ssh_target *t);
void	pull_free(struct pull *p);
/* What pull_hub moved, summed over its calls. */
struct pull_stats {
	unsigned bundles;		/* fetched and handed to the engine */
	uint64_t bytes;			/* octets downloaded */
	uint64_t copies;		/* message copies in those bundles */
	unsigned skipped;		/* left on the hub: over max_size */
};
void	pull_stats(const struct pull *p, struct pull_stats *st);
/*
 * ssh_entry_listed - whether name is in v[0..n), sorted as ssh_list
 * leaves it; an empty listing (v may be NULL) lists nothing.
 */
int	ssh_entry_listed(const struct ssh_entry *v, size_t n,
	    const char *name);
/* fetch_rc_worse - the outcome that matters more to the operator. */
enum fetch_rc fetch_rc_worse(enum fetch_rc a, enum fetch_rc b);

#endif
