/*
 * usage.c - queued bytes per customer in one MAP_SHARED table of a
 * memory file (memfd) that bridged creates before forking, so every
 * session sees what the others committed without scanning a directory
 * per message; the lookup process, exec'd, maps it from the
 * descriptor the master passes (usage_attach).
 *
 * Invariants: slot i belongs to c->customers[i] of the config the
 * table was made for (the name is kept to check it); counters change
 * only with atomic operations.  The master re-reads the spool now and
 * then (usage_refresh), which also accounts for removed entries.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "util.h"
#include "smtpd.h"

struct usage_slot {
	char	name[64];
	uint64_t bytes;
	uint64_t count;
};

struct usage {
	int	fd;			/* the memory file, or -1 */
	size_t	maplen;
	int	nslots;
	struct usage_slot *slot;
};

struct usage *
usage_create(const struct bridge_conf *c)
{
	struct usage *u;
	size_t len;
	void *m;
	int i;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	len = sizeof(struct usage_slot) * (size_t)(c->ncustomers + 1);
	if ((u->fd = memfd_create("bridge-usage", MFD_CLOEXEC)) == -1 ||
	    ftruncate(u->fd, (off_t)len) == -1 ||
	    (m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, u->fd,
	    0)) == MAP_FAILED) {
		if (u->fd != -1)
			close(u->fd);
		free(u);
		return NULL;
	}
	u->maplen = len;
	u->slot = m;
	u->nslots = c->ncustomers;
	for (i = 0; i < c->ncustomers; i++)
		strlcpy_(u->slot[i].name, c->customers[i].name,
		    sizeof(u->slot[i].name));
	usage_refresh(u, c);
	return u;
}

void
usage_refresh(struct usage *u, const struct bridge_conf *c)
{
	struct qusage q;
	int i;

	for (i = 0; i < u->nslots && i < c->ncustomers; i++) {
		if (spool_usage(c->spool, c->customers[i].name, &q) != RS_OK)
			continue;
		__atomic_store_n(&u->slot[i].bytes, q.bytes, __ATOMIC_RELAXED);
		__atomic_store_n(&u->slot[i].count, q.count, __ATOMIC_RELAXED);
	}
}

struct usage *
usage_attach(int fd)
{
	struct usage *u;
	struct stat st;
	void *m;

	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    (size_t)st.st_size % sizeof(struct usage_slot) != 0 ||
	    (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (m == MAP_FAILED) {
		free(u);
		return NULL;
	}
	u->fd = fd;
	u->maplen = (size_t)st.st_size;
	u->slot = m;
	/* the last slot is spare: see usage_create */
	u->nslots = (int)(u->maplen / sizeof(struct usage_slot)) - 1;
	return u;
}

int
usage_fd(const struct usage *u)
{
	return u != NULL ? u->fd : -1;
}

void
usage_destroy(struct usage *u)
{
	if (u == NULL)
		return;
	munmap(u->slot, u->maplen);
	if (u->fd != -1)
		close(u->fd);
	free(u);
}

/* slot_at - slot i if it is name's, else NULL (another config's table). */
static struct usage_slot *
slot_at(struct usage *u, long i, const char *name)
{
	if (u == NULL || i < 0 || i >= u->nslots ||
	    strcmp(u->slot[i].name, name) != 0)
		return NULL;
	return &u->slot[i];
}

/* usage_read - cu's bytes and count: the table's, or the spool's now. */
static enum result
usage_read(struct usage *u, const struct bridge_conf *c,
    const struct customer *cu, uint64_t *bytes, uint64_t *count)
{
	struct qusage q;
	enum result rs;

	if (usage_get_at(u, cu - c->customers, cu->name, bytes, count) == 0)
		return RS_OK;
	if ((rs = spool_usage(c->spool, cu->name, &q)) != RS_OK)
		return rs;
	if (bytes != NULL)
		*bytes = q.bytes;
	if (count != NULL)
		*count = q.count;
	return RS_OK;
}

enum result
usage_get(struct usage *u, const struct bridge_conf *c,
    const struct customer *cu, uint64_t *bytes)
{
	return usage_read(u, c, cu, bytes, NULL);
}

enum result
usage_count(struct usage *u, const struct bridge_conf *c,
    const struct customer *cu, uint64_t *count)
{
	return usage_read(u, c, cu, NULL, count);
}

void
usage_add(struct usage *u, const struct bridge_conf *c,
    const struct customer *cu, uint64_t bytes)
{
	usage_add_at(u, cu - c->customers, cu->name, bytes);
}

int
usage_get_at(struct usage *u, long slot, const char *name, uint64_t *bytes,
    uint64_t *count)
{
	struct usage_slot *s;

	if ((s = slot_at(u, slot, name)) == NULL)
		return -1;
	if (bytes != NULL)
		*bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	if (count != NULL)
		*count = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
	return 0;
}

void
usage_add_at(struct usage *u, long slot, const char *name, uint64_t bytes)
{
	struct usage_slot *s;

	if ((s = slot_at(u, slot, name)) == NULL)
		return;
	__atomic_add_fetch(&s->bytes, bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->count, 1, __ATOMIC_RELAXED);
}
