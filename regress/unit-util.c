/* unit-util.c - sizes, durations, names and paths (conf/util.c). */
#include <errno.h>
#include <stdint.h>

#include "util.h"
#include "tap.h"

int
main(void)
{
	uint64_t sz;
	long d;
	char buf[32];

	ok(size_parse("50M", &sz) == 0 && sz == 50ULL * 1024 * 1024, "50M");
	ok(size_parse("2G", &sz) == 0 && sz == 2ULL << 30, "2G");
	ok(size_parse("512k", &sz) == 0 && sz == 512 * 1024, "512k");
	ok(size_parse("1024", &sz) == 0 && sz == 1024, "plain bytes");
	ok(size_parse("", &sz) == -1, "empty size refused");
	ok(size_parse("10X", &sz) == -1, "unknown suffix refused");
	ok(size_parse("10MB", &sz) == -1, "two-letter suffix refused");
	ok(size_parse("-1", &sz) == -1, "negative refused");
	ok(size_parse("99999999999999999999", &sz) == -1, "overflow refused");
	ok(size_parse("99999999999G", &sz) == -1, "overflow with suffix");
	ok(duration_parse("5m", &d) == 0 && d == 300, "5m");
	ok(duration_parse("21d", &d) == 0 && d == 21 * 86400, "21d");
	ok(duration_parse("30", &d) == 0 && d == 30, "plain seconds");
	ok(duration_parse("4h", &d) == 0 && d == 14400, "4h");
	ok(duration_parse("h", &d) == -1, "suffix alone refused");
	is_str(size_format(1536, buf, sizeof(buf)), "1.5K", "1.5K");
	is_str(size_format(100, buf, sizeof(buf)), "100", "100 bytes");
	is_str(size_format(50ULL << 20, buf, sizeof(buf)), "50M", "50M");
	is_str(age_format(3725, buf, sizeof(buf)), "1h02m", "age 1h02m");
	is_str(age_format(42, buf, sizeof(buf)), "42s", "age 42s");
	ok(name_is_safe("acme"), "acme is safe");
	ok(name_is_safe("ship-1.a_b"), "ship-1.a_b is safe");
	ok(!name_is_safe("../x"), "../x refused");
	ok(!name_is_safe("-x"), "leading dash refused");
	ok(!name_is_safe(".hidden"), "leading dot refused");
	ok(!name_is_safe("a/b"), "slash refused");
	ok(!name_is_safe(""), "empty refused");
	ok(!name_is_safe("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	    "64 characters refused");
	ok(path_build(buf, 8, "%s", "0123456789") == -1 &&
	    errno == ENAMETOOLONG, "path truncation detected");
	ok(path_build(buf, sizeof(buf), "%s/%s", "a", "b") == 0 &&
	    strcmp(buf, "a/b") == 0, "path built");
	return done_testing();
}
