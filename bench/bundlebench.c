/*
 * bundlebench.c - bundle building speed and size against gzip -6 on
 * the same bytes.  Loads every message of a corpus directory tree into
 * memory with CRLF line ends (as queue entries hold them), builds one
 * bundle with one copy per message (bundle_add_buf) and times it; then
 * runs "gzip -6" over the bundle's own uncompressed stream and times
 * that.  Times are CPU seconds (user + system, best of the runs) so a
 * busy shared machine disturbs them less.  Prints one "key value" line
 * per figure.
 *
 * usage: bundlebench corpus-dir work-dir [runs]
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"

struct msg {
	char   *p;
	size_t	len;
};

static struct msg *msgs;
static size_t nmsgs, cap;
static unsigned long long corpus_bytes;

static void
load_one(const char *path)
{
	struct stat st;
	char *raw, *crlf, *q;
	size_t i;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		return;
	raw = malloc((size_t)st.st_size + 1);
	if (read(fd, raw, (size_t)st.st_size) != st.st_size)
		exit(2);
	close(fd);
	crlf = malloc(2 * (size_t)st.st_size + 2);
	for (i = 0, q = crlf; i < (size_t)st.st_size; i++) {
		if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
			*q++ = '\r';
		*q++ = raw[i];
	}
	free(raw);
	if (nmsgs == cap) {
		cap = cap ? cap * 2 : 1024;
		msgs = realloc(msgs, cap * sizeof(*msgs));
	}
	msgs[nmsgs].p = crlf;
	msgs[nmsgs].len = (size_t)(q - crlf);
	corpus_bytes += msgs[nmsgs].len;
	nmsgs++;
}

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* load - every regular file under dir, in name order (reproducible). */
static void
load(const char *dir)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	char path[PATH_MAX], **names = NULL;
	size_t n = 0, i;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), namecmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			load(path);
		else if (S_ISREG(st.st_mode))
			load_one(path);
		free(names[i]);
	}
	free(names);
}

static double
cpu(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double
build(const char *work, char *path, size_t len, unsigned long long *size)
{
	struct bundle *b;
	char err[256], name[BUNDLE_NAME_MAX], rcpt[64];
	struct stat st;
	double t0;
	size_t i;

	t0 = cpu(RUSAGE_SELF);
	if (bundle_open(&b, work, "bench", "relay.isp.example", 6, err,
	    sizeof(err)) != RS_OK) {
		fprintf(stderr, "bundle_open: %s\n", err);
		exit(1);
	}
	for (i = 0; i < nmsgs; i++) {
		snprintf(rcpt, sizeof(rcpt), "user%zu@acme.example", i % 50);
		if (bundle_add_buf(b, "sender@example.org", rcpt, NULL,
		    msgs[i].p, msgs[i].len, err, sizeof(err)) != RS_OK) {
			fprintf(stderr, "bundle_add: %s\n", err);
			exit(1);
		}
	}
	if (bundle_publish(b, work, name, sizeof(name), err, sizeof(err)) !=
	    RS_OK) {
		fprintf(stderr, "bundle_publish: %s\n", err);
		exit(1);
	}
	t0 = cpu(RUSAGE_SELF) - t0;
	snprintf(path, len, "%s/%s", work, name);
	stat(path, &st);
	*size = (unsigned long long)st.st_size;
	return t0;
}

/* run_gzip - gzip -6 < in > out; its CPU seconds. */
static double
run_gzip(const char *in, const char *out, const char *level)
{
	double t0 = cpu(RUSAGE_CHILDREN);
	pid_t pid;
	int st;

	if ((pid = fork()) == 0) {
		int i = open(in, O_RDONLY), o = open(out,
		    O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(i, 0);
		dup2(o, 1);
		execlp("gzip", "gzip", level, "-c", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "gzip failed\n");
		exit(1);
	}
	return cpu(RUSAGE_CHILDREN) - t0;
}

int
main(int argc, char **argv)
{
	char bpath[PATH_MAX], raw[PATH_MAX], gz[PATH_MAX], cmd[3 * PATH_MAX];
	unsigned long long bsize = 0, gsize, rawsize;
	double tb, tg, best_b = 1e9, best_g = 1e9;
	struct stat st;
	int runs, i;

	if (argc < 3) {
		fprintf(stderr, "usage: bundlebench corpus-dir work-dir [runs]\n");
		return 64;
	}
	runs = argc > 3 ? atoi(argv[3]) : 3;
	load(argv[1]);
	if (nmsgs == 0) {
		fprintf(stderr, "no messages under %s\n", argv[1]);
		return 1;
	}
	snprintf(raw, sizeof(raw), "%s/stream.bsmtp", argv[2]);
	snprintf(gz, sizeof(gz), "%s/stream.bsmtp.gz", argv[2]);
	for (i = 0; i < runs; i++) {
		tb = build(argv[2], bpath, sizeof(bpath), &bsize);
		if (tb < best_b)
			best_b = tb;
		if (i == 0) {
			snprintf(cmd, sizeof(cmd), "gzip -dc '%s' > '%s'", bpath,
			    raw);
			if (system(cmd) != 0)
				return 1;
		}
		unlink(bpath);
		tg = run_gzip(raw, gz, "-6");
		if (tg < best_g)
			best_g = tg;
	}
	stat(raw, &st);
	rawsize = (unsigned long long)st.st_size;
	stat(gz, &st);
	gsize = (unsigned long long)st.st_size;
	printf("messages %zu\n", nmsgs);
	printf("corpus_bytes_crlf %llu\n", corpus_bytes);
	printf("stream_bytes %llu\n", rawsize);
	printf("bundle_bytes %llu\n", bsize);
	printf("gzip6_bytes %llu\n", gsize);
	printf("bundle_cpu_s %.3f\n", best_b);
	printf("gzip6_cpu_s %.3f\n", best_g);
	printf("bundle_mb_s %.1f\n", rawsize / best_b / 1e6);
	printf("gzip6_mb_s %.1f\n", rawsize / best_g / 1e6);
	printf("speed_ratio %.3f\n", best_g / best_b);
	printf("size_ratio %.4f\n", (double)bsize / (double)gsize);
	unlink(raw);
	unlink(gz);
	return 0;
}
