/*
 * tlsc.c - STARTTLS on a client connection as a tls-policy says: see
 * tlsc.h.  The TLS context (tls.h) is made once per process and CA
 * file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tls.h"
#include "util.h"
#include "tlsc.h"

static const char *const policy_name[] = { "none", "may", "encrypt",
    "verify" };

const char *
tlsc_policy_name(int policy)
{
	return policy >= TLSP_NONE && policy <= TLSP_VERIFY ?
	    policy_name[policy] : "?";
}

/* ctx_for - the client context for cafile (NULL: the system's store). */
static void *
ctx_for(const char *cafile, char *err, size_t len)
{
	static void *ctx;
	static char *ca;

	if (ctx != NULL && (ca == NULL ? cafile == NULL :
	    cafile != NULL && strcmp(ca, cafile) == 0))
		return ctx;
	tls_client_free(ctx);
	free(ca);
	ca = NULL;
	if ((ctx = tls_client_new(cafile, err, len)) != NULL &&
	    cafile != NULL && (ca = strdup(cafile)) == NULL) {
		tls_client_free(ctx);
		ctx = NULL;
		strlcpy_(err, "out of memory", len);
	}
	return ctx;
}

enum tlsc_outcome
tlsc_start(struct smtpc *c, int policy, const char *cafile, const char *name,
    const char *helo, struct smtpc_reply *why)
{
	struct smtpc_reply r;
	char err[700];
	void *ctx;

	memset(why, 0, sizeof(*why));
	if (policy == TLSP_NONE)
		return TLSC_CLEAR;
	if (!(smtpc_ext(c) & SMTPC_EXT_STARTTLS)) {
		if (policy == TLSP_MAY)
			return TLSC_CLEAR;
		snprintf(why->text, sizeof(why->text), "%s offers no STARTTLS "
		    "and tls-policy is %s", smtpc_relay(c),
		    policy_name[policy]);
		smtpc_quit(c);
		return TLSC_ABSENT;
	}
	if ((ctx = ctx_for(cafile, err, sizeof(err))) == NULL) {
		snprintf(why->text, sizeof(why->text), "no TLS: %.600s", err);
		if (policy == TLSP_MAY)
			return TLSC_CLEAR;	/* the caller logs why */
		smtpc_quit(c);
		return TLSC_FAILED;
	}
	if (smtpc_starttls(c, ctx, name != NULL ? name : smtpc_host(c),
	    policy == TLSP_VERIFY, &r) != RS_OK) {
		if (r.code != 0)
			snprintf(why->text, sizeof(why->text), "%s said to "
			    "STARTTLS: %.600s", smtpc_relay(c), r.text);
		else
			snprintf(why->text, sizeof(why->text), "%.900s",
			    r.text);
		why->code = r.code;
		smtpc_close(c);
		return policy == TLSP_MAY ? TLSC_AGAIN : TLSC_FAILED;
	}
	if (smtpc_hello(c, helo, &r) != RS_OK) {
		snprintf(why->text, sizeof(why->text), "%s said under TLS: "
		    "%.600s", smtpc_relay(c), r.text);
		why->code = r.code;
		smtpc_quit(c);
		return TLSC_FAILED;
	}
	return TLSC_TLS;
}
