/*
 * qint.h - private to the queue code in spoolfmt/ (qid.c, qenv.c,
 * queue.c, qdir.c, qlist.c): envelope text, envelope parsing on an open
 * descriptor, the copy of message octets between entries, the list of
 * customer directories.  Only spoolfmt/ and its unit tests include it;
 * the public interface is queue.h.
 */
#ifndef QINT_H
#define QINT_H

#include <sys/types.h>
#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define QENV_MAGIC	"MBQ 1"
#define QENV_SIZE_DIGITS 20	/* width of the size field */

/* A growable byte buffer for envelope text. */
struct qbuf {
	char   *p;
	size_t	len;
	size_t	cap;
};

/*
 * qenv_format - the envelope text of env with the size field written
 * as 20 digits of size; *size_off gets the offset of those digits.
 * RS_PERM (err says why) when a value cannot be written: CR or LF in
 * it, a line longer than QENV_LINE_MAX, no recipient, a bad id or
 * customer.  RS_TEMP when out of memory.
 */
enum result qenv_format(const struct qenv *env, uint64_t size,
	    struct qbuf *out, size_t *size_off, char *err, size_t errlen);
void	qbuf_free(struct qbuf *b);

/*
 * qenv_read_fd - parse the entry open on fd (positioned anywhere) and
 * check that its length is envelope + size.  st_size is the length of
 * the file.  Like qenv_read otherwise.
 */
enum result qenv_read_fd(int fd, off_t st_size, struct qenv *env,
	    off_t *body_off, char *err, size_t errlen);
/* qenv_open - an entry opened read-only: RS_PERM when it never opens. */
enum result qenv_open(const char *path, int *fd, struct stat *st,
	    char *err, size_t errlen);
/* qenv_check_place - RS_PERM when env names another id or customer. */
enum result qenv_check_place(const struct qenv *env, const char *customer,
	    const char *id, char *err, size_t errlen);

/*
 * qenv_load - qenv_read of <spool>/q/<customer>/new/<id>, and RS_PERM
 * when the envelope names another id or customer than its place.
 */
enum result qenv_load(const char *spool, const char *customer,
	    const char *id, struct qenv *env, off_t *body_off, char *err,
	    size_t errlen);

/*
 * q_copy - copy len octets of in from offset off to out at its current
 * position: copy_file_range(2) where the system has it, else pread and
 * write through buf.  -1 and errno on error (EIO when in is short).
 */
int	q_copy(int in, off_t off, uint64_t len, int out, char *buf,
	    size_t buflen);

/*
 * qw_commit_if - qw_commit that, just before the rename, checks that
 * new/<id> is still the file (dev, ino) it replaces; qenv_rewrite
 * uses it so a removed entry is never brought back.
 */
enum result qw_commit_if(struct qwriter *w, dev_t dev, ino_t ino,
	    char *err, size_t errlen);
/* qw_flush_fd - the descriptor of the tmp file, its buffer flushed. */
int	qw_flush_fd(struct qwriter *w, char *err, size_t errlen);
/* qw_id, qw_arrival - the entry's id and arrival, as opened. */
const char *qw_id(const struct qwriter *w);
time_t	qw_arrival(const struct qwriter *w);
/* qw_customer - whose queue the entry goes into. */
const char *qw_customer(const struct qwriter *w);
/* qw_add_size - record n octets written to the fd behind the buffer. */
void	qw_add_size(struct qwriter *w, uint64_t n);

/*
 * spool_customers - the customer directories under <spool>/q (names
 * that pass name_is_safe), sorted.  -1 and errno on error.
 */
int	spool_customers(const char *spool, char ***list, int *n);
void	spool_customers_free(char **list, int n);

/* q_sanitize - a copy of s fit for a terminal: controls become '?'. */
const char *q_sanitize(const char *s, char *buf, size_t len);

#endif
