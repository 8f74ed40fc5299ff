/*
 * handoff.h - give a uucp customer's published bundles to Taylor UUCP.
 *
 * Each bundle in <spool>/outbox/<customer>/, oldest first, is handed to
 *
 *   UUX-PREFIX -r -n -a POSTMASTER -g GRADE - NODE!COMMAND
 *
 * (fork and execve, no shell; the bundle on stdin; stdout and stderr
 * captured, at most UUCP_MSG_MAX octets kept for the log).  Exit 0:
 * UUCP's spool holds it now; once the run is over, sync(2) (Taylor uux
 * does not fsync its spool files), then our copies are removed and the
 * outbox fsync'd.  Anything else, or no exit within UUCP_UUX_TIMEOUT: the
 * bundle stays, the run stops there (order is kept), and the customer
 * backs off: 1m, 2m, 4m ... 1h after consecutive failures.  The backoff
 * lives in <spool>/bundle-tmp/<customer>/handoff ("failures N", "next
 * T", "bundle NAME", "error TEXT"), so it survives a restart; it is
 * removed after the next success.
 *
 * uucp-call = yes: after a run that queued at least one bundle, start
 * "UUCICO [-I CONFIG] -s NODE" and do not wait for it (a call can take
 * hours on a slow line).  UUCICO is the caller's path, or "uucico"
 * searched in PATH and then in the usual UUCP libexec directories;
 * CONFIG is the -I / --config argument of the uux prefix, if any, so
 * both programs read the same UUCP configuration.
 *
 * Precondition: bundler_recover has run for the customer (bridged does
 * it at startup); the caller does not ignore SIGCHLD, so exit statuses
 * can be collected.
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "util.h"

#define UUCP_BACKOFF_MIN	60	/* seconds after the first failure */
#define UUCP_BACKOFF_MAX	3600
#define UUCP_UUX_TIMEOUT	300	/* seconds for uux and one bundle */
#define UUCP_MSG_MAX		512	/* octets of uux's output kept */
#define UUCP_ARGV_MAX		64	/* uux prefix words accepted */

struct uucp_stats {
	unsigned queued;	/* bundles uux accepted */
	unsigned failed;	/* 0 or 1: the run stops at a failure */
	unsigned waiting;	/* bundles left in the outbox */
	uint64_t bytes;		/* octets queued */
	int	called;		/* uucico was started */
};

/*
 * uucp_handoff_due - may the customer's bundles be handed off now?
 * 0 while a backoff runs (*next gets its end), else 1 (*next = 0).
 */
int	uucp_handoff_due(const char *spool, const char *customer, time_t now,
	    time_t *next);

/*
 * uucp_uux_argv - the uux argument vector for customer cu (defaults:
 * uux {"uux"}, node = the customer's name, command "rgsmtp", grade
 * "C").  argv has room for UUCP_ARGV_MAX + 10 pointers; the strings
 * point into cu, postmaster and dest (room for NODE!COMMAND).  -1 when
 * the prefix is too long or the node or command is unsafe.
 */
int	uucp_uux_argv(const struct customer *cu, const char *postmaster,
	    char **argv, char *dest, size_t destlen);

/*
 * uucp_handoff_bundle - run uux for one bundle (path) of customer cu.
 * RS_OK: uux exited 0.  RS_TEMP otherwise, msg says why ("exit 75:
 * uux: ...", "killed by signal 9", "timed out").  Nothing is removed.
 */
enum result uucp_handoff_bundle(const struct customer *cu,
	    const char *postmaster, const char *path, char *msg,
	    size_t msglen);

/*
 * uucp_handoff_run - hand off every published bundle of cu, oldest
 * first, unless a backoff runs (force ignores it); removes each one uux
 * took; records or clears the backoff; starts uucico when uucp-call is
 * set and something was queued (uucico: NULL for the default).  Logs
 * one line per bundle.  RS_TEMP: a hand-off failed or the outbox could
 * not be read; RS_OK otherwise (also when nothing was due).
 */
enum result uucp_handoff_run(const char *spool, const struct customer *cu,
	    const char *postmaster, const char *uucico, int force, time_t now,
	    struct uucp_stats *st);

/*
 * uucp_call - start UUCICO [-I CONFIG] -s NODE in its own session and
 * return without waiting.  0 when it was started, -1 (logged) if not.
 */
int	uucp_call(const struct customer *cu, const char *uucico);

#endif
