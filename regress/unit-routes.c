/*
 * unit-routes.c - the routes table (conf/routes.c) and recipient lists
 * (conf/rcptlist.c): lookup order (exact, nearest parent, farther
 * parent, default), normalisation, error values, every kind of bad
 * line with file:line, duplicates, and a 100,000-route table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "rcptlist.h"
#include "routes.h"
#include "util.h"
#include "tap.h"

static char dir[] = "/tmp/unit-routes.XXXXXX";
static const char *written[16];
static int nwritten;

/* diag_lines - show text as TAP comments, one per line. */
static void
diag_lines(const char *text)
{
	const char *nl;

	while (text != NULL && *text != '\0') {
		nl = strchr(text, '\n');
		printf("# %.*s\n", (int)(nl ? nl - text : (long)strlen(text)),
		    text);
		text = nl ? nl + 1 : NULL;
	}
}

/* cleanup - remove what write_file made, then the directory. */
static void
cleanup(void)
{
	char path[256];
	int i;

	for (i = 0; i < nwritten; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, written[i]);
		unlink(path);
	}
	rmdir(dir);
}

static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (nwritten < 16)
		written[nwritten++] = name;
	if ((fp = fopen(path, "w")) == NULL || fputs(text, fp) == EOF ||
	    fclose(fp) == EOF) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	return path;
}

/* route_is - look domain up and compare kind, key and value. */
static void
route_is(const struct routes *r, const char *domain, enum route_kind kind,
    const char *key, const char *value)
{
	struct route_result res;
	char d[300];

	snprintf(d, sizeof(d), "%s", domain);
	domain_normalise(d);
	routes_lookup(r, d, &res);
	if (!ok(res.kind == kind && (key == NULL || (res.key != NULL &&
	    strcmp(res.key, key) == 0)) && (value == NULL ||
	    (res.customer != NULL && strcmp(res.customer, value) == 0) ||
	    (res.status != NULL && strcmp(res.status, value) == 0)),
	    "%s -> %s %s", domain, key ? key : "(none)", value ? value : ""))
		printf("#   got kind %d key %s customer %s status %s\n",
		    res.kind, res.key ? res.key : "-",
		    res.customer ? res.customer : "-",
		    res.status ? res.status : "-");
}

static void
test_lookup(void)
{
	struct routes *r;
	struct route_result res;
	int nerr = -1;

	r = routes_load(write_file("order", "# lookup order\n"
	    "\n"
	    "a.b.c.example        exact\n"
	    ".b.c.example         nearest   # trailing comment\n"
	    ".c.example           farther\n"
	    "c.example            cexact\n"
	    "   .example\t\ttld\n"
	    "Mixed.CASE.Example.  mixed\n"
	    "refused.example      error:5.7.1 we do not take this\n"
	    "later.example        error:4.2.1 try later\n"
	    "bare.example         error:5.1.1\n"
	    "hash.example         error:5.7.1 see faq#42 # a comment\n"
	    ".                    default\n"), stderr, &nerr);
	ok(r != NULL, "table loaded");
	is_int(nerr, 0, "no problems");
	is_int(routes_count(r), 11, "11 routes");
	route_is(r, "a.b.c.example", ROUTE_CUSTOMER, "a.b.c.example", "exact");
	route_is(r, "x.a.b.c.example", ROUTE_CUSTOMER, ".b.c.example",
	    "nearest");
	route_is(r, "x.b.c.example", ROUTE_CUSTOMER, ".b.c.example",
	    "nearest");
	route_is(r, "b.c.example", ROUTE_CUSTOMER, ".c.example", "farther");
	route_is(r, "x.y.c.example", ROUTE_CUSTOMER, ".c.example", "farther");
	route_is(r, "c.example", ROUTE_CUSTOMER, "c.example", "cexact");
	route_is(r, "other.example", ROUTE_CUSTOMER, ".example", "tld");
	route_is(r, "example", ROUTE_CUSTOMER, ".", "default");
	route_is(r, "example.org", ROUTE_CUSTOMER, ".", "default");
	route_is(r, "MIXED.case.example.", ROUTE_CUSTOMER,
	    "mixed.case.example", "mixed");
	route_is(r, "A.B.C.EXAMPLE.", ROUTE_CUSTOMER, "a.b.c.example",
	    "exact");
	route_is(r, "refused.example", ROUTE_ERROR, "refused.example",
	    "5.7.1");
	routes_lookup(r, "refused.example", &res);
	is_int(res.code, 550, "  5.x.x is 550");
	is_str(res.text, "we do not take this", "  text");
	is_int(res.line, 9, "  line 9");
	ok(res.file != NULL && strstr(res.file, "/order") != NULL,
	    "  file kept");
	routes_lookup(r, "later.example", &res);
	is_int(res.code, 450, "4.x.x is 450");
	is_str(res.status, "4.2.1", "  status");
	routes_lookup(r, "bare.example", &res);
	ok(res.text != NULL && res.text[0] != '\0', "error without text "
	    "gets a default text (%s)", res.text ? res.text : "");
	routes_lookup(r, "hash.example", &res);
	is_str(res.text, "see faq#42", "# after a blank starts a comment, "
	    "not inside a word");
	routes_lookup(r, "sub.refused.example", &res);
	is_str(res.key, ".example", "errors are exact only: subdomain "
	    "falls to the parent");
	routes_free(r);

	r = routes_load(write_file("noddefault", "example.com acme\n"
	    ".example.com acme\n"), stderr, &nerr);
	route_is(r, "example.com", ROUTE_CUSTOMER, "example.com", "acme");
	route_is(r, "www.example.com", ROUTE_CUSTOMER, ".example.com", "acme");
	route_is(r, "example.org", ROUTE_NONE, NULL, NULL);
	route_is(r, "com", ROUTE_NONE, NULL, NULL);
	route_is(r, "notexample.com", ROUTE_NONE, NULL, NULL);
	routes_free(r);

	r = routes_load(write_file("strict", ".example.com acme\n"), stderr,
	    &nerr);
	route_is(r, "example.com", ROUTE_NONE, NULL, NULL);
	route_is(r, "a.example.com", ROUTE_CUSTOMER, ".example.com", "acme");
	routes_free(r);
}

