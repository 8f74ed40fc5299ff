/*
 * bundle.h - bundles (bundle(5)): one gzip stream of RFC 2442 batched
 * SMTP, one copy per recipient, each copy carrying its envelope in an
 * X-Mailbridge-Envelope: field (dsnenv.h) and exactly one
 * X-Envelope-To: header.  The writer is strict (CRLF, dot-stuffing,
 * HELO ... QUIT); the reader is liberal (gzip or plain, LF or CRLF,
 * with or without HELO/QUIT, RSET, several RCPTs) but checks the whole
 * stream before a caller injects anything from it.
 *
 * Names: TIME.PID.SEQ.LABEL.bsmtp.gz (see bundle_name_new): safe for
 * paths, unique per host, sortable by creation time.
 */
#ifndef BUNDLE_H
#define BUNDLE_H

#include <sys/types.h>

#include <stdint.h>

#include "util.h"

#define BUNDLE_NAME_MAX		128	/* with the terminating NUL */
#define BUNDLE_LINE_MAX		1000	/* command line octets, with CRLF */
#define BUNDLE_PATH_MAX		256	/* "<address>" octets, RFC 5321 */
#define BUNDLE_RCPTS_MAX	1000	/* RCPTs in one transaction */
#define BUNDLE_MEM_MAX		(1024 * 1024)	/* bigger bodies go to a file */

/* --- names --------------------------------------------------------- */

/*
 * bundle_name_new - "TIME.PID.SEQ.LABEL" + suffix into buf: TIME is 13
 * lower-case hex digits of microseconds since the epoch, PID 8 hex
 * digits, SEQ 8 hex digits counting up in this process.  label must
 * pass name_is_safe(); suffix is ".bsmtp.gz" or ".bsmtp".  -1 if the
 * label is unsafe or the name does not fit.
 */
int	bundle_name_new(char *buf, size_t len, const char *label,
	    const char *suffix);
/* bundle_name_is_valid - exactly the shape bundle_name_new makes. */
int	bundle_name_is_valid(const char *name);
/*
 * bundle_list - the valid bundle names in dir, sorted (oldest first);
 * none when dir does not exist.  -1 when it cannot be read; a list cut
 * short by memory is returned as far as it got.  Free with strv_free.
 */
int	bundle_list(const char *dir, char ***names, size_t *n);

/* --- writer -------------------------------------------------------- */

struct bundle;

/*
 * bundle_open - start a bundle for customer (the name's label) in the
 * directory dir (a tmp directory on the same filesystem as the place it
 * will be published to).  Writes "HELO hostname".  level is the deflate
 * level, 1..9 (6 is the format's default).
 */
enum result bundle_open(struct bundle **bp, const char *dir,
	    const char *customer, const char *hostname, int level,
	    char *err, size_t errlen);
/*
 * bundle_add_buf, bundle_add_fd - one copy of a message for one
 * recipient: MAIL, RCPT, DATA, the copy's envelope envhdr (the
 * X-Mailbridge-Envelope: field from dsnenv_header, CRLF included; NULL:
 * none), "X-Envelope-To: <rcpt>", the message dot-stuffed, ".".  The
 * message should have CRLF line ends; a bare LF is written as CRLF, a
 * missing final line end is added, and X-Envelope-To: and
 * X-Mailbridge-Envelope: fields already in its header are left out so
 * that each copy has exactly one of each.  sender "" is <>.
 * bundle_add_fd reads len octets of fd from offset off with pread, so
 * the same fd serves every recipient.  RS_PERM: an address that cannot
 * be written (control characters, '<', '>', too long), nothing was
 * written, or an envhdr that is not such a field; RS_TEMP: an I/O
 * error, after which the bundle can only be aborted.
 */
enum result bundle_add_buf(struct bundle *b, const char *sender,
	    const char *rcpt, const char *envhdr, const void *msg,
	    size_t len, char *err, size_t errlen);
enum result bundle_add_fd(struct bundle *b, const char *sender,
	    const char *rcpt, const char *envhdr, int fd, off_t off,
	    uint64_t len, char *err, size_t errlen);
/* bundle_sizes - uncompressed and compressed octets so far, copies. */
void	bundle_sizes(const struct bundle *b, uint64_t *raw, uint64_t *packed,
	    unsigned *copies);
