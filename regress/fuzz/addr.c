/*
 * addr.c - fuzz harness for the RFC 5321 path parser (conf/addr.c):
 * the input as a "<path>" (with and without the null path allowed),
 * as a bare "local@domain", and a parsed address formatted again and
 * parsed back, which must give the same address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a, b;
	const char *why;
	char *s, buf[ADDR_PATH_MAX + 8];
	size_t end;
	int allow;

	for (allow = 0; allow <= 1; allow++) {
		why = NULL;
		end = 0;
		if (addr_parse_path((const char *)data, size, allow, &a, &end,
		    &why) == ADDR_OK) {
			if (end > size)
				abort();
			addr_format(&a, buf, sizeof(buf));
		}
	}
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse_plain(s, 1, &a, &why) == ADDR_OK && !a.null) {
		addr_format(&a, buf, sizeof(buf));
		if (addr_parse_plain(buf, 0, &b, &why) != ADDR_OK ||
		    strcmp(a.local, b.local) != 0 ||
		    strcmp(a.domain, b.domain) != 0)
			abort();
	}
	domain_normalise(s);
	free(s);
	return 0;
}
