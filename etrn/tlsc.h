/*
 * tlsc.h - STARTTLS on a client connection (smtpc.h) as a tls-policy
 * says (conf.h TLSP_*): the one place where the flush, etrn(1) and the
 * leaf's ODMR client decide whether a connection goes on in clear,
 * under TLS, or not at all.
 *
 * Invariants: with encrypt or verify nothing more is sent in clear
 * once the server is found not to meet the policy; verify checks the
 * chain against the CA file (or the system's store) and the name;
 * after STARTTLS the extensions come from a new EHLO under TLS.
 */
#ifndef TLSC_H
#define TLSC_H

#include "smtpc.h"

enum tlsc_outcome {
	TLSC_TLS = 0,		/* under TLS, EHLO said again */
	TLSC_CLEAR,		/* on in clear: none, or may and not offered */
	TLSC_ABSENT,		/* encrypt or verify, and the server offers
				   no STARTTLS: why; c is closed */
	TLSC_FAILED,		/* the policy is not met: why; c is closed */
	TLSC_AGAIN		/* may, and the handshake failed: c is
				   closed, connect again and stay in clear */
};

/*
 * tlsc_start - on c, just after its first EHLO: STARTTLS as policy
 * says, verifying against cafile (NULL: the system's store) and name
 * (NULL: the host c was opened to), then EHLO helo again.  why says
 * what was wrong for TLSC_FAILED and TLSC_AGAIN.
 */
enum tlsc_outcome tlsc_start(struct smtpc *c, int policy, const char *cafile,
	    const char *name, const char *helo, struct smtpc_reply *why);
/* tlsc_policy_name - "none", "may", "encrypt", "verify". */
const char *tlsc_policy_name(int policy);

#endif
