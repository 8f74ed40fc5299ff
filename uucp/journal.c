/*
 * journal.c - the injection journal (journal.h).  Lines are
 * "MSG RCPT WHAT\n" with decimal numbers; a line that is malformed or
 * cut short by a crash is ignored (and a missing final newline is
 * written first, so the next record starts a line of its own).  The
 * finished copies, and those taken with a DSN still owed, are kept in
 * memory as sorted arrays of keys.  An open journal is flock'ed, and
 * it is the file its path names when the lock is taken: one another
 * run removed while we waited is opened again.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "util.h"

#define JLINE_MAX	64

/* A sorted set of copies, msg << 16 | rcpt. */
struct keys {
	uint64_t *v;
	size_t	n, cap;
};

struct journal {
	int	fd;
	char	path[PATH_MAX];
	struct keys done;	/* finished */
	struct keys taken;	/* taken, their DSN still owed */
};

static uint64_t
key(unsigned msg, unsigned rcpt)
{
	return (uint64_t)msg << 16 | (rcpt & 0xffff);
}

/* find - index of k, or where it would go. */
static size_t
find(const struct keys *s, uint64_t k)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->v[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
has(const struct keys *s, uint64_t k)
{
	size_t at = find(s, k);

	return at < s->n && s->v[at] == k;
}

static int
add(struct keys *s, uint64_t k)
{
	size_t at = find(s, k);
	uint64_t *nk;

	if (at < s->n && s->v[at] == k)
		return 0;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		if ((nk = realloc(s->v, s->cap * sizeof(*nk))) == NULL)
			return -1;
		s->v = nk;
	}
	memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*nk));
	s->v[at] = k;
	s->n++;
	return 0;
}

/* note - copy k is what says ("taken", or finished); 0 or -1. */
static int
note(struct journal *j, uint64_t k, const char *what)
{
	return add(strcmp(what, "taken") == 0 ? &j->taken : &j->done, k);
}

static int
parse_num(const char *s, char **end, unsigned long max, unsigned *out)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno != 0 || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* load_line - one complete line; malformed ones are skipped. */
static void
load_line(struct journal *j, const char *line)
{
	unsigned msg, rcpt;
	char *e;

	if (parse_num(line, &e, UINT_MAX, &msg) == -1 || *e != ' ' ||
	    parse_num(e + 1, &e, 0xffff, &rcpt) == -1 || *e != ' ' ||
	    (strcmp(e + 1, "ok") != 0 && strcmp(e + 1, "bounced") != 0 &&
	    strcmp(e + 1, "failed") != 0 && strcmp(e + 1, "taken") != 0))
		return;
	note(j, key(msg, rcpt), e + 1);
}

static int
load(struct journal *j, int *ends_nl)
{
	FILE *f;
	char line[JLINE_MAX + 2];
	size_t len;
	int fd = dup(j->fd);

	*ends_nl = 1;
	if (fd == -1 || (f = fdopen(fd, "r")) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			*ends_nl = 0;	/* cut short, or too long: skip it */
			if (len == sizeof(line) - 1) {
				int c;
				while ((c = fgetc(f)) != EOF && c != '\n')
					;
				*ends_nl = c == '\n';
			}
			continue;
		}
		line[len - 1] = '\0';
		load_line(j, line);
	}
	fclose(f);
	return 0;
}

/*
 * open_locked - path opened (made if missing) and flock'ed, and still
 * the file path names once the lock is ours; -1 on failure.  *created
 * says whether it was made here.
 */
static int
open_locked(const char *path, int *created)
{
	struct stat st, at;
	int fd;

	for (;;) {
		*created = stat(path, &st) == -1;
		if ((fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC,
		    0600)) == -1)
			return -1;
		if (flock(fd, LOCK_EX) == -1 || fstat(fd, &st) == -1) {
			close(fd);
			return -1;
		}
		if (stat(path, &at) == 0 && at.st_dev == st.st_dev &&
		    at.st_ino == st.st_ino)
			return fd;
		close(fd);	/* removed (finished) while we waited */
	}
}

struct journal *
journal_open(const char *path, char *err, size_t errlen)
{
	struct journal *j;
	int ends_nl, created;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	strlcpy_(j->path, path, sizeof(j->path));
	if ((j->fd = open_locked(path, &created)) == -1 ||
	    load(j, &ends_nl) == -1 ||
	    (!ends_nl && io_write_all(j->fd, "\n", 1) == -1) ||
	    (created && io_fsync_parent(path) == -1)) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		journal_close(j);
		return NULL;
	}
	return j;
}

int
journal_done(const struct journal *j, unsigned msg, unsigned rcpt)
{
	return has(&j->done, key(msg, rcpt));
}

int
journal_taken(const struct journal *j, unsigned msg, unsigned rcpt)
{
	return has(&j->done, key(msg, rcpt)) ||
	    has(&j->taken, key(msg, rcpt));
}

int
journal_record(struct journal *j, unsigned msg, unsigned rcpt,
    const char *what)
{
	char line[JLINE_MAX];
	int n;

	n = snprintf(line, sizeof(line), "%u %u %s\n", msg, rcpt, what);
	if (n < 0 || (size_t)n >= sizeof(line) || rcpt > 0xffff) {
		errno = EINVAL;
		return -1;
	}
	if (io_write_all(j->fd, line, (size_t)n) == -1 || fsync(j->fd) == -1)
		return -1;
	return note(j, key(msg, rcpt), what);
}

size_t
journal_count(const struct journal *j)
{
	return j->done.n;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->fd != -1)
		close(j->fd);
	free(j->done.v);
	free(j->taken.v);
	free(j);
}
