/*
 * recv.h - the ODMR customer's turned-round session for bridge-linkup:
 * srecv.h receives each message, and every recipient's copy, with its
 * own X-Envelope-To: header (any the message carried are left out), is
 * injected into the local MTA (inject.h).  The MTA's verdict is the
 * provider's reply: 250 when it took every copy, its 4xx (the provider
 * keeps the message) or 5xx (the provider returns it) when it gave all
 * copies the same answer.  When the answers differ, the copies it did
 * not take are written to a bundle in the leaf spool's kept/ (fsync'ed
 * before the 250), where the engine (unbatch.h) retries them and
 * returns the refused ones to their sender; so nothing is lost and no
 * copy the MTA took is sent again.
 */
#ifndef RECV_H
#define RECV_H

#include <signal.h>
#include <stdint.h>

#include "leafconf.h"

struct recv_stats {
	unsigned messages;	/* received */
	uint64_t copies;	/* copies the local MTA took */
	unsigned again;		/* of them, sent again by the provider */
	uint64_t kept;		/* copies left in kept/ for the engine */
	unsigned deferred;	/* messages the provider keeps (4xx) */
	unsigned refused;	/* messages the provider returns (5xx) */
	unsigned capped;	/* left at the provider: over the cap */
	uint64_t bytes;		/* octets read from the provider */
	int	quit;		/* the provider ended with QUIT */
};

/*
 * recv_session - serve the turned connection fd (closed on return),
 * under TLS when tls (odmrc_open's; freed on return) is not NULL; cap
 * is the window's size cap (0 = none).  0 when the provider said QUIT
 * and kept nothing back, 75 otherwise (err says why).
 */
int	recv_session(const struct leaf_conf *lc, const char *hub, int fd,
	    void *tls,
	    uint64_t cap, volatile sig_atomic_t *stop, double deadline,
	    struct recv_stats *rs, char *err, size_t errlen);

#endif
