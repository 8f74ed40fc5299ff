/*
 * penalty.c - the lookup process's table of counted misdeeds and
 * lockouts: see penalty.h.  A linear table: it is consulted on AUTH
 * and ETRN only, never per message.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "util.h"
#include "penalty.h"

int
penalty_addr_key(char tag, const char *addr, char *buf, size_t len)
{
	struct in_addr a4;
	struct in6_addr a6;
	char s[INET6_ADDRSTRLEN];
	int n;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		n = snprintf(buf, len, "%c %s", tag, addr);
	else if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			memcpy(&a4, a6.s6_addr + 12, 4);
			if (inet_ntop(AF_INET, &a4, s, sizeof(s)) == NULL)
				return -1;
			n = snprintf(buf, len, "%c %s", tag, s);
			return n < 0 || (size_t)n >= len ? -1 : 0;
		}
		memset(a6.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a6, s, sizeof(s)) == NULL)
			return -1;
		n = snprintf(buf, len, "%c %s/64", tag, s);
	} else
		return -1;
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* find - key's entry, or NULL. */
static struct penalty_ent *
find(struct penalty *p, const char *key)
{
	int i;

	for (i = 0; i < PENALTY_MAX; i++)
		if (p->v[i].key[0] != '\0' && strcmp(p->v[i].key, key) == 0)
			return &p->v[i];
	return NULL;
}

long
penalty_locked(struct penalty *p, const char *key, double now)
{
	struct penalty_ent *e = find(p, key);
	long l;

	if (e == NULL || e->until <= now)
		return 0;
	l = (long)(e->until - now);
	return (double)l < e->until - now ? l + 1 : l;
}

int
penalty_add(struct penalty *p, const char *key, double now, long window,
    int max, long lock)
{
	struct penalty_ent *e = find(p, key), *old;
	int i;

	if (e == NULL) {
		/*
		 * a free slot, else the unlocked one seen longest ago (a
		 * flood of new addresses must not free a locked one), else
		 * the one seen longest ago
		 */
		old = NULL;
		for (i = 0; i < PENALTY_MAX; i++) {
			e = &p->v[i];
			if (e->key[0] == '\0') {
				old = e;
				break;
			}
			if (old == NULL || ((e->until <= now) == (old->until <=
			    now) ? e->seen < old->seen : e->until <= now))
				old = e;
		}
		e = old;
		memset(e, 0, sizeof(*e));
		strlcpy_(e->key, key, sizeof(e->key));
	}
	if (e->n == 0 || now - e->first >= (double)window) {
		e->n = 0;
		e->first = now;
	}
	e->seen = now;
	if (++e->n >= max && max > 0) {
		e->until = now + (double)lock;
		i = e->n;
		e->n = 0;
		return i;
	}
	return e->n;
}
