/*
 * rcptlist.h - a customer's list of valid recipients (optional).
 * One entry per line, '#' comments: "user@domain" (that address),
 * "user" (that local part in any of the customer's domains) or
 * "@domain" (anything at that domain).  Case-insensitive.
 */
#ifndef RCPTLIST_H
#define RCPTLIST_H

#include <stdio.h>

struct rcptlist;

struct rcptlist *rcptlist_load(const char *path, FILE *errs, int *nerr);
/* rcptlist_has - 1 if local@domain is listed (domain normalised). */
int	rcptlist_has(const struct rcptlist *l, const char *local,
	    const char *domain);
void	rcptlist_free(struct rcptlist *l);
/* rcptlist_count - number of distinct entries. */
size_t	rcptlist_count(const struct rcptlist *l);
/*
 * rcptlist_load_diag - rcptlist_load reporting through d (diag.h);
 * NULL with errno set, and nothing reported, when path cannot be opened.
 */
struct diag;
struct rcptlist *rcptlist_load_diag(const char *path, struct diag *d);

#endif
