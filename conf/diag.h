/*
 * diag.h - configuration problems as "file:line: message" lines.
 * A diag either prints each problem at once (to a FILE) or collects
 * them so that a whole load can be reported in order: by file (in the
 * order the files were first named) and then by line.  Line 0 means
 * "the file as a whole" and prints as "file: message".
 */
#ifndef DIAG_H
#define DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct diag_item;

struct diag {
	FILE	*out;			/* where problems go or NULL */
	int	collect;		/* 1 = hold until diag_flush */
	int	n;			/* problems so far */
	struct diag_item *v;
	size_t	len, cap;
	char  **files;			/* file order for sorting */
	size_t	nfiles;
};

void	diag_init(struct diag *d, FILE *out, int collect);
/* diag_file - fix the sort rank of file (first call wins). */
void	diag_file(struct diag *d, const char *file);
void	diag_add(struct diag *d, const char *file, int line,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	diag_vadd(struct diag *d, const char *file, int line,
	    const char *fmt, va_list ap);
/* diag_flush - print what was collected, sorted; keeps the count. */
void	diag_flush(struct diag *d);
void	diag_free(struct diag *d);
/*
 * diag_lines - call fn for each line of fp (newline kept) with its
 * number; a line longer than max octets is reported as "line too long"
 * and skipped; a read error is reported.  max is at most DIAG_LINE_MAX.
 */
#define DIAG_LINE_MAX	4096
void	diag_lines(struct diag *d, FILE *fp, const char *file, size_t max,
	    void (*fn)(void *arg, char *line, int lineno), void *arg);

#endif
