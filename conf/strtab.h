/*
 * strtab.h - a string-keyed hash table with open addressing (linear
 * probing, load kept under one half), used for the routes table and
 * recipient lists.  Keys are borrowed: the caller keeps them alive and
 * unchanged for as long as they are in the table.
 */
#ifndef STRTAB_H
#define STRTAB_H

#include <stddef.h>
#include <stdint.h>

struct strtab_slot {
	const char *key;		/* NULL = empty slot */
	uint64_t hash;
	void	*val;
};

struct strtab {
	struct strtab_slot *slots;
	size_t	cap;			/* power of two, or 0 */
	size_t	n;
};

/* strtab_init - empty table sized for about hint keys; -1 on ENOMEM. */
int	strtab_init(struct strtab *t, size_t hint);
/* strtab_get - the value stored under key, or NULL. */
void   *strtab_get(const struct strtab *t, const char *key);
/*
 * strtab_put - add key -> val.  Returns 1 when added, 0 when key was
 * already there (the table is unchanged and *old, if old is not NULL,
 * gets the value already stored), -1 on ENOMEM.
 */
int	strtab_put(struct strtab *t, const char *key, void *val, void **old);
/* strtab_free - release the slots; keys and values are the caller's. */
void	strtab_free(struct strtab *t);
/* strtab_hash - the hash used (FNV-1a, 64 bits). */
uint64_t strtab_hash(const char *key);

#endif
