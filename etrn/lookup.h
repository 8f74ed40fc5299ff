/*
 * lookup.h - every policy decision of the hub's sessions, made in the
 * lookup process (lookupd.c serves it over lproto.h) and nowhere else
 * in bridged: MAIL (size limit, free space), RCPT (route, recipient
 * list, size, quota; the verdict token the queue checks), AUTH
 * CRAM-MD5 (the challenge and the check against the secret), ETRN
 * (the node's customers, the client's right to them by the peer
 * address the master recorded or by AUTH, the count, the flush asked
 * of the master) and ATRN (the authenticated customer's domains).
 * The unit tests call it in-process (lclient_local).
 *
 * Invariants: the peer address is the master's, never the session's;
 * AUTH state lives here, so a session cannot claim a customer; a
 * request that does not parse is the session's end (lookup_serve -1);
 * the state keeps customers by name, so it survives a reload.
 */
#ifndef LOOKUP_H
#define LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "conf.h"
#include "cram.h"
#include "smtpd.h"
#include "verdict.h"

enum lookup_kind {
	LOOKUP_SMTP = 0,
	LOOKUP_LMTP,
	LOOKUP_ODMR,
	LOOKUP_PIPE			/* bridge-enqueue through the hub */
};

#define ETRN_CUST_MAX	16	/* customers one ETRN @domain may name */
#define ETRN_UNCOUNTED	UINT64_MAX	/* a count the master could not make */
#define AUTH_DELAY_MAX	30	/* seconds a failed AUTH's reply waits */

struct lookup_sess;

/* What every session's decisions share. */
struct lookup_srv {
	const struct bridge_conf *conf;
	struct usage *usage;		/* NULL: quotas read the spool */
	int	have_key;
	unsigned char key[VERDICT_KEY];
	/* ask the master for a flush ("flush CUSTOMER ADDR [DOMAIN]"): 0/-1 */
	int   (*flush)(void *arg, const char *req);
	void   *flush_arg;
	/*
	 * hand an allowed ATRN's connection fd to the master (LM_TURN): 0
	 * and fd is taken, or -1; NULL: ATRN gets 451
	 */
	int   (*turn)(void *arg, const char *customer, const char *addr,
	    const char *name, int fd);
	void   *turn_arg;
	/*
	 * an authorised ETRN's customers (with the domain each flush is to
	 * use, or NULL), counted and flushed by whoever can read the spool
	 * (the master: LM_COUNT): 0 and the answer comes to
	 * lookup_etrn_counted, or -1.  NULL: counted here (the usage
	 * table, or the spool), the flushes asked with flush().
	 */
	int   (*count)(void *arg, const struct lookup_sess *ls,
	    char *const *customers, char *const *domains, int n);
	void   *count_arg;
	/* failed AUTHs and ETRNs across sessions (penalty.h); NULL: none */
	struct penalty *pen;
};

/* One session as the lookup process knows it. */
struct lookup_sess {
	uint32_t serial;
	int	kind;			/* LOOKUP_* */
	char	peer[64];		/* the master's: address, "unix", "uid N" */
	char	name[256];		/* its reverse DNS name (resolve.h) */
	int	named;			/* name is known (and sent) */
	uint64_t declared;		/* SIZE= of the transaction */
	int	mail_refused;		/* 0, 452 (space) or 552 (SIZE=) */
	struct cram_server cram;	/* AUTH: challenge, failures, customer */
	struct {			/* an ETRN being counted (count()) */
		int	pending;
		char	node[300];
		int	n;
		char	cust[ETRN_CUST_MAX][64];
	} etrn;
};

/* The answer to one request (LM_REPLY). */
struct lookup_reply {
	int	code;
	char	status[12];
	char	text[INTAKE_TEXT_MAX];
	int	close;
	int	delay;			/* seconds to wait before sending it */
	char	customer[64];
	int	have_token;
	unsigned char token[VERDICT_LEN];
};

void	lookup_sess_init(struct lookup_sess *ls, uint32_t serial, int kind,
	    const char *peer);
/*
 * lookup_serve - answer request m of session ls into r.  Returns 1
 * when r is the answer, 0 when the message wants none (or, an ETRN
 * being counted, not yet: lookup_etrn_counted), -1
 * when the session must be cut off (logged with why).  A descriptor
 * that came with m (LM_ATRN only) is taken when it was handed on (m->fd
 * is then -1); else it is still the caller's to close.
 */
int	lookup_serve(struct lookup_srv *sv, struct lookup_sess *ls,
	    struct chan_msg *m, struct lookup_reply *r);
/*
 * lookup_etrn_counted - the counts of ls's pending ETRN, in the order
 * of its customers (ETRN_UNCOUNTED: that one could not be): its answer
 * into r, 1; 0 when ls has no ETRN pending (or n is not its number).
 */
int	lookup_etrn_counted(struct lookup_sess *ls, const uint64_t *counts,
	    int n, struct lookup_reply *r);
/* lookup_named - the reverse DNS name of ls's client has come. */
void	lookup_named(struct lookup_sess *ls, const char *name);
/* lookup_reply_put - r as an LM_REPLY payload. */
void	lookup_reply_put(struct chan_wr *w, const struct lookup_reply *r);
/* lookup_reply_get - an LM_REPLY payload into r; 0 or -1. */
int	lookup_reply_get(const struct chan_msg *m, struct lookup_reply *r);

/*
 * etrn_domain - check and normalise a domain named by ETRN or ATRN:
 * labels of letters, digits and '-' (1 to 63, no '-' at either end),
 * at most 253 octets, one trailing dot dropped, lower-cased in place.
 * -1 if it is not a domain.
 */
int	etrn_domain(char *d);
/*
 * etrn_domain_owned - is the normalised domain cu's own: does it route
 * to cu by its exact key or a ".parent" key (not by the "." default)?
 * Only such a domain may choose where deliver-to = "mx" sends cu's mail.
 */
int	etrn_domain_owned(const struct bridge_conf *c,
	    const struct customer *cu, const char *domain);

#endif
