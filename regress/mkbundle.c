/*
 * mkbundle.c - test helper: write one bundle with the real writer
 * (spoolfmt/bundle.c).  Every message file is added once per recipient.
 * The HELO name is unique to the run (hubPID-NANOSECONDS.example), so
 * that two bundles of the same files differ, as the hub's always do
 * (each copy's QID): the leaf knows a bundle by its content.
 *
 * usage: mkbundle tmpdir outdir sender rcpt[,rcpt...] file...
 * Prints the published bundle's path.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"

int
main(int argc, char **argv)
{
	struct bundle *b;
	struct stat st;
	char err[256], name[BUNDLE_NAME_MAX], helo[80], *rcpts, *r, *save;
	struct timespec ts;
	int i, fd;

	if (argc < 6) {
		fprintf(stderr, "usage: mkbundle tmpdir outdir sender "
		    "rcpt[,rcpt...] file...\n");
		return 64;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(helo, sizeof(helo), "hub%ld-%lld%09ld.example", (long)getpid(),
	    (long long)ts.tv_sec, ts.tv_nsec);
	if (bundle_open(&b, argv[1], "test", helo, 6, err,
	    sizeof(err)) != RS_OK) {
		fprintf(stderr, "mkbundle: %s\n", err);
		return 1;
	}
	for (i = 5; i < argc; i++) {
		if ((fd = open(argv[i], O_RDONLY)) == -1 ||
		    fstat(fd, &st) == -1) {
			perror(argv[i]);
			return 1;
		}
		rcpts = strdup(argv[4]);
		for (r = strtok_r(rcpts, ",", &save); r != NULL;
		    r = strtok_r(NULL, ",", &save))
			if (bundle_add_fd(b, argv[3], r, NULL, fd, 0,
			    (uint64_t)st.st_size, err, sizeof(err)) != RS_OK) {
				fprintf(stderr, "mkbundle: %s\n", err);
				return 1;
			}
		free(rcpts);
		close(fd);
	}
	if (bundle_publish(b, argv[2], name, sizeof(name), err,
	    sizeof(err)) != RS_OK) {
		fprintf(stderr, "mkbundle: %s\n", err);
		return 1;
	}
	printf("%s/%s\n", argv[2], name);
	return 0;
}
