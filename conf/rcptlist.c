/*
 * rcptlist.c - a customer's list of valid recipients, see rcptlist.h.
 *
 * Entries are stored lower-cased in one open-addressing hash (strtab)
 * in three shapes: "local@domain", "local" and "@domain"; a lookup is
 * at most three probes.  An entry must parse as a plain address (no
 * routing characters, no literals), so a list cannot open a relay.
 * '#' starts a comment at the start of a line or after a blank.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "diag.h"
#include "rcptlist.h"
#include "strtab.h"

#define RCPT_LINE_MAX	1024
#define RCPT_KEY_MAX	(ADDR_LOCAL_MAX * 2 + 3 + ADDR_DOMAIN_MAX + 2)

struct rcptlist {
	char   *file;
	struct strtab idx;
	char  **keys;
	size_t	n, cap;
};

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* entry_key - the stored form of one entry into key; -1 if invalid. */
static int
entry_key(const char *ent, char *key, size_t len)
{
	struct addr a;
	char tmp[ADDR_PATH_MAX + 2];
	const char *why;

	if (ent[0] == '@') {
		if (snprintf(tmp, sizeof(tmp), "x%s", ent) >=
		    (int)sizeof(tmp) ||
		    addr_parse_plain(tmp, 0, &a, &why) != ADDR_OK)
			return -1;
		snprintf(key, len, "@%s", a.domain);
		return 0;
	}
	switch (addr_parse_plain(ent, 0, &a, &why)) {
	case ADDR_OK:
		snprintf(key, len, "%s@%s", a.local, a.domain);
		break;
	case ADDR_NODOMAIN:
		snprintf(key, len, "%s", a.local);
		break;
	default:
		return -1;
	}
	lower(key);
	return 0;
}

static int
add_key(struct rcptlist *l, const char *key)
{
	char *k;
	int rc;

	if (strtab_get(&l->idx, key) != NULL)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **nk = realloc(l->keys, cap * sizeof(*nk));

		if (nk == NULL)
			return -1;
		l->keys = nk;
		l->cap = cap;
	}
	if ((k = strdup(key)) == NULL)
		return -1;
	if ((rc = strtab_put(&l->idx, k, k, NULL)) != 1) {
		free(k);
		return rc == 0 ? 0 : -1;
	}
	l->keys[l->n++] = k;
	return 0;
}

/* trim - strip comment and blanks in place; the entry or NULL. */
static char *
trim(char *s)
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
	return *s != '\0' ? s : NULL;
}

struct line_ctx {
	struct rcptlist *l;
	struct diag *d;
};

/* one_line - a line of the recipients file into the table. */
static void
one_line(void *arg, char *buf, int line)
{
	struct line_ctx *x = arg;
	char key[RCPT_KEY_MAX], *ent;

	if ((ent = trim(buf)) == NULL)
		return;
	if (strpbrk(ent, " \t") != NULL ||
	    entry_key(ent, key, sizeof(key)) == -1)
		diag_add(x->d, x->l->file, line, "bad recipient \"%s\" (want "
		    "user@domain, user or @domain)", ent);
	else if (add_key(x->l, key) == -1)
		diag_add(x->d, x->l->file, line, "out of memory");
}

static void
read_lines(struct rcptlist *l, FILE *fp, struct diag *d)
{
	struct line_ctx x = { l, d };

	diag_lines(d, fp, l->file, RCPT_LINE_MAX, one_line, &x);
}

struct rcptlist *
rcptlist_load_diag(const char *path, struct diag *d)
{
	struct rcptlist *l;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL)
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->file = strdup(path)) == NULL ||
	    strtab_init(&l->idx, 64) == -1) {
		if (l != NULL)
			free(l->file);
		free(l);
		fclose(fp);
		errno = ENOMEM;
		return NULL;
	}
	read_lines(l, fp, d);
	fclose(fp);
	return l;
}

struct rcptlist *
rcptlist_load(const char *path, FILE *errs, int *nerr)
{
	struct rcptlist *l;
	struct diag d;

	diag_init(&d, errs, 0);
	if ((l = rcptlist_load_diag(path, &d)) == NULL)
		diag_add(&d, path, 0, "%s", strerror(errno));
	if (nerr != NULL)
		*nerr = d.n;
	diag_free(&d);
	return l;
}

int
rcptlist_has(const struct rcptlist *l, const char *local, const char *domain)
{
	char key[RCPT_KEY_MAX];

	if (l == NULL || local == NULL || domain == NULL)
		return 0;
	if (snprintf(key, sizeof(key), "%s@%s", local, domain) >=
	    (int)sizeof(key))
		return 0;
	lower(key);
	if (strtab_get(&l->idx, key) != NULL)
		return 1;
	*strrchr(key, '@') = '\0';
	if (strtab_get(&l->idx, key) != NULL)
		return 1;
	snprintf(key, sizeof(key), "@%s", domain);
	lower(key);
	return strtab_get(&l->idx, key) != NULL;
}

size_t
rcptlist_count(const struct rcptlist *l)
{
	return l != NULL ? l->n : 0;
}

void
rcptlist_free(struct rcptlist *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	strtab_free(&l->idx);
	free(l->file);
	free(l);
}
