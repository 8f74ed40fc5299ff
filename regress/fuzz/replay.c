/*
 * replay.c - a plain main() for the fuzz harnesses: reads each file
 * named and calls LLVMFuzzerTestOneInput on its contents, so seeds and
 * saved crashes replay with any C compiler, without libFuzzer.  A
 * harness that aborts or crashes on a file ends the run; otherwise the
 * exit status is 0, or 1 if a file cannot be read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
main(int argc, char *argv[])
{
	unsigned char *buf;
	size_t len, cap;
	FILE *fp;
	int i, rc = 0;

	for (i = 1; i < argc; i++) {
		if ((fp = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		buf = NULL;
		len = cap = 0;
		for (;;) {
			if (len == cap) {
				cap = cap ? cap * 2 : 4096;
				if ((buf = realloc(buf, cap)) == NULL) {
					perror("realloc");
					exit(1);
				}
			}
			size_t n = fread(buf + len, 1, cap - len, fp);
			if (n == 0)
				break;
			len += n;
		}
		if (ferror(fp)) {
			perror(argv[i]);
			rc = 1;
		} else
			LLVMFuzzerTestOneInput(buf, len);
		fclose(fp);
		free(buf);
	}
	return rc;
}
