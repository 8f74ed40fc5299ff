/*
 * routes.c - fuzz harness for the routes table parser (conf/routes.c):
 * the input as a routes(5) file loaded from memory, then looked up
 * with a few domains and walked with routes_foreach.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
visit(void *arg, const char *key, const char *value, const char *file,
    int line)
{
	size_t *n = arg;

	*n += strlen(key) + strlen(value) + strlen(file) + (size_t)(line > 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *domains[] = { "acme.example", "mail.acme.example",
	    "a.b.c.d.example", "example", "nowhere.invalid", "" };
	struct route_result res;
	struct routes *r;
	FILE *errs;
	char *text;
	size_t i, n = 0;
	int nerr = 0;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if ((errs = fopen("/dev/null", "w")) == NULL) {
		free(text);
		return 0;
	}
	if ((r = routes_load_buf("fuzz", text, errs, &nerr)) != NULL) {
		for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
			routes_lookup(r, domains[i], &res);
		routes_foreach(r, visit, &n);
		(void)routes_count(r);
		routes_free(r);
	}
	fclose(errs);
	free(text);
	return 0;
}
