/*
 * diag.c - collecting and printing "file:line: message" problems, see
 * diag.h.  Running out of memory while collecting falls back to
 * printing at once, so no problem is ever lost silently.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

struct diag_item {
	size_t	rank;			/* index in files */
	int	line;
	size_t	seq;			/* keeps the sort stable */
	char   *file;
	char   *msg;
};

void
diag_init(struct diag *d, FILE *out, int collect)
{
	memset(d, 0, sizeof(*d));
	d->out = out;
	d->collect = collect;
}

static void
print_one(FILE *out, const char *file, int line, const char *msg)
{
	if (out == NULL)
		return;
	if (line > 0)
		fprintf(out, "%s:%d: %s\n", file, line, msg);
	else
		fprintf(out, "%s: %s\n", file, msg);
}

/* rank_of - index of file in d->files, adding it; -1 on ENOMEM. */
static long
rank_of(struct diag *d, const char *file)
{
	char **nf, *copy;
	size_t i;

	for (i = 0; i < d->nfiles; i++)
		if (strcmp(d->files[i], file) == 0)
			return (long)i;
	if ((copy = strdup(file)) == NULL)
		return -1;
	nf = realloc(d->files, (d->nfiles + 1) * sizeof(*nf));
	if (nf == NULL) {
		free(copy);
		return -1;
	}
	d->files = nf;
	d->files[d->nfiles] = copy;
	return (long)d->nfiles++;
}

void
diag_file(struct diag *d, const char *file)
{
	(void)rank_of(d, file);
}

static int
keep(struct diag *d, const char *file, int line, const char *msg)
{
	struct diag_item *it;
	long rank;

	if ((rank = rank_of(d, file)) == -1)
		return -1;
	if (d->len == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct diag_item *nv = realloc(d->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		d->v = nv;
		d->cap = cap;
	}
	it = &d->v[d->len];
	it->rank = (size_t)rank;
	it->line = line;
	it->seq = d->len;
	it->file = d->files[rank];
	if ((it->msg = strdup(msg)) == NULL)
		return -1;
	d->len++;
	return 0;
}

void
diag_vadd(struct diag *d, const char *file, int line, const char *fmt,
    va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	d->n++;
	if (!d->collect || keep(d, file, line, msg) == -1)
		print_one(d->out, file, line, msg);
}

void
diag_add(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, file, line, fmt, ap);
	va_end(ap);
}

static int
cmp_item(const void *a, const void *b)
{
	const struct diag_item *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
diag_flush(struct diag *d)
{
	size_t i;

	if (d->len > 1)
		qsort(d->v, d->len, sizeof(*d->v), cmp_item);
	for (i = 0; i < d->len; i++) {
		print_one(d->out, d->v[i].file, d->v[i].line, d->v[i].msg);
		free(d->v[i].msg);
	}
	d->len = 0;
	if (d->out != NULL)
		fflush(d->out);
}

void
diag_free(struct diag *d)
{
	size_t i;

	for (i = 0; i < d->len; i++)
		free(d->v[i].msg);
	for (i = 0; i < d->nfiles; i++)
		free(d->files[i]);
	free(d->v);
	free(d->files);
	d->v = NULL;
	d->files = NULL;
	d->len = d->cap = d->nfiles = 0;
}

void
diag_lines(struct diag *d, FILE *fp, const char *file, size_t max,
    void (*fn)(void *arg, char *line, int lineno), void *arg)
{
	char buf[DIAG_LINE_MAX + 2];
	size_t len;
	int line = 0, skipping = 0;

	if (max > DIAG_LINE_MAX)
		max = DIAG_LINE_MAX;
	while (fgets(buf, (int)max + 2, fp) != NULL) {
		len = strlen(buf);
		if (!skipping)
			line++;
		if (len > 0 && buf[len - 1] != '\n' && !feof(fp)) {
			if (!skipping)
				diag_add(d, file, line, "line too long");
			skipping = 1;
			continue;
		}
		if (skipping) {
			skipping = 0;
			continue;
		}
		fn(arg, buf, line);
	}
	if (ferror(fp))
		diag_add(d, file, 0, "read error: %s", strerror(errno));
}