static int ncust;

static void
count_cb(void *arg, const char *key, const char *value, const char *file,
    int line)
{
	(void)arg;
	(void)key;
	(void)value;
	(void)file;
	(void)line;
	ncust++;
}

/* load_errors - load text, return the problems printed, one per line. */
static char *
load_errors(const char *text, int *nerr, size_t *count)
{
	struct routes *r;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	r = routes_load(write_file("bad", text), mem, nerr);
	fclose(mem);
	*count = routes_count(r);
	routes_free(r);
	return buf;
}

static void
test_errors(void)
{
	struct routes *r;
	char *errs, want[1024];
	size_t count;
	int nerr;

	errs = load_errors("good.example acme\n"
	    "lonely.example\n"
	    "bad..example acme\n"
	    "-bad.example acme\n"
	    "two.example acme extra\n"
	    "x.example ../acme\n"
	    "e1.example error:6.1.1 no such class\n"
	    "e2.example error:5.1 short\n"
	    "e3.example error:5.1.1000 long\n"
	    "e4.example error:5.x.1 letters\n"
	    "e5.example error:\n"
	    "under_score.example acme\n"
	    "GOOD.example. acme\n"
	    ".good.example acme\n", &nerr, &count);
	is_int(nerr, 12, "12 bad lines");
	is_int(count, 2, "the good lines are kept");
	snprintf(want, sizeof(want),
	    "%s/bad:2: missing value for key lonely.example\n"
	    "%s/bad:3: bad key \"bad..example\"\n"
	    "%s/bad:4: bad key \"-bad.example\"\n"
	    "%s/bad:5: unexpected text after customer name in \"acme "
	    "extra\"\n"
	    "%s/bad:6: bad customer name \"../acme\"\n",
	    dir, dir, dir, dir, dir);
	ok(errs != NULL && strncmp(errs, want, strlen(want)) == 0,
	    "problems are file:line: message");
	ok(errs != NULL && strstr(errs, "/bad:13: duplicate key good.example "
	    "(first at line 1)\n") != NULL, "duplicate names both lines");
	ok(errs != NULL && strstr(errs, "/bad:7: bad error value") != NULL &&
	    strstr(errs, "/bad:8: bad error value") != NULL &&
	    strstr(errs, "/bad:9: bad error value") != NULL &&
	    strstr(errs, "/bad:10: bad error value") != NULL &&
	    strstr(errs, "/bad:11: bad error value") != NULL,
	    "bad error values");
	ok(errs != NULL && strstr(errs, "/bad:12: bad key") != NULL,
	    "underscore refused");
	diag_lines(errs);
	free(errs);

	nerr = 0;
	r = routes_load("/nonexistent/routes", NULL, &nerr);
	ok(r == NULL, "missing file: NULL");
	is_int(nerr, 1, "  one problem");

	r = routes_load_buf("builtin", "demo.example demo\n"
	    "x.demo.example error:5.7.1 no\n"
	    ".demo.example demo\n", stderr, &nerr);
	is_int(routes_count(r), 3, "routes_load_buf");
	is_str(routes_file(r), "builtin", "  named builtin");
	ncust = 0;
	routes_foreach(r, count_cb, NULL);
	is_int(ncust, 2, "routes_foreach sees customers only");
	routes_free(r);
}

