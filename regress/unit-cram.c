/*
 * unit-cram.c - etrn/cram.c: the CRAM-MD5 digest against the example
 * of RFC 2195 and a secret with spaces; the client's answer decoded
 * back; base64 refusals; secret files that are too open, empty or
 * missing.  The exchange itself is tested against swaks, fetchmail
 * and etrn(1) in regress/33-odmr.t and regress/36-etrn-auth.t.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cram.h"
#include "log.h"
#include "tap.h"

static char dir[] = "/tmp/unit-cram.XXXXXX";
static const char *const files[] = {
	"s600", "s400", "s644", "s660", "s601", "empty", "none", NULL
};

/* secret_file - name under dir holding text, with mode; its path. */
static const char *
secret_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return path;
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void
digests(void)
{
	char hex[33];

	ok(cram_digest("tanstaaftanstaaf",
	    "<1896.697170952@postoffice.reston.mci.net>", hex) == 0,
	    "digest computed");
	is_str(hex, "b913a602c7eda7a495b4e6e7334d3890", "RFC 2195 example");
	ok(cram_digest("a secret with spaces", "<1.2@hub.test>", hex) == 0 &&
	    strlen(hex) == 32, "32 hex digits");
	ok(strspn(hex, "0123456789abcdef") == 32, "lower-case hex");
}

static void
answers(void)
{
	char out[CRAM_ANSWER_MAX], plain[CRAM_ANSWER_MAX];

	/* RFC 2195's challenge, base64 as its example server sent it */
	ok(cram_answer("tim", "tanstaaftanstaaf",
	    "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
	    out, sizeof(out)) == 0, "answer computed");
	is_str(out, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
	    "RFC 2195 example answer");
	ok(cram_b64_decode(out, plain, sizeof(plain)) == 36 &&
	    strcmp(plain, "tim b913a602c7eda7a495b4e6e7334d3890") == 0,
	    "the answer decodes to user and digest");
	ok(cram_answer("tim", "x", "not base64!", out, sizeof(out)) == -1,
	    "a challenge that is not base64 gets no answer");
	ok(cram_answer("tim", "x", "PDE+", out, 8) == -1,
	    "no answer into a buffer too small");
	ok(cram_b64_decode("", plain, sizeof(plain)) == -1, "empty: refused");
	ok(cram_b64_decode("abc", plain, sizeof(plain)) == -1,
	    "length not a multiple of 4: refused");
	ok(cram_b64_decode("YQBi", plain, sizeof(plain)) == -1,
	    "a NUL inside: refused");
	ok(cram_b64_decode("YWJj", plain, 3) == -1,
	    "output buffer too small: refused");
	is_int(cram_b64_decode("YWI=", plain, sizeof(plain)), 2, "padding");
}

static void
secrets(void)
{
	char buf[CRAM_SECRET_MAX], err[300];

	ok(cram_secret_read(secret_file("s600", "first\nsecond\n", 0600),
	    buf, sizeof(buf), err, sizeof(err)) == 0, "mode 0600 read");
	is_str(buf, "first", "first line only");
	ok(cram_secret_read(secret_file("s400", "crlf\r\n", 0400), buf,
	    sizeof(buf), err, sizeof(err)) == 0 && strcmp(buf, "crlf") == 0,
	    "mode 0400, CRLF line end dropped");
	ok(cram_secret_read(secret_file("s644", "x\n", 0644), buf,
	    sizeof(buf), err, sizeof(err)) == -1 &&
	    strstr(err, "mode 0644 is too open") != NULL,
	    "mode 0644 refused");
	ok(cram_secret_read(secret_file("s660", "x\n", 0660), buf,
	    sizeof(buf), err, sizeof(err)) == -1, "mode 0660 refused");
	ok(cram_secret_read(secret_file("s601", "x\n", 0601), buf,
	    sizeof(buf), err, sizeof(err)) == -1, "mode 0601 refused");
	ok(cram_secret_read(secret_file("empty", "\nsecond\n", 0600), buf,
	    sizeof(buf), err, sizeof(err)) == -1 &&
	    strstr(err, "first line is empty") != NULL, "empty first line");
	ok(cram_secret_read(secret_file("none", "", 0600), buf, sizeof(buf),
	    err, sizeof(err)) == -1, "empty file");
	ok(cram_secret_read(dir, buf, sizeof(buf), err, sizeof(err)) == -1,
	    "a directory refused");
	ok(cram_secret_read("/nonexistent/secret", buf, sizeof(buf), err,
	    sizeof(err)) == -1 && strstr(err, "No such file") != NULL,
	    "missing file");
	ok(cram_secret_read(NULL, buf, sizeof(buf), err, sizeof(err)) == -1,
	    "no secret configured");
}

int
main(void)
{
	char path[256];
	int i;

	log_init("unit-cram", LOG_TO_STDERR);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	digests();
	answers();
	secrets();
	for (i = 0; files[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	return done_testing();
}
