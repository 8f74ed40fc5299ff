/*
 * routes.c - the routes table (routes(5)), see routes.h.
 *
 * Lines are "key value" with '#' comments; keys are normalised (lower
 * case, one trailing dot dropped) and are a domain, ".parent" (strict
 * subdomains only) or "." (the default).  Entries live in one array in
 * file order and an open-addressing hash (strtab) indexes them by key,
 * so a lookup costs one probe per label of the domain plus the default.
 * Every entry keeps its line so operators can see which line matched.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "diag.h"
#include "routes.h"
#include "strtab.h"
#include "util.h"

#define ROUTES_LINE_MAX	4096
#define DEFAULT_ERROR_TEXT "mail for this domain is refused"

struct rentry {
	char   *key;			/* normalised; owns the storage */
	const char *value;		/* customer, or "error:..." */
	enum route_kind kind;
	int	code;
	char	status[12];		/* "5.7.1" */
	const char *text;
	int	line;
};

struct routes {
	char   *file;
	struct rentry *v;
	size_t	n, cap;
	struct strtab idx;		/* key -> index + 1 */
};

/* key_ok - ".", a domain, or ".domain", already normalised. */
static int
key_ok(const char *k)
{
	size_t i, label = 0;

	if (strcmp(k, ".") == 0)
		return 1;
	if (*k == '.')
		k++;
	if (*k == '\0' || strlen(k) > 255)
		return 0;
	for (i = 0; k[i] != '\0'; i++) {
		if (k[i] == '.') {
			if (label == 0 || k[i - 1] == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)k[i]) ||
		    (k[i] == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && k[i - 1] != '-';
}

/* parse_error_value - "error:D.S.N [text]" into e; -1 if malformed. */
static int
parse_error_value(char *v, struct rentry *e)
{
	char *p = v + 6, *t;
	size_t n;
	int part;

	if (*p != '4' && *p != '5')
		return -1;
	e->code = *p == '5' ? 550 : 450;
	p++;
	for (part = 0; part < 2; part++) {
		if (*p++ != '.')
			return -1;
		for (n = 0; isdigit((unsigned char)*p); p++)
			n++;
		if (n < 1 || n > 3)
			return -1;
	}
	if (*p != '\0' && *p != ' ' && *p != '\t')
		return -1;
	memcpy(e->status, v + 6, (size_t)(p - (v + 6)));
	e->status[p - (v + 6)] = '\0';
	for (t = p; *t == ' ' || *t == '\t'; t++)
		;
	e->text = *t != '\0' ? t : DEFAULT_ERROR_TEXT;
	e->kind = ROUTE_ERROR;
	return 0;
}

/* split_line - strip comment and blanks; *key and *val or -1 if blank. */
static int
split_line(char *s, char **key, char **val)
{
	char *p, *end;

	for (p = s; *p != '\0'; p++)
		if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return -1;
	*key = s;
	for (p = s; *p != '\0' && !isspace((unsigned char)*p); p++)
		;
	if (*p != '\0') {
		*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
	}
	*val = p;
	return 0;
}

static int
add_entry(struct routes *r, struct rentry *e)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct rentry *nv = realloc(r->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		r->v = nv;
		r->cap = cap;
	}
	r->v[r->n++] = *e;
	return 0;
}

/* parse_line - one non-blank line; problems go to d. */
static void
parse_line(struct routes *r, char *key, char *val, int line, struct diag *d)
{
	struct rentry e;
	size_t kl, vl;
	void *old;
	int rc;

	memset(&e, 0, sizeof(e));
	if (*val == '\0') {
		diag_add(d, r->file, line, "missing value for key %s", key);
		return;
	}
	kl = strlen(key);
	vl = strlen(val);
	if ((e.key = malloc(kl + vl + 2)) == NULL) {
		diag_add(d, r->file, line, "out of memory");
		return;
	}
	memcpy(e.key, key, kl + 1);
	memcpy(e.key + kl + 1, val, vl + 1);
	e.value = e.key + kl + 1;
	domain_normalise(e.key);
	e.line = line;
	if (!key_ok(e.key)) {
		diag_add(d, r->file, line, "bad key \"%s\"", key);
		goto bad;
	}
	if (strncmp(e.value, "error:", 6) == 0) {
		if (parse_error_value(e.key + kl + 1, &e) == -1) {
			diag_add(d, r->file, line, "bad error value \"%s\" "
			    "(want error:D.S.N text, D 4 or 5)", val);
			goto bad;
		}
	} else if (strpbrk(e.value, " \t") != NULL) {
		diag_add(d, r->file, line, "unexpected text after customer "
		    "name in \"%s\"", val);
		goto bad;
	} else if (!name_is_safe(e.value)) {
		diag_add(d, r->file, line, "bad customer name \"%s\"", val);
		goto bad;
	} else {
		e.kind = ROUTE_CUSTOMER;
	}
	rc = strtab_put(&r->idx, e.key, (void *)(uintptr_t)(r->n + 1), &old);
	if (rc == 0) {
		diag_add(d, r->file, line, "duplicate key %s (first at line "
		    "%d)", e.key, r->v[(uintptr_t)old - 1].line);
		goto bad;
	}
	if (rc == -1 || add_entry(r, &e) == -1) {
		diag_add(d, r->file, line, "out of memory");
		goto bad;
	}
	return;
bad:
	free(e.key);
}

struct line_ctx {
	struct routes *r;
	struct diag *d;
};

/* one_line - a line of the routes file to parse_line. */
static void
one_line(void *arg, char *buf, int line)
{
	struct line_ctx *x = arg;
	char *key, *val;

	if (split_line(buf, &key, &val) == 0)
		parse_line(x->r, key, val, line, x->d);
}

static void
read_lines(struct routes *r, FILE *fp, struct diag *d)
{
	struct line_ctx x = { r, d };

	diag_lines(d, fp, r->file, ROUTES_LINE_MAX, one_line, &x);
}

struct routes *
routes_load_diag(const char *name, const char *text, struct diag *d)
{
	struct routes *r;
	FILE *fp;

	if (text != NULL)
		fp = fmemopen((void *)text, strlen(text), "r");
	else
		fp = fopen(name, "re");
	if (fp == NULL)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->file = strdup(name)) == NULL ||
	    strtab_init(&r->idx, 64) == -1) {
		if (r != NULL)
			free(r->file);
		free(r);
		fclose(fp);
		errno = ENOMEM;
		return NULL;
	}
	read_lines(r, fp, d);
	fclose(fp);
	return r;
}

