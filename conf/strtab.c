/*
 * strtab.c - open-addressing string hash table, see strtab.h.
 * Invariant: cap is 0 or a power of two and n * 2 <= cap, so a probe
 * always reaches an empty slot.
 */
#include <stdlib.h>
#include <string.h>

#include "strtab.h"

uint64_t
strtab_hash(const char *key)
{
	uint64_t h = 14695981039346656037ULL;

	while (*key != '\0') {
		h ^= (unsigned char)*key++;
		h *= 1099511628211ULL;
	}
	return h;
}

int
strtab_init(struct strtab *t, size_t hint)
{
	size_t cap = 16;

	while (cap < hint * 2 && cap < ((size_t)1 << 40))
		cap <<= 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (t->slots == NULL)
		return -1;
	t->cap = cap;
	t->n = 0;
	return 0;
}

/* find - the slot holding key, or the empty slot where it would go. */
static struct strtab_slot *
find(const struct strtab *t, const char *key, uint64_t h)
{
	size_t mask = t->cap - 1, i = (size_t)h & mask;
	struct strtab_slot *s;

	for (;;) {
		s = &t->slots[i];
		if (s->key == NULL ||
		    (s->hash == h && strcmp(s->key, key) == 0))
			return s;
		i = (i + 1) & mask;
	}
}

static int
grow(struct strtab *t)
{
	struct strtab t2;
	size_t i;

	t2.cap = t->cap * 2;
	t2.n = t->n;
	if ((t2.slots = calloc(t2.cap, sizeof(*t2.slots))) == NULL)
		return -1;
	for (i = 0; i < t->cap; i++)
		if (t->slots[i].key != NULL)
			*find(&t2, t->slots[i].key, t->slots[i].hash) =
			    t->slots[i];
	free(t->slots);
	*t = t2;
	return 0;
}

void *
strtab_get(const struct strtab *t, const char *key)
{
	struct strtab_slot *s;

	if (t->cap == 0)
		return NULL;
	s = find(t, key, strtab_hash(key));
	return s->key != NULL ? s->val : NULL;
}

int
strtab_put(struct strtab *t, const char *key, void *val, void **old)
{
	uint64_t h = strtab_hash(key);
	struct strtab_slot *s;

	if (t->cap == 0 && strtab_init(t, 8) == -1)
		return -1;
	s = find(t, key, h);
	if (s->key != NULL) {
		if (old != NULL)
			*old = s->val;
		return 0;
	}
	if ((t->n + 1) * 2 > t->cap) {
		if (grow(t) == -1)
			return -1;
		s = find(t, key, h);
	}
	s->key = key;
	s->hash = h;
	s->val = val;
	t->n++;
	return 1;
}

void
strtab_free(struct strtab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->n = 0;
}
