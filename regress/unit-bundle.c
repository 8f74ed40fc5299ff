/*
 * unit-bundle.c - the bundle writer and reader (spoolfmt/bundle.c,
 * spoolfmt/bundle_read.c): names, round trips of awkward messages,
 * one X-Envelope-To per copy, valid gzip, every class of damage, and
 * the liberal plain-BSMTP input other MTAs write.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "bundle.h"
#include "tap.h"

static char dir[200], tmpdir[256], outdir[256];

struct tmsg {
	const char *sender;
	const char *rcpts[3];
	const char *msg;
	size_t	len;		/* 0: strlen(msg) */
	const char *want;	/* message as read back, after X-Envelope-To */
	size_t	wantlen;
};

#define BIG_LINES	40000

static char *big, *bigwant;
static size_t biglen, bigwantlen;

static void
make_big(void)
{
	size_t i;
	char *p, *q;

	big = malloc(BIG_LINES * 64 + 64);
	bigwant = malloc(BIG_LINES * 64 + 64);
	p = big;
	q = bigwant;
	p += sprintf(p, "Subject: big\r\n\r\n");
	q += sprintf(q, "Subject: big\r\n\r\n");
	for (i = 0; i < BIG_LINES; i++) {
		if (i % 7 == 0) {
			p += sprintf(p, ".%zu dotted line with some text\r\n", i);
			q += sprintf(q, ".%zu dotted line with some text\r\n", i);
		} else if (i % 11 == 0) {
			p += sprintf(p, "%zu bare LF line, 8-bit \xe9\xe8\n", i);
			q += sprintf(q, "%zu bare LF line, 8-bit \xe9\xe8\r\n", i);
		} else {
			p += sprintf(p, "%zu an ordinary line of the message\r\n",
			    i);
			q += sprintf(q, "%zu an ordinary line of the message\r\n",
			    i);
		}
	}
	biglen = (size_t)(p - big);
	bigwantlen = (size_t)(q - bigwant);
}

#define EIGHTBIT "Subject: 8bit\r\n\r\n\xe9\xff\x80 caf\xc3\xa9\r\nnul\0byte\r\n"

static struct tmsg msgs[] = {
	{ "alice@example.org", { "bob@acme.example", "carol@acme.example" },
	  "Subject: dots\r\n\r\n.line\r\n..two\r\n.\r\nend\r\n", 0,
	  "Subject: dots\r\n\r\n.line\r\n..two\r\n.\r\nend\r\n", 0 },
	{ "", { "dave@acme.example" },
	  "Subject: no final newline\r\n\r\nlast line", 0,
	  "Subject: no final newline\r\n\r\nlast line\r\n", 0 },
	{ "eve@example.org", { "frank@acme.example" },
	  EIGHTBIT, sizeof(EIGHTBIT) - 1, EIGHTBIT, sizeof(EIGHTBIT) - 1 },
	{ "g@example.org", { "h@acme.example" }, "", 0, "", 0 },
	{ "g@example.org", { "i@acme.example" }, "Subject: empty body\r\n\r\n",
	  0, "Subject: empty body\r\n\r\n", 0 },
	{ "lf@example.org", { "j@acme.example" },
	  "Subject: LF only\n\nline\n.dot\n.\n", 0,
	  "Subject: LF only\r\n\r\nline\r\n.dot\r\n.\r\n", 0 },
	{ "k@example.org", { "l@acme.example", "m@acme.example",
	  "n@acme.example" },
	  "X-Envelope-To: forged@evil.example\r\nSubject: forged\r\n"
	  "x-envelope-to: <second@evil.example>\r\n\tcontinued\r\n"
	  "X-Envelope-Tool: kept\r\n\r\nX-Envelope-To: in the body\r\n", 0,
	  "Subject: forged\r\nX-Envelope-Tool: kept\r\n\r\n"
	  "X-Envelope-To: in the body\r\n", 0 },
	{ "o@example.org", { "p@acme.example" },
	  "Subject: bare CR at end\r\n\r\ntext\r", 0,
	  "Subject: bare CR at end\r\n\r\ntext\r\n", 0 },
	{ "q@example.org", { "r@acme.example" },
	  ".Starts: with a dot\r\n\r\nx\r\n", 0,
	  ".Starts: with a dot\r\n\r\nx\r\n", 0 },
	{ "big@example.org", { "s@acme.example" }, NULL, 0, NULL, 0 },
};
#define NMSGS	(sizeof(msgs) / sizeof(msgs[0]))