static struct routes *
load_print(const char *name, const char *text, FILE *errs, int *nerr)
{
	struct routes *r;
	struct diag d;

	diag_init(&d, errs, 0);
	if ((r = routes_load_diag(name, text, &d)) == NULL)
		diag_add(&d, name, 0, "%s", strerror(errno));
	if (nerr != NULL)
		*nerr = d.n;
	diag_free(&d);
	return r;
}

struct routes *
routes_load(const char *path, FILE *errs, int *nerr)
{
	return load_print(path, NULL, errs, nerr);
}

struct routes *
routes_load_buf(const char *name, const char *text, FILE *errs, int *nerr)
{
	return load_print(name, text != NULL ? text : "", errs, nerr);
}

static int
find(const struct routes *r, const char *key, struct route_result *res)
{
	uintptr_t i = (uintptr_t)strtab_get(&r->idx, key);
	const struct rentry *e;

	if (i == 0)
		return 0;
	e = &r->v[i - 1];
	res->kind = e->kind;
	res->key = e->key;
	res->file = r->file;
	res->line = e->line;
	if (e->kind == ROUTE_CUSTOMER) {
		res->customer = e->value;
	} else {
		res->code = e->code;
		res->status = e->status;
		res->text = e->text;
	}
	return 1;
}

void
routes_lookup(const struct routes *r, const char *domain,
    struct route_result *res)
{
	const char *p;

	memset(res, 0, sizeof(*res));
	res->kind = ROUTE_NONE;
	if (r == NULL || domain == NULL || *domain == '\0')
		return;
	if (find(r, domain, res))
		return;
	for (p = strchr(domain + 1, '.'); p != NULL; p = strchr(p + 1, '.'))
		if (p[1] != '\0' && find(r, p, res))
			return;
	(void)find(r, ".", res);
}

void
routes_foreach(const struct routes *r,
    void (*fn)(void *arg, const char *key, const char *value,
	const char *file, int line), void *arg)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		if (r->v[i].kind == ROUTE_CUSTOMER)
			fn(arg, r->v[i].key, r->v[i].value, r->file,
			    r->v[i].line);
}

size_t
routes_count(const struct routes *r)
{
	return r != NULL ? r->n : 0;
}

const char *
routes_file(const struct routes *r)
{
	return r != NULL ? r->file : NULL;
}

void
routes_free(struct routes *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free(r->v[i].key);
	free(r->v);
	strtab_free(&r->idx);
	free(r->file);
	free(r);
}
