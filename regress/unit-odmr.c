/*
 * unit-odmr.c - the CRAM-MD5 digest of etrn/odmr.c against the example
 * of RFC 2195 and a secret with spaces (the session itself is tested
 * against fetchmail and a scripted client in regress/33-odmr.t).
 */
#include <string.h>

#include "log.h"
#include "odmr.h"
#include "tap.h"

int
main(void)
{
	char hex[33];

	log_init("unit-odmr", LOG_TO_STDERR);
	ok(odmr_cram_digest("tanstaaftanstaaf",
	    "<1896.697170952@postoffice.reston.mci.net>", hex) == 0,
	    "digest computed");
	is_str(hex, "b913a602c7eda7a495b4e6e7334d3890", "RFC 2195 example");
	ok(odmr_cram_digest("a secret with spaces", "<1.2@hub.test>", hex) ==
	    0 && strlen(hex) == 32, "32 hex digits");
	ok(strspn(hex, "0123456789abcdef") == 32, "lower-case hex");
	return done_testing();
}