static int
count_xenv(const char *m, size_t len)
{
	const char *p = m, *end = m + len;
	int n = 0;

	while (p < end) {
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			break;
		if (end - p >= 14 && strncasecmp(p, "X-Envelope-To:", 14) == 0)
			n++;
		p = memchr(p, '\n', (size_t)(end - p));
		if (p == NULL)
			break;
		p++;
	}
	return n;
}

static char *
slurp_msg(const struct bundle_msg *m)
{
	char *b = malloc(m->size + 1);
	uint64_t off = 0;
	ssize_t n;

	while (off < m->size) {
		n = bundle_msg_pread(m, b + off, 65536, off);
		if (n <= 0)
			break;
		off += (uint64_t)n;
	}
	return b;
}

static void
write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || io_write_all(fd, p, n) == -1)
		exit(2);
	close(fd);
}

static char *
read_file(const char *path, size_t *len)
{
	struct stat st;
	char *b;
	int fd = open(path, O_RDONLY);

	if (fd == -1 || fstat(fd, &st) == -1)
		exit(2);
	b = malloc((size_t)st.st_size + 1);
	if (read(fd, b, (size_t)st.st_size) != st.st_size)
		exit(2);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void
test_names(void)
{
	char a[BUNDLE_NAME_MAX], b[BUNDLE_NAME_MAX];

	ok(bundle_name_new(a, sizeof(a), "acme", ".bsmtp.gz") == 0,
	    "name made");
	ok(bundle_name_new(b, sizeof(b), "acme", ".bsmtp.gz") == 0,
	    "second name made");
	ok(bundle_name_is_valid(a), "name valid: %s", a);
	ok(strcmp(a, b) < 0, "names sort by creation");
	ok(name_is_safe(a) || strlen(a) > 63, "name alphabet is safe");
	ok(bundle_name_new(a, sizeof(a), "-x", ".bsmtp.gz") == -1,
	    "leading '-' label refused");
	ok(bundle_name_new(a, sizeof(a), "a/b", ".bsmtp.gz") == -1,
	    "'/' in label refused");
	ok(bundle_name_new(a, sizeof(a), "acme", ".tar") == -1,
	    "unknown suffix refused");
	ok(!bundle_name_is_valid("../etc.bsmtp.gz"), "traversal invalid");
	ok(!bundle_name_is_valid("0065a1b2c3d4e.0000abcd.00000001..bsmtp.gz"),
	    "empty label invalid");
	ok(bundle_name_is_valid("0065a1b2c3d4e.0000abcd.00000001.in.bsmtp"),
	    "plain suffix valid");
	ok(!bundle_name_is_valid("0065A1B2C3D4E.0000abcd.00000001.in.bsmtp"),
	    "upper-case hex invalid");
}

/* build_bundle - every test message for every recipient; path out. */
static void
build_bundle(char *path, size_t len, int with_big)
{
	struct bundle *b;
	char err[256], name[BUNDLE_NAME_MAX], mpath[512];
	size_t i, j, ml;
	int fd;

	ok(bundle_open(&b, tmpdir, "acme", "relay.isp.example", 6, err,
	    sizeof(err)) == RS_OK, "bundle_open: %s", err);
	for (i = 0; i < NMSGS; i++) {
		if (!with_big && msgs[i].msg == big)
			continue;
		ml = msgs[i].len ? msgs[i].len : strlen(msgs[i].msg);
		snprintf(mpath, sizeof(mpath), "%s/msg", dir);
		write_file(mpath, msgs[i].msg, ml);
		fd = open(mpath, O_RDONLY);
		for (j = 0; j < 3 && msgs[i].rcpts[j] != NULL; j++) {
			enum result rs = (i + j) % 2 ?
			    bundle_add_buf(b, msgs[i].sender, msgs[i].rcpts[j],
			    NULL, msgs[i].msg, ml, err, sizeof(err)) :
			    bundle_add_fd(b, msgs[i].sender, msgs[i].rcpts[j],
			    NULL, fd, 0, ml, err, sizeof(err));
			if (rs != RS_OK)
				ok(0, "bundle_add %zu/%zu: %s", i, j, err);
		}
		close(fd);
	}
	ok(bundle_add_buf(b, "x@y", "bad\r\nRCPT TO:<z@y>", NULL, "x", 1,
	    err, sizeof(err)) == RS_PERM, "CRLF in an address refused");
	ok(bundle_add_buf(b, "x@y", "", NULL, "x", 1, err, sizeof(err)) ==
	    RS_PERM, "empty recipient refused");
	ok(bundle_add_buf(b, "x@y", "z@y", "X-Mailbridge-Envelope: a\nb\r\n",
	    "x", 1, err, sizeof(err)) == RS_PERM, "a bad envelope field "
	    "refused");
	ok(bundle_publish(b, outdir, name, sizeof(name), err, sizeof(err)) ==
	    RS_OK, "bundle_publish: %s", err);
	snprintf(path, len, "%s/%s", outdir, name);
}

static void
test_round_trip(const char *path)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	struct bundle_info info;
	char err[256], *got, want_hdr[300];
	size_t i, j, hl;
	int fd, rc, bad = 0, xbad = 0, copies = 0;

	fd = open(path, O_RDONLY);
	ok(bundle_verify_fd(fd, &info, err, sizeof(err)) == 0,
	    "verify: %s", err);
	ok(info.gzip == 1, "gzip detected");
	r = bundle_reader_open(fd, tmpdir);
	for (i = 0; i < NMSGS; i++) {
		for (j = 0; j < 3 && msgs[i].rcpts[j] != NULL; j++) {
			rc = bundle_read_next(r, &m, err, sizeof(err));
			if (rc != 1) {
				ok(0, "message %zu/%zu: %s", i, j, err);
				return;
			}
			copies++;
			if (bundle_read_body(r, &m, 1, err, sizeof(err)) == -1) {
				ok(0, "body %zu/%zu: %s", i, j, err);
				return;
			}
			got = slurp_msg(&m);
			hl = (size_t)snprintf(want_hdr, sizeof(want_hdr),
			    "X-Envelope-To: <%s>\r\n", msgs[i].rcpts[j]);
			if (strcmp(m.sender, msgs[i].sender) != 0 ||
			    m.nrcpts != 1 ||
			    strcmp(m.rcpts[0], msgs[i].rcpts[j]) != 0 ||
			    m.size != hl + msgs[i].wantlen ||
			    memcmp(got, want_hdr, hl) != 0 ||
			    memcmp(got + hl, msgs[i].want, msgs[i].wantlen) != 0) {
				bad++;
				printf("# copy %zu/%zu differs (size %llu)\n", i,
				    j, (unsigned long long)m.size);
			}
			if (count_xenv(got, (size_t)m.size) != 1)
				xbad++;
			if (msgs[i].want == bigwant && m.fd == -1)
				bad++;
			free(got);
			bundle_msg_free(&m);
		}
	}
	ok(bad == 0, "every copy reads back byte for byte (%d copies)", copies);
	ok(xbad == 0, "exactly one X-Envelope-To: per copy");
	is_int(info.copies, copies, "one copy per recipient");
	is_int(info.messages, copies, "one transaction per copy");
	ok(bundle_read_next(r, &m, err, sizeof(err)) == 0, "end of bundle");
	bundle_reader_close(r);
	close(fd);
}

