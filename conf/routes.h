/*
 * routes.h - the mailertable-like routes table (routes(5)).
 * Lookup of a normalised domain: the exact key, then ".parent" keys
 * from the nearest parent outwards, then "." as the default.  A value
 * is a customer name or "error:D.S.N text".
 */
#ifndef ROUTES_H
#define ROUTES_H

#include <stdio.h>

enum route_kind {
	ROUTE_NONE = 0,		/* not ours: 550 5.7.1 */
	ROUTE_CUSTOMER,
	ROUTE_ERROR
};

struct route_result {
	enum route_kind kind;
	const char *key;	/* the key that matched ("." for default) */
	const char *customer;	/* ROUTE_CUSTOMER */
	int	code;		/* ROUTE_ERROR: 550 for 5.x.x, 450 for 4.x.x */
	const char *status;	/* ROUTE_ERROR: "5.1.1" */
	const char *text;	/* ROUTE_ERROR: the text after the status */
	const char *file;	/* where the matching line is */
	int	line;
};

struct routes;

/*
 * routes_load - read path.  Each problem is printed to errs as
 * "file:line: message" and counted in *nerr; a table is still returned
 * (with the good lines) unless the file cannot be read (then NULL).
 */
struct routes *routes_load(const char *path, FILE *errs, int *nerr);
/* routes_load_buf - the same from memory (the embedded default). */
struct routes *routes_load_buf(const char *name, const char *text, FILE *errs,
	    int *nerr);
/* routes_lookup - domain must already be normalised (addr.h). */
void	routes_lookup(const struct routes *r, const char *domain,
	    struct route_result *res);
/* routes_foreach - call fn for each customer value (for validation). */
void	routes_foreach(const struct routes *r,
	    void (*fn)(void *arg, const char *key, const char *value,
		const char *file, int line), void *arg);
size_t	routes_count(const struct routes *r);
/* routes_file - the name the table was loaded from. */
const char *routes_file(const struct routes *r);
/*
 * routes_load_diag - the loader behind routes_load and routes_load_buf:
 * parse text (when not NULL) or the file name, reporting each problem
 * through d (diag.h).  NULL with errno set when the file cannot be
 * opened (nothing is reported then: the caller says where it came from).
 */
struct diag;
struct routes *routes_load_diag(const char *name, const char *text,
	    struct diag *d);
void	routes_free(struct routes *r);

#endif
