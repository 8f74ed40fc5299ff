/*
 * bundle.c - fuzz harness for the bundle reader (spoolfmt/bundle_read.c):
 * the input as a whole bundle, read as bridge-unbatch reads it (every
 * transaction, every body kept) and checked as bundle_verify_fd does;
 * an input that is not gzip already is read a second time gzipped, so
 * the BSMTP grammar is explored behind the gzip path too.  Files live
 * in one temp directory per run, removed at exit.
 */
#include <sys/types.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "bundle.h"
#include "fuzztmp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[PATH_MAX];

static void
cleanup(void)
{
	rmdir(dir);
}

/* tmpfd - an unlinked file in the run's directory holding data. */
static int
tmpfd(const void *data, size_t size)
{
	if (dir[0] == '\0') {
		fuzz_tmpdir(dir, "fuzz-bundle");
		atexit(cleanup);
	}
	return fuzz_file(dir, "in", data, size, 0);
}

static void
read_all(int fd)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	char err[256], buf[512];
	uint64_t off;
	ssize_t n;
	int more;

	lseek(fd, 0, SEEK_SET);
	if ((r = bundle_reader_open(fd, dir)) == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	while ((more = bundle_read_next(r, &m, err, sizeof(err))) == 1) {
		if (bundle_read_body(r, &m, 1, err, sizeof(err)) == -1) {
			bundle_msg_free(&m);
			break;
		}
		for (off = 0; off < m.size; off += (uint64_t)n)
			if ((n = bundle_msg_pread(&m, buf, sizeof(buf),
			    off)) <= 0)
				break;
		bundle_msg_free(&m);
	}
	bundle_reader_close(r);
	bundle_verify_fd(fd, NULL, err, sizeof(err));
}

/* gzipped - data as one gzip member, or NULL. */
static unsigned char *
gzipped(const uint8_t *data, size_t size, size_t *out)
{
	unsigned char *z;
	z_stream s;
	size_t cap;

	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&s, size) + 32;
	if ((z = malloc(cap)) == NULL) {
		deflateEnd(&s);
		return NULL;
	}
	s.next_in = (unsigned char *)(uintptr_t)data;
	s.avail_in = size;
	s.next_out = z;
	s.avail_out = cap;
	if (deflate(&s, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&s);
		free(z);
		return NULL;
	}
	*out = cap - s.avail_out;
	deflateEnd(&s);
	return z;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *z;
	size_t zlen;
	int fd;

	fd = tmpfd(data, size);
	read_all(fd);
	close(fd);
	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b)
		return 0;
	if ((z = gzipped(data, size, &zlen)) == NULL)
		return 0;
	fd = tmpfd(z, zlen);
	read_all(fd);
	close(fd);
	free(z);
	return 0;
}
