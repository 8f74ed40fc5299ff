/*
 * bundle.c - bundle names and the bundle writer (bundle(5)).
 *
 * A bundle is written to a tmp file in one directory and renamed into
 * another when complete, so a published bundle is always whole.  The
 * writer is strict: CRLF only, every line that starts with '.' is
 * stuffed, each copy starts with the hub's X-Mailbridge-Envelope: (its
 * envelope, dsnenv.h) and exactly one X-Envelope-To: header, HELO
 * first and QUIT last.  It never looks at a message byte by byte in the
 * body: memchr finds the line ends, and runs between the places that
 * need a change (a bare LF, a leading '.') go to deflate in big chunks
 * through a staging buffer.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bundle.h"
#include "dsnenv.h"

#define STAGE_SIZE	(128 * 1024)	/* input handed to deflate at once */
#define OUT_SIZE	(256 * 1024)	/* compressed output per write(2) */
#define READ_SIZE	(128 * 1024)	/* message octets per pread(2) */

/* Header fields the writer leaves out of a message: it writes its own. */
static const char *const dropped[] = { "x-envelope-to:",
	"x-mailbridge-envelope:" };
#define NDROPPED	(sizeof(dropped) / sizeof(dropped[0]))
#define HPEND_MAX	22	/* the longest of them */
#define CAND_ALL	((1u << NDROPPED) - 1)

/* Where the header filter is within the current copy. */
enum hstate {
	H_BOL,		/* at the start of a header line */
	H_LINE,		/* inside a header line that is kept */
	H_SKIP,		/* inside a field being left out */
	H_BODY		/* past the header: everything passes */
};

struct bundle {
	char	name[BUNDLE_NAME_MAX];
	char	path[PATH_MAX];
	int	fd;
	int	zinit;
	z_stream zs;
	unsigned char *stage;
	size_t	nstage;
	unsigned char *out;
	uint64_t raw;
	unsigned copies;
	int	werrno;		/* first write error, 0 if none */
	/* per copy */
	enum hstate hs;
	size_t	hmatch;		/* octets of a dropped name matched */
	unsigned hcand;		/* the dropped names still matching */
	char	hpend[HPEND_MAX];
	int	dropping;	/* the last header field is being left out */
	int	bol;		/* the stuffer is at the start of a line */
	int	prev_cr;	/* the last octet it passed was CR */
	int	any;		/* it passed at least one octet */
};

static unsigned name_seq;

int
bundle_name_new(char *buf, size_t len, const char *label, const char *suffix)
{
	struct timespec ts;
	unsigned long long usec;
	int n;

	if (!name_is_safe(label) || (strcmp(suffix, ".bsmtp.gz") != 0 &&
	    strcmp(suffix, ".bsmtp") != 0)) {
		errno = EINVAL;
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	usec = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
	n = snprintf(buf, len, "%013llx.%08x.%08x.%s%s",
	    usec & 0xfffffffffffffULL, (unsigned)getpid(), name_seq++,
	    label, suffix);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
hex_run(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && (s[i] < 'a' || s[i] > 'f'))
			return 0;
	return 1;
}

int
bundle_name_is_valid(const char *name)
{
	char label[64];
	size_t n, sfx, lab;

	n = strnlen(name, BUNDLE_NAME_MAX);
	if (n >= BUNDLE_NAME_MAX || n < 32)
		return 0;
	if (!hex_run(name, 13) || name[13] != '.' || !hex_run(name + 14, 8) ||
	    name[22] != '.' || !hex_run(name + 23, 8) || name[31] != '.')
		return 0;
	if (n > 9 && strcmp(name + n - 9, ".bsmtp.gz") == 0)
		sfx = 9;
	else if (n > 6 && strcmp(name + n - 6, ".bsmtp") == 0)
		sfx = 6;
	else
		return 0;
	if (n < 32 + sfx + 1)
		return 0;
	lab = n - 32 - sfx;
	if (lab >= sizeof(label))
		return 0;
	memcpy(label, name + 32, lab);
	label[lab] = '\0';
	return name_is_safe(label);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
bundle_list(const char *dir, char ***names, size_t *n)
{
	struct strv sv = { NULL, 0, 0 };
	struct dirent *de;
	DIR *dp;

	*n = 0;
	*names = NULL;
	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(dp)) != NULL)
		if (bundle_name_is_valid(de->d_name) &&
		    strv_add(&sv, de->d_name) == -1)
			break;
	closedir(dp);
	if (sv.n > 0)
		qsort(sv.v, sv.n, sizeof(*sv.v), name_cmp);
	*names = sv.v;
	*n = sv.n;
	return 0;
}