static void
test_gzip_tool(const char *path)
{
	char cmd[800], line[64];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "gzip -t '%s'", path);
	is_int(system(cmd), 0, "gzip -t accepts the bundle");
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s' | head -c 24", path);
	p = popen(cmd, "r");
	n = fread(line, 1, sizeof(line) - 1, p);
	line[n] = '\0';
	pclose(p);
	ok(strncmp(line, "HELO relay.isp.example\r\n", 24) == 0,
	    "gzip -dc starts with HELO");
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s' | tail -c 6", path);
	p = popen(cmd, "r");
	n = fread(line, 1, sizeof(line) - 1, p);
	line[n] = '\0';
	pclose(p);
	is_str(line, "QUIT\r\n", "gzip -dc ends with QUIT");
}

static int
verify_buf(const void *p, size_t n, char *err, size_t errlen)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/damaged", dir);
	write_file(path, p, n);
	return bundle_verify(path, NULL, err, errlen);
}

static void
test_damage(const char *path)
{
	char err[256], *b;
	size_t len, off, step;
	int missed = 0, tried = 0, trunc_named = 0, crc_named = 0;

	b = read_file(path, &len);
	step = len / 300 + 1;
	for (off = 0; off < len; off += off < 64 || off + 64 > len ? 1 : step) {
		tried++;
		if (verify_buf(b, off, err, sizeof(err)) == 0) {
			missed++;
			printf("# truncation at %zu not detected\n", off);
		} else if (off > 20 && strstr(err, "truncated gzip stream"))
			trunc_named++;
	}
	ok(missed == 0, "truncation at %d offsets detected", tried);
	ok(trunc_named > 0, "reason names the truncation");
	missed = tried = 0;
	for (off = 0; off < len; off += off < 64 || off + 64 > len ? 1 : step) {
		/*
		 * MTIME, XFL and OS are not protected, nor are the padding
		 * bits of the last deflate octet before the trailer.
		 */
		if ((off >= 4 && off <= 9) || off == len - 9)
			continue;
		b[off] ^= (char)(1 << (off == 3 ? 7 : off % 8));
		tried++;
		if (verify_buf(b, len, err, sizeof(err)) == 0) {
			missed++;
			printf("# bit flip at %zu not detected\n", off);
		} else if (off + 8 >= len && (strstr(err, "CRC mismatch") ||
		    strstr(err, "length mismatch")))
			crc_named++;
		b[off] ^= (char)(1 << (off == 3 ? 7 : off % 8));
	}
	ok(missed == 0, "bit flips at %d offsets detected", tried);
	is_int(crc_named, 8, "flips in the trailer name CRC or length");
	b = realloc(b, len + 5);
	memcpy(b + len, "junk!", 5);
	ok(verify_buf(b, len + 5, err, sizeof(err)) == -1 &&
	    strstr(err, "trailing garbage") != NULL, "trailing garbage: %s",
	    err);
	b = realloc(b, 2 * len);
	memcpy(b + len, b, len);
	ok(verify_buf(b, 2 * len, err, sizeof(err)) == -1 &&
	    strstr(err, "text after QUIT") != NULL,
	    "two members read as one stream: %s", err);
	free(b);
}