/* bundle_name - the bundle's file name (valid until publish/abort). */
const char *bundle_name(const struct bundle *b);
/*
 * bundle_publish - write QUIT, finish the gzip stream, fsync, close,
 * rename into outdir, fsync outdir.  The name is copied to name_out
 * (if not NULL).  Frees b either way; on error the tmp file is removed.
 */
enum result bundle_publish(struct bundle *b, const char *outdir,
	    char *name_out, size_t name_len, char *err, size_t errlen);
/* bundle_abort - remove the tmp file and free b. */
void	bundle_abort(struct bundle *b);

/* --- reader -------------------------------------------------------- */

struct bundle_reader;

/* One transaction of a bundle, as bundle_read_next returns it. */
struct bundle_msg {
	unsigned index;		/* 1, 2, ... in stream order */
	unsigned long line;	/* line of its MAIL command */
	char	*sender;	/* without < >; "" is the null sender */
	char   **rcpts;		/* without < > */
	unsigned nrcpts;
	uint64_t size;		/* message octets (CRLF, not dot-stuffed) */
	char	*mem;		/* the message when it is in memory, or */
	int	fd;		/* an unlinked temp file holding it, or -1 */
	char	*env;		/* the body of the copy's X-Mailbridge-Envelope:
				   field (dsnenv_parse reads it), taken off
				   the message; NULL when it had none */
	size_t	envlen;
};

/*
 * bundle_reader_open - read the bundle on fd from its current offset:
 * gzip when it starts with 1f 8b (several members are read as one
 * stream, like gzip -d), plain BSMTP when it starts with a command.
 * Bodies over BUNDLE_MEM_MAX go to unlinked files in tmpdir (NULL: no
 * body is kept, as for bundle_verify).  The reader does not close fd.
 */
struct bundle_reader *bundle_reader_open(int fd, const char *tmpdir);
/*
 * bundle_read_next - the next transaction's envelope (sender, rcpts).
 * Returns 1 with m filled, 0 at the end of the bundle, -1 when the
 * bundle is damaged (err gets a one-line reason naming the line or
 * offset).  Call bundle_read_body (or bundle_read_next again, which
 * skips the body) next.
 */
int	bundle_read_next(struct bundle_reader *r, struct bundle_msg *m,
	    char *err, size_t errlen);
/*
 * bundle_read_body - read the message of the transaction m up to its
 * final ".", un-dot-stuffed with CRLF line ends; an X-Mailbridge-
 * Envelope: field (at most DSNENV_HEADER_MAX octets) that starts it is
 * taken off into m->env.  keep = 0 only checks it.  Returns 0 or -1
 * (damaged, or a temp file could not be written: err says which; errno
 * is 0 for damage).
 */
int	bundle_read_body(struct bundle_reader *r, struct bundle_msg *m,
	    int keep, char *err, size_t errlen);
/* bundle_msg_free - release what m holds (its file, memory, strings). */
void	bundle_msg_free(struct bundle_msg *m);
/* bundle_msg_pread - up to n octets of m's message at off; -1 on error. */
ssize_t	bundle_msg_pread(const struct bundle_msg *m, void *buf, size_t n,
	    uint64_t off);
void	bundle_reader_close(struct bundle_reader *r);

/* What bundle_verify found. */
struct bundle_info {
	int	gzip;		/* 1: gzip, 0: plain BSMTP */
	unsigned messages;	/* transactions */
	unsigned copies;	/* RCPTs over all transactions */
	uint64_t raw;		/* uncompressed octets */
};

/*
 * bundle_verify_fd - read the whole bundle on fd from offset 0: gzip
 * CRC and length, every command, every message up to its final dot.
 * 0 when it is sound (info filled if not NULL); -1 with a one-line
 * reason in err ("truncated gzip stream", "CRC mismatch",
 * "line 1234: DATA without RCPT", "empty bundle (no messages)", ...).
 */
int	bundle_verify_fd(int fd, struct bundle_info *info, char *err,
	    size_t errlen);
int	bundle_verify(const char *path, struct bundle_info *info, char *err,
	    size_t errlen);

#endif