/* zout - run deflate over p..p+n with flush, writing full output buffers. */
static int
zout(struct bundle *b, const void *p, size_t n, int flush)
{
	int rc;
	size_t have;

	if (b->werrno)
		return -1;
	b->zs.next_in = (unsigned char *)(uintptr_t)p;
	b->zs.avail_in = (uInt)n;
	do {
		b->zs.next_out = b->out;
		b->zs.avail_out = OUT_SIZE;
		rc = deflate(&b->zs, flush);
		if (rc == Z_STREAM_ERROR) {
			b->werrno = EIO;
			return -1;
		}
		have = OUT_SIZE - b->zs.avail_out;
		if (have > 0 && io_write_all(b->fd, b->out, have) == -1) {
			b->werrno = errno;
			return -1;
		}
	} while (b->zs.avail_out == 0 ||
	    (flush == Z_FINISH && rc != Z_STREAM_END));
	return 0;
}

static int
stage_flush(struct bundle *b)
{
	int rc = 0;

	if (b->nstage > 0)
		rc = zout(b, b->stage, b->nstage, Z_NO_FLUSH);
	b->nstage = 0;
	return rc;
}

/* put - octets of the uncompressed stream, staged for deflate. */
static void
put(struct bundle *b, const void *p, size_t n)
{
	b->raw += n;
	if (b->nstage + n <= STAGE_SIZE) {
		memcpy(b->stage + b->nstage, p, n);
		b->nstage += n;
		return;
	}
	stage_flush(b);
	if (n >= STAGE_SIZE / 2) {
		zout(b, p, n, Z_NO_FLUSH);
		return;
	}
	memcpy(b->stage, p, n);
	b->nstage = n;
}

static void
puts_(struct bundle *b, const char *s)
{
	put(b, s, strlen(s));
}

/*
 * stuff - pass message octets on with dot-stuffing and bare LF written
 * as CRLF.  Only the line ends are looked at, with memchr.
 */
static void
stuff(struct bundle *b, const unsigned char *p, size_t n)
{
	const unsigned char *end = p + n, *run = p, *i = p, *nl;
	int crlf;

	if (n == 0)
		return;
	if (b->bol && *p == '.')
		put(b, ".", 1);
	while ((nl = memchr(i, '\n', (size_t)(end - i))) != NULL) {
		crlf = nl > p ? nl[-1] == '\r' : b->prev_cr;
		if (!crlf) {
			put(b, run, (size_t)(nl - run));
			put(b, "\r\n", 2);
			run = nl + 1;
		}
		i = nl + 1;
		if (i < end && *i == '.') {
			put(b, run, (size_t)(i - run));
			put(b, ".", 1);
			run = i;
		}
	}
	put(b, run, (size_t)(end - run));
	b->prev_cr = end[-1] == '\r';
	b->bol = end[-1] == '\n';
	b->any = 1;
}

/* hdr_bol - one octet at the start of a header line: keep, drop or end. */
static size_t
hdr_bol(struct bundle *b, const unsigned char *p, size_t n)
{
	unsigned char c = *p;
	unsigned cand = b->hmatch == 0 ? CAND_ALL : b->hcand, next = 0;
	size_t k;

	if (b->hmatch == 0 && (c == ' ' || c == '\t')) {
		b->hs = b->dropping ? H_SKIP : H_LINE;
		return 0;
	}
	if (b->hmatch == 0 && (c == '\r' || c == '\n')) {
		b->hs = H_BODY;
		return 0;
	}
	for (k = 0; k < NDROPPED; k++)
		if ((cand & (1u << k)) && tolower(c) == dropped[k][b->hmatch])
			next |= 1u << k;
	if (next != 0) {
		b->hpend[b->hmatch++] = (char)c;
		b->hcand = next;
		for (k = 0; k < NDROPPED; k++)
			if ((next & (1u << k)) && dropped[k][b->hmatch] == '\0') {
				b->hmatch = 0;
				b->dropping = 1;
				b->hs = H_SKIP;
			}
		return 1;
	}
	stuff(b, (unsigned char *)b->hpend, b->hmatch);
	b->hmatch = 0;
	b->dropping = 0;
	b->hs = H_LINE;
	(void)n;
	return 0;
}