/* plain - verify a plain BSMTP text; expect NULL (sound) or a reason. */
static void
plain(const char *text, const char *want, const char *what)
{
	char err[256];
	int rc = verify_buf(text, strlen(text), err, sizeof(err));

	if (want == NULL)
		ok(rc == 0, "%s accepted%s%s", what, rc ? ": " : "",
		    rc ? err : "");
	else if (!ok(rc == -1 && strstr(err, want) != NULL, "%s: %s", what,
	    rc ? err : "accepted"))
		printf("#   want \"%s\"\n", want);
}

static void
gz_text(const char *text, const char *want, const char *what)
{
	char path[512], err[256];
	gzFile g;
	int rc;

	snprintf(path, sizeof(path), "%s/t.gz", dir);
	g = gzopen(path, "wb6");
	gzwrite(g, text, (unsigned)strlen(text));
	gzclose(g);
	rc = bundle_verify(path, NULL, err, sizeof(err));
	if (want == NULL)
		ok(rc == 0, "%s (gzip) accepted%s%s", what, rc ? ": " : "",
		    rc ? err : "");
	else
		ok(rc == -1 && strstr(err, want) != NULL, "%s (gzip): %s", what,
		    rc ? err : "accepted");
}

static void
test_plain(void)
{
	char longl[1200];
	const char *exim =
	    "MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\n"
	    "RCPT TO:<e@d.example>\nDATA\nSubject: x\n\n..dot\n.\n"
	    "RSET\nMAIL FROM:<> SIZE=20\nRCPT TO: <g@d.example>\nDATA\nhi\n.\n";
	const char *emptyl =
	    "MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\nDATA\n\nbody\n.\n"
	    "MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\nDATA\n.\n";
	struct bundle_reader *r;
	struct bundle_msg m;
	char err[256], path[512], *got;
	int fd;

	plain("\x01\x02garbage", "not a bundle: wrong magic", "wrong magic");
	plain("\x1f\x9d\x90garbage", "compress(1) bundles not supported",
	    "compress(1)");
	plain("", "empty bundle", "empty file");
	plain("HELO x\r\nQUIT\r\n", "empty bundle (no messages)",
	    "no messages");
	gz_text("HELO x\r\nQUIT\r\n", "empty bundle (no messages)",
	    "no messages");
	gz_text("", "empty bundle (no messages)", "empty stream");
	plain("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n",
	    "missing final '.' of message 1", "missing final dot");
	gz_text("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n"
	    ".\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n..\r\n",
	    "missing final '.' of message 2", "missing final dot");
	plain("HELO x\r\nMAIL FROM:<a@b>\r\nDATA\r\nhi\r\n.\r\n",
	    "line 3: DATA without RCPT", "DATA without RCPT");
	plain("HELO x\r\nDATA\r\nhi\r\n.\r\n", "line 2: DATA without MAIL",
	    "DATA without MAIL");
	plain("HELO x\r\nRCPT TO:<c@d>\r\n", "line 2: RCPT without MAIL",
	    "RCPT without MAIL");
	plain("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n",
	    "end of bundle inside the transaction", "no DATA at the end");
	plain("HELO x\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n",
	    "line 3: MAIL inside the transaction", "nested MAIL");
	plain("HELO x\r\nVRFY x\r\n", "line 2: unknown command \"VRFY x\"",
	    "unknown command");
	plain("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n"
	    ".\r\nQUIT\r\nMAIL FROM:<a@b>\r\n", "text after QUIT",
	    "text after QUIT");
	memset(longl, 'x', sizeof(longl));
	memcpy(longl, "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<", 34);
	memcpy(longl + 1100, ">\r\n", 4);
	plain(longl, "line 3: line over 1000 octets", "RCPT line over 1000");
	longl[990] = '>';
	longl[991] = '\0';
	plain(longl, "line 3: address over 254 octets", "address too long");
	plain("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d\r\n",
	    "line 3: address without '>'", "unclosed address");
	plain("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<>\r\n",
	    "line 3: empty address", "empty RCPT");
	plain(exim, NULL, "LF-only, no HELO/QUIT (Exim style)");
	gz_text(exim, NULL, "LF-only, no HELO/QUIT (Exim style)");
	plain("EHLO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nno final LF\n.",
	    NULL, "final dot without line end");
	plain("EHLO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n\nbody\n.\n",
	    NULL, "a body that starts with an empty line (bare LF)");
	plain("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n\r\n"
	    ".\r\n", NULL, "a body of one empty line");
	plain("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\n",
	    NULL, "an empty body");

	snprintf(path, sizeof(path), "%s/exim", dir);
	write_file(path, exim, strlen(exim));
	fd = open(path, O_RDONLY);
	r = bundle_reader_open(fd, tmpdir);
	ok(bundle_read_next(r, &m, err, sizeof(err)) == 1 && m.nrcpts == 2 &&
	    strcmp(m.rcpts[1], "e@d.example") == 0 && m.line == 1,
	    "two RCPTs in one transaction");
	bundle_read_body(r, &m, 1, err, sizeof(err));
	got = slurp_msg(&m);
	ok(m.size == 20 && memcmp(got, "Subject: x\r\n\r\n.dot\r\n", 20) == 0,
	    "LF body read as CRLF, un-stuffed");
	free(got);
	bundle_msg_free(&m);
	ok(bundle_read_next(r, &m, err, sizeof(err)) == 1 &&
	    strcmp(m.sender, "") == 0 && m.nrcpts == 1 &&
	    strcmp(m.rcpts[0], "g@d.example") == 0 && m.index == 2,
	    "null sender with a parameter, RCPT TO: with a space");
	bundle_msg_free(&m);
	ok(bundle_read_next(r, &m, err, sizeof(err)) == 0,
	    "body skipped by read_next; end");
	bundle_reader_close(r);
	close(fd);

	write_file(path, emptyl, strlen(emptyl));
	fd = open(path, O_RDONLY);
	r = bundle_reader_open(fd, tmpdir);
	ok(bundle_read_next(r, &m, err, sizeof(err)) == 1 &&
	    bundle_read_body(r, &m, 1, err, sizeof(err)) == 0,
	    "a kept body whose first line is empty (bare LF)");
	got = slurp_msg(&m);
	ok(m.size == 8 && memcmp(got, "\r\nbody\r\n", 8) == 0,
	    "  read as CRLF CRLF");
	free(got);
	bundle_msg_free(&m);
	ok(bundle_read_next(r, &m, err, sizeof(err)) == 1 &&
	    bundle_read_body(r, &m, 1, err, sizeof(err)) == 0 && m.size == 0,
	    "a kept empty body");
	bundle_msg_free(&m);
	bundle_reader_close(r);
	close(fd);
}

int
main(void)
{
	char path[600];
	size_t i;

	snprintf(dir, sizeof(dir), "%s/unit-bundle.%d",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", dir);
	snprintf(outdir, sizeof(outdir), "%s/out", dir);
	if (dir_make(tmpdir, 0700) == -1 || dir_make(outdir, 0700) == -1)
		return 2;
	make_big();
	for (i = 0; i < NMSGS; i++) {
		if (msgs[i].msg == NULL) {
			msgs[i].msg = big;
			msgs[i].len = biglen;
			msgs[i].want = bigwant;
			msgs[i].wantlen = bigwantlen;
		} else if (msgs[i].wantlen == 0)
			msgs[i].wantlen = strlen(msgs[i].want);
	}
	test_names();
	build_bundle(path, sizeof(path), 1);
	test_round_trip(path);
	test_gzip_tool(path);
	build_bundle(path, sizeof(path), 0);
	test_damage(path);
	test_plain();
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 2;
	return done_testing();
}