static void
test_big(void)
{
	char path[256], d[64];
	struct routes *r;
	struct route_result res;
	FILE *fp;
	double t0, t1;
	int i, nerr = -1, good = 1;

	snprintf(path, sizeof(path), "%s/big", dir);
	if ((fp = fopen(path, "w")) == NULL) {
		fail_big:
		ok(0, "write 100k routes");
		return;
	}
	for (i = 0; i < 100000; i++)
		if (fprintf(fp, "%sd%d.example\tc%d\n", i % 2 ? "." : "", i,
		    i % 1000) < 0)
			goto fail_big;
	if (fclose(fp) == EOF)
		goto fail_big;
	t0 = time_mono();
	r = routes_load(path, stderr, &nerr);
	t1 = time_mono();
	printf("# loaded 100000 routes in %.3f s\n", t1 - t0);
	is_int(nerr, 0, "100k routes: no problems");
	is_int(routes_count(r), 100000, "100k routes loaded");
	for (i = 0; i < 100000; i += 997) {
		snprintf(d, sizeof(d), "%sd%d.example", i % 2 ? "x." : "", i);
		routes_lookup(r, d, &res);
		snprintf(d, sizeof(d), "c%d", i % 1000);
		if (res.kind != ROUTE_CUSTOMER ||
		    strcmp(res.customer, d) != 0 || res.line != i + 1)
			good = 0;
	}
	ok(good, "100k routes: sampled lookups right");
	routes_lookup(r, "d1.example", &res);
	is_int(res.kind, ROUTE_NONE, "100k routes: .d1.example does not "
	    "match d1.example");
	t0 = time_mono();
	for (i = 0; i < 100000; i++) {
		snprintf(d, sizeof(d), "a.b.c.d%d.example", i);
		routes_lookup(r, d, &res);
	}
	printf("# 100000 lookups of 5 labels in %.3f s\n", time_mono() - t0);
	routes_free(r);
	unlink(path);
}

static void
test_rcptlist(void)
{
	struct rcptlist *l;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int nerr = -1;

	l = rcptlist_load(write_file("users", "# acme's users\n"
	    "Alice@Acme.Example\n"
	    "postmaster   # at any acme domain\n"
	    "@lab.acme.example\n"
	    "\n"
	    "  bob@acme.example  \n"
	    "bad%relay@acme.example\n"
	    "two words\n"
	    "x@[192.0.2.1]\n"), mem, &nerr);
	fclose(mem);
	ok(l != NULL, "recipient list loaded");
	is_int(nerr, 3, "three bad entries");
	ok(buf != NULL && strstr(buf, "/users:7: bad recipient") != NULL &&
	    strstr(buf, "/users:8: bad recipient") != NULL &&
	    strstr(buf, "/users:9: bad recipient") != NULL,
	    "bad entries reported with file:line");
	free(buf);
	is_int(rcptlist_count(l), 4, "four entries");
	ok(rcptlist_has(l, "alice", "acme.example"), "alice@acme.example");
	ok(rcptlist_has(l, "ALICE", "acme.example"), "case-insensitive");
	ok(!rcptlist_has(l, "alice", "other.acme.example"),
	    "alice only at acme.example");
	ok(rcptlist_has(l, "PostMaster", "sales.acme.example"),
	    "bare local part: any domain");
	ok(rcptlist_has(l, "anyone", "lab.acme.example"), "@domain");
	ok(!rcptlist_has(l, "anyone", "x.lab.acme.example"),
	    "@domain is not its subdomains");
	ok(rcptlist_has(l, "bob", "acme.example"), "blanks trimmed");
	ok(!rcptlist_has(l, "carol", "acme.example"), "carol is not listed");
	ok(!rcptlist_has(l, "bad%relay", "acme.example"),
	    "refused entry is not listed");
	rcptlist_free(l);
	nerr = 0;
	ok(rcptlist_load("/nonexistent/users", NULL, &nerr) == NULL &&
	    nerr == 1, "missing list: NULL, one problem");
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	test_lookup();
	test_errors();
	test_big();
	test_rcptlist();
	cleanup();
	return done_testing();
}