/*
 * feed - message octets through the header filter (which leaves out
 * X-Envelope-To: and X-Mailbridge-Envelope: fields and their
 * continuation lines) to the stuffer.
 */
static void
feed(struct bundle *b, const unsigned char *p, size_t n)
{
	const unsigned char *end = p + n, *nl;

	while (p < end) {
		switch (b->hs) {
		case H_BODY:
			stuff(b, p, (size_t)(end - p));
			return;
		case H_BOL:
			p += hdr_bol(b, p, (size_t)(end - p));
			break;
		case H_LINE:
		case H_SKIP:
			nl = memchr(p, '\n', (size_t)(end - p));
			nl = nl ? nl + 1 : end;
			if (b->hs == H_LINE)
				stuff(b, p, (size_t)(nl - p));
			if (nl[-1] == '\n')
				b->hs = H_BOL;
			p = nl;
			break;
		}
	}
}

static int
addr_writable(const char *a, int allow_null)
{
	size_t n = strlen(a), i;

	if (n == 0)
		return allow_null;
	if (n > BUNDLE_PATH_MAX - 2)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
			return 0;
	}
	return 1;
}

enum result
bundle_open(struct bundle **bp, const char *dir, const char *customer,
    const char *hostname, int level, char *err, size_t errlen)
{
	struct bundle *b;
	char path[PATH_MAX];
	int saved;

	*bp = NULL;
	if (level < 0 || level > 9 || !addr_writable(hostname, 0)) {
		snprintf(err, errlen, "bad bundle level or hostname");
		return RS_PERM;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->stage = malloc(STAGE_SIZE)) == NULL ||
	    (b->out = malloc(OUT_SIZE)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	b->fd = -1;
	if (bundle_name_new(b->name, sizeof(b->name), customer,
	    ".bsmtp.gz") == -1 ||
	    path_build(path, sizeof(path), "%s/%s", dir, b->name) == -1) {
		snprintf(err, errlen, "bundle name for %s: %s", customer,
		    strerror(errno));
		bundle_abort(b);
		return RS_PERM;
	}
	if ((b->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	strlcpy_(b->path, path, sizeof(b->path));
	if (deflateInit2(&b->zs, level, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		snprintf(err, errlen, "deflateInit2 failed");
		goto fail;
	}
	b->zinit = 1;
	puts_(b, "HELO ");
	puts_(b, hostname);
	puts_(b, "\r\n");
	*bp = b;
	return RS_OK;
fail:
	saved = errno;
	if (b != NULL)
		bundle_abort(b);
	errno = saved;
	return RS_TEMP;
}

static void
copy_begin(struct bundle *b, const char *sender, const char *rcpt,
    const char *envhdr)
{
	puts_(b, "MAIL FROM:<");
	puts_(b, sender);
	puts_(b, ">\r\nRCPT TO:<");
	puts_(b, rcpt);
	puts_(b, ">\r\nDATA\r\n");
	if (envhdr != NULL)
		puts_(b, envhdr);
	puts_(b, "X-Envelope-To: <");
	puts_(b, rcpt);
	puts_(b, ">\r\n");
	b->hs = H_BOL;
	b->hmatch = 0;
	b->dropping = 0;
	b->bol = 1;
	b->prev_cr = 0;
	b->any = 0;
}

static enum result
copy_end(struct bundle *b, char *err, size_t errlen)
{
	if (b->hmatch > 0)
		stuff(b, (unsigned char *)b->hpend, b->hmatch);
	b->hmatch = 0;
	if (b->any && !b->bol)
		puts_(b, b->prev_cr ? "\n" : "\r\n");
	puts_(b, ".\r\n");
	b->copies++;
	if (b->werrno) {
		snprintf(err, errlen, "%s: %s", b->path, strerror(b->werrno));
		return RS_TEMP;
	}
	return RS_OK;
}

/*
 * envhdr_ok - an X-Mailbridge-Envelope: field as dsnenv_header writes
 * it: the name, printable text, CRLF line ends, continuation lines.
 */
static int
envhdr_ok(const char *h)
{
	size_t n = strlen(h), i;

	if (n < sizeof(DSNENV_HEADER) + 2 || n > DSNENV_HEADER_MAX ||
	    strncasecmp(h, DSNENV_HEADER ":", sizeof(DSNENV_HEADER)) != 0 ||
	    strcmp(h + n - 2, "\r\n") != 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (h[i] == '\r' && h[i + 1] == '\n' &&
		    (h[i + 2] == '\0' || h[i + 2] == ' ')) {
			i++;
			continue;
		}
		if ((unsigned char)h[i] < 0x20 || (unsigned char)h[i] > 0x7e)
			return 0;
	}
	return 1;
}

static enum result
check_addrs(const char *sender, const char *rcpt, const char *envhdr,
    char *err, size_t errlen)
{
	if (envhdr != NULL && !envhdr_ok(envhdr)) {
		snprintf(err, errlen, "bad %s field", DSNENV_HEADER);
		return RS_PERM;
	}
	if (!addr_writable(sender, 1)) {
		snprintf(err, errlen, "sender cannot be written to a bundle");
		return RS_PERM;
	}
	if (!addr_writable(rcpt, 0)) {
		snprintf(err, errlen, "recipient cannot be written to a bundle");
		return RS_PERM;
	}
	return RS_OK;
}

enum result
bundle_add_buf(struct bundle *b, const char *sender, const char *rcpt,
    const char *envhdr, const void *msg, size_t len, char *err,
    size_t errlen)
{
	enum result rs;

	if ((rs = check_addrs(sender, rcpt, envhdr, err, errlen)) != RS_OK)
		return rs;
	copy_begin(b, sender, rcpt, envhdr);
	feed(b, msg, len);
	return copy_end(b, err, errlen);
}

enum result
bundle_add_fd(struct bundle *b, const char *sender, const char *rcpt,
    const char *envhdr, int fd, off_t off, uint64_t len, char *err,
    size_t errlen)
{
	enum result rs;
	unsigned char *buf;
	ssize_t n;

	if ((rs = check_addrs(sender, rcpt, envhdr, err, errlen)) != RS_OK)
		return rs;
	if ((buf = malloc(READ_SIZE)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return RS_TEMP;
	}
	copy_begin(b, sender, rcpt, envhdr);
	while (len > 0) {
		n = pread(fd, buf, len < READ_SIZE ? (size_t)len : READ_SIZE,
		    off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "reading message: %s",
			    n == 0 ? "unexpected end of file" : strerror(errno));
			free(buf);
			b->werrno = n == 0 ? EIO : errno;
			return RS_TEMP;
		}
		feed(b, buf, (size_t)n);
		off += n;
		len -= (uint64_t)n;
	}
	free(buf);
	return copy_end(b, err, errlen);
}

void
bundle_sizes(const struct bundle *b, uint64_t *raw, uint64_t *packed,
    unsigned *copies)
{
	if (raw != NULL)
		*raw = b->raw;
	if (packed != NULL)
		*packed = b->zs.total_out;
	if (copies != NULL)
		*copies = b->copies;
}

const char *
bundle_name(const struct bundle *b)
{
	return b->name;
}

enum result
bundle_publish(struct bundle *b, const char *outdir, char *name_out,
    size_t name_len, char *err, size_t errlen)
{
	char dst[PATH_MAX];

	puts_(b, "QUIT\r\n");
	if (stage_flush(b) == -1 || zout(b, NULL, 0, Z_FINISH) == -1) {
		snprintf(err, errlen, "%s: %s", b->path, strerror(b->werrno));
		goto fail;
	}
	if (fsync(b->fd) == -1 || close(b->fd) == -1) {
		b->fd = -1;
		snprintf(err, errlen, "%s: %s", b->path, strerror(errno));
		goto fail;
	}
	b->fd = -1;
	if (path_build(dst, sizeof(dst), "%s/%s", outdir, b->name) == -1 ||
	    rename(b->path, dst) == -1) {
		snprintf(err, errlen, "rename %s into %s: %s", b->path, outdir,
		    strerror(errno));
		goto fail;
	}
	if (io_fsync_dir(outdir) == -1) {
		snprintf(err, errlen, "fsync %s: %s", outdir, strerror(errno));
		b->path[0] = '\0';	/* it is published, just not synced */
		unlink(dst);
		io_fsync_dir(outdir);
		goto fail;
	}
	if (name_out != NULL)
		strlcpy_(name_out, b->name, name_len);
	b->path[0] = '\0';
	bundle_abort(b);
	return RS_OK;
fail:
	bundle_abort(b);
	return RS_TEMP;
}

void
bundle_abort(struct bundle *b)
{
	if (b == NULL)
		return;
	if (b->fd != -1)
		close(b->fd);
	if (b->path[0] != '\0')
		unlink(b->path);
	if (b->zinit)
		deflateEnd(&b->zs);
	free(b->stage);
	free(b->out);
	free(b);
}
