/*
 * dsnparam.c - RFC 3461 parameters on MAIL and RCPT (see dsnparam.h).
 *
 * Grammar checked: RET=FULL|HDRS; ENVID=xtext (at most 100 octets
 * decoded); NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY;
 * ORCPT=addr-type;xtext (type: letters, digits, '-'; at most 500
 * octets decoded).  Each at most once.  Keywords in any case.
 */
#include <string.h>
#include <strings.h>

#include "dsnparam.h"

int
dsn_mail_param(struct dsn_mail *dm, const char *kw, const char *v)
{
	if (strcasecmp(kw, "RET") == 0) {
		if (dm->ret != QRET_NONE || v == NULL)
			return -1;
		if (strcasecmp(v, "FULL") == 0)
			dm->ret = QRET_FULL;
		else if (strcasecmp(v, "HDRS") == 0)
			dm->ret = QRET_HDRS;
		else
			return -1;
		return 1;
	}
	if (strcasecmp(kw, "ENVID") == 0) {
		if (dm->envid[0] != '\0' || v == NULL || *v == '\0' ||
		    xtext_decode(v, dm->envid, QENV_ENVID_MAX) == -1) {
			dm->envid[0] = '\0';
			return -1;
		}
		return 1;
	}
	return 0;
}

int
dsn_rcpt_params(char *p, struct dsn_rcptp *dr, const char **bad)
{
	char *kw, *v;
	int seen_orcpt = 0;

	memset(dr, 0, sizeof(*dr));
	while (esmtp_param_next(&p, &kw, &v)) {
		*bad = kw;
		if (strcasecmp(kw, "NOTIFY") == 0) {
			if (dr->notify != 0 || v == NULL ||
			    qnotify_parse(v, &dr->notify) == -1)
				return -1;
		} else if (strcasecmp(kw, "ORCPT") == 0) {
			if (seen_orcpt++ || v == NULL ||
			    dsn_orcpt_decode(v, dr->orcpt) == -1)
				return -1;
		} else
			return -2;
	}
	return 0;
}
