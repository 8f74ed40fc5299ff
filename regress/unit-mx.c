/*
 * unit-mx.c - the MX choice of deliver-to = "mx" (etrn/mx.c): order by
 * preference (stable), this hub and every host not preferred over it
 * dropped, loop detection; and mx_domain's pick among route keys.
 */
#include <stdio.h>
#include <string.h>

#include "mx.h"
#include "tap.h"

/* load - "pref host pref host ..." into rr; the count. */
static int
load(struct mx_rr *rr, const char *spec)
{
	char buf[512], *p, *save, *h;
	int n = 0;

	strlcpy_(buf, spec, sizeof(buf));
	for (p = strtok_r(buf, " ", &save); p != NULL;
	    p = strtok_r(NULL, " ", &save)) {
		h = strtok_r(NULL, " ", &save);
		rr[n].pref = (int)strtol(p, NULL, 10);
		strlcpy_(rr[n].host, h, sizeof(rr[n].host));
		n++;
	}
	return n;
}

/* pick - mx_select over spec, the hosts left joined by spaces. */
static const char *
pick(const char *spec, const char *me)
{
	static char out[512];
	struct mx_rr rr[16];
	int i, n;

	n = mx_select(rr, load(rr, spec), me);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, " ");
		strcat(out, rr[i].host);
	}
	return n == 0 ? "(loop)" : out;
}

int
main(void)
{
	struct bridge_conf conf;
	struct customer cu;
	FILE *null = fopen("/dev/null", "w");
	int nerr = 0;

	is_str(pick("20 b 10 a 30 c", "hub"), "a b c", "sorted by preference");
	is_str(pick("10 a 10 b 5 c 10 d", "hub"), "c a b d",
	    "equal preferences keep DNS order");
	is_str(pick("10 a", "hub"), "a", "one MX");
	is_str(pick("10 hub 20 b", "hub"), "(loop)",
	    "hub is the best MX: loop");
	is_str(pick("20 b 10 HUB.", "hub"), "(loop)",
	    "case and trailing dot ignored");
	is_str(pick("10 a 20 hub 30 c", "hub."), "a",
	    "hosts not preferred over the hub dropped");
	is_str(pick("10 a 20 b 20 hub 20 c 30 d", "Hub"), "a",
	    "equal preference to the hub dropped");
	is_str(pick("10 a 10 hub", "hub"), "(loop)",
	    "hub shares the best preference: loop");
	is_str(pick("10 a 20 b", NULL), "a b", "no hostname: all kept");
	is_str(pick("10 hubx 20 b", "hub"), "hubx b", "prefix is not a match");

	memset(&conf, 0, sizeof(conf));
	memset(&cu, 0, sizeof(cu));
	conf.routes = routes_load_buf("t", ".acme.example acme\n"
	    "other.example beta\nacme.example acme\nacme2.example acme\n"
	    ". acme\n", null, &nerr);
	ok(conf.routes != NULL && nerr == 0, "routes load");
	cu.name = "acme";
	is_str(mx_domain(&conf, &cu), "acme.example",
	    "first plain route key of the customer");
	cu.name = "beta";
	is_str(mx_domain(&conf, &cu), "other.example", "other customer");
	cu.name = "gamma";
	ok(mx_domain(&conf, &cu) == NULL, "no route: no domain");
	routes_free(conf.routes);
	fclose(null);
	return done_testing();
}
