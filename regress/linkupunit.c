/*
 * linkupunit.c - unit tests of bridge-linkup's pieces, run by
 * regress/74-linkup-unit.t: the backoff and its jitter bounds, the next
 * second a window allows, the test clock, the status file (a round
 * trip through lstatus_update, odd error text, the listing, the
 * metrics), linkup_worse, and the receiving end of the ODMR turn
 * (etrn/srecv.c) over a socketpair: greeting, EHLO, pipelined
 * MAIL/RCPT/BDAT, DATA with dot-stuffing and bare line ends, a size
 * cap, a too-long line, BDAT without recipients, QUIT.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "leafconf.h"
#include "linkup.h"
#include "log.h"
#include "srecv.h"
#include "tap.h"
#include "util.h"

static char dir[256];

static time_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

static void
test_backoff(void)
{
	struct leaf_hub h;
	long v;
	int n, bad = 0;

	memset(&h, 0, sizeof(h));
	h.backoff_base = 60;
	h.backoff_ceiling = 3600;
	is_int(sched_backoff(&h, 1, 0.5), 60, "first failure: base (mid jitter)");
	is_int(sched_backoff(&h, 1, 0.0), 48, "jitter low end: 0.8 x base");
	ok(sched_backoff(&h, 1, 0.999) >= 71 && sched_backoff(&h, 1, 0.999) <= 72,
	    "jitter high end: 1.2 x base");
	is_int(sched_backoff(&h, 3, 0.5), 240, "third: base x 4");
	is_int(sched_backoff(&h, 30, 0.999), 3600, "never past the ceiling");
	is_int(sched_backoff(&h, 30, 0.0), 2880, "at the ceiling, jitter below it");
	for (n = 1; n < 40; n++) {
		v = sched_backoff(&h, n, sched_jitter());
		if (v < 48 || v > 3600)
			bad++;
	}
	is_int(bad, 0, "random jitter stays within bounds");
}

static void
test_windows(void)
{
	struct leaf_hub h;
	struct window w[2];

	memset(&h, 0, sizeof(h));
	setenv("TZ", "UTC", 1);
	tzset();
	is_int(sched_window_next(&h, 1000), 1000, "no windows: now");
	conf_window_parse("Mon-Fri 08:00-18:00", &w[0]);
	h.windows = w;
	h.nwindows = 1;
	/* 2024-01-01 is a Monday */
	ok(sched_window_next(&h, utc(2024, 1, 1, 7, 50)) ==
	    utc(2024, 1, 1, 8, 0), "before the window: its start");
	ok(sched_window_next(&h, utc(2024, 1, 1, 9, 13) + 7) ==
	    utc(2024, 1, 1, 9, 13) + 7, "inside: now");
	ok(sched_window_next(&h, utc(2024, 1, 5, 18, 30)) ==
	    utc(2024, 1, 8, 8, 0), "Friday evening: Monday 08:00");
	conf_window_parse("22:00-06:00", &w[1]);
	h.nwindows = 2;
	ok(sched_window_next(&h, utc(2024, 1, 6, 12, 0)) ==
	    utc(2024, 1, 6, 22, 0), "Saturday noon: the night window");
}

static void
test_clock(void)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/clock", dir);
	f = fopen(path, "w");
	fprintf(f, "1704095400\n");
	fclose(f);
	setenv("BRIDGE_LINKUP_CLOCK", path, 1);
	ok(sched_fake(), "the test clock is on");
	is_int((long)sched_now(), 1704095400, "the test clock's time");
	unsetenv("BRIDGE_LINKUP_CLOCK");
	ok(!sched_fake() && labs((long)(sched_now() - time(NULL))) <= 1,
	    "without it: the wall clock");
}

static void
fill(struct lstatus *st, void *arg)
{
	struct ls_method *m = lstatus_method(st, "isp", METHOD_ODMR);
	struct ls_hub *h = lstatus_hub(st, "isp");

	(void)arg;
	st->link = 1;
	st->link_since = 1700000000;
	h->run_start = 1700000100;
	h->run_end = 1700000160;
	h->failures = 2;
	h->retry_at = 1700000400;
	h->runs_total = 7;
	m->last_attempt = 1700000100;
	m->last_rc = 75;
	m->last_secs = 2.5;
	m->last_msgs = 3;
	m->last_bytes = 4096;
	m->msgs_total += 3;
	m->bytes_total += 4096;
	m->failures_total++;
	m->last_error_at = 1700000102;
	snprintf(m->last_error, sizeof(m->last_error), "odd %% text = with\n"
	    "a line end");
}

static void
test_status(void)
{
	struct leaf_conf lc;
	struct leaf_hub hub;
	struct lstatus st;
	struct ls_method *m;
	char *buf = NULL, path[300];
	size_t len = 0;
	FILE *f;
	int meth = METHOD_ODMR;

	memset(&lc, 0, sizeof(lc));
	memset(&hub, 0, sizeof(hub));
	lc.spool = dir;
	snprintf(path, sizeof(path), "%s/leaf.prom", dir);
	lc.metrics = path;
	hub.name = "isp";
	hub.poll = 900;
	hub.methods[0] = METHOD_ODMR;
	hub.nmethods = 1;
	lc.hubs = &hub;
	lc.nhubs = 1;
	ok(lstatus_update(&lc, fill, NULL) == 0, "status written");
	ok(lstatus_update(&lc, fill, NULL) == 0, "and again (counters add)");
	ok(lstatus_read(&lc, &st) == 0, "status read back");
	m = lstatus_method(&st, "isp", meth);
	ok(st.link == 1 && st.link_since == 1700000000, "the link");
	ok(m->last_rc == 75 && m->last_msgs == 3 && m->last_bytes == 4096 &&
	    m->last_secs > 2.49 && m->last_secs < 2.51, "the last attempt");
	is_int((long)m->msgs_total, 6, "totals add up");
	is_str(m->last_error, "odd % text = with?a line end",
	    "error text survives, control characters made harmless");
	ok(lstatus_hub(&st, "isp")->failures == 2 &&
	    lstatus_hub(&st, "isp")->runs_total == 7, "the hub's record");
	f = open_memstream(&buf, &len);
	lstatus_print(&lc, &st, NULL, 0, 0, f);
	fclose(f);
	ok(strstr(buf, "hub isp: last run ") != NULL &&
	    strstr(buf, "  odmr   last attempt ") != NULL &&
	    strstr(buf, "try later (75), 3 messages, 4.0K in 2.5s") != NULL &&
	    strstr(buf, "retry not before ") != NULL, "the listing");
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	lstatus_print(&lc, &st, NULL, 0, 1, f);
	fclose(f);
	ok(strstr(buf, "\"text\": \"odd % text = with?a line end\"") != NULL &&
	    strstr(buf, "\"messages\": 3") != NULL &&
	    buf[strlen(buf) - 2] == '}', "the JSON");
	free(buf);
	lstatus_free(&st);
	buf = NULL;
	f = fopen(path, "r");
	ok(f != NULL, "the textfile is there");
	if (f != NULL) {
		char line[512];
		int has = 0;

		while (fgets(line, sizeof(line), f) != NULL) {
			has |= strcmp(line, "mailbridge_leaf_messages_received_"
			    "total{hub=\"isp\",method=\"odmr\"} 6\n") == 0;
			has |= (strcmp(line, "mailbridge_leaf_failures_total{"
			    "hub=\"isp\",method=\"odmr\"} 2\n") == 0) << 1;
			has |= (strcmp(line, "mailbridge_leaf_link_up 1\n") ==
			    0) << 2;
		}
		fclose(f);
		is_int(has, 7, "it counts messages, failures and the link");
	}
}

static void
test_worse(void)
{
	is_int(linkup_worse(0, 75), 75, "75 over 0");
	is_int(linkup_worse(75, 65), 65, "damage over try-later");
	is_int(linkup_worse(69, 78), 78, "configuration over unavailable");
	is_int(linkup_worse(77, 78), 77, "a refusal over everything");
	is_int(linkup_worse(0, 0), 0, "0 and 0");
}

/* --- srecv ------------------------------------------------------------ */

static char got[8][2048];
static size_t gotlen[8];
static int ngot;

static int
deliver(void *arg, const struct srecv_msg *m, char *reply, size_t len)
{
	(void)arg;
	if (ngot < 8 && m->fd == -1 && m->size < sizeof(got[0])) {
		memcpy(got[ngot], m->mem, (size_t)m->size);
		gotlen[ngot] = (size_t)m->size;
	}
	ngot++;
	snprintf(reply, len, "250 2.0.0 Ok: %s to %d", m->sender, m->nrcpts);
	return 0;
}

static void
test_srecv(void)
{
	static const char script[] =
	    "EHLO hub.test\r\n"
	    "MAIL FROM:<a@x.test> SIZE=20 BODY=8BITMIME\r\n"
	    "RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
	    "BDAT 10\r\n0123456789BDAT 5 LAST\r\n\r\nend"
	    "RSET\r\n"
	    "MAIL FROM:<> SIZE=1000\r\n"
	    "RCPT TO:<d@y.test>\r\nBDAT 3 LAST\r\nxyz"
	    "MAIL FROM:<e@x.test>\r\nRCPT TO:<f@y.test>\r\nDATA\r\n"
	    "Subject: s\r\n\r\n..dot\r\nbare\nlf\r\n.\r\n"
	    "NOOP\r\nFROB\r\n"
	    "QUIT\r\n";
	static const char want[] =
	    "220 500 250 250 250 250 250 250 250 452 503 503 250 250 354 250 "
	    "250 502 221 ";
	struct srecv_opts o;
	struct srecv_stats st;
	char buf[8192], codes[200], err[200], *long_line, *p;
	size_t have = 0, c = 0;
	ssize_t n;
	int sv[2], rc, status, pipe_[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(2);
	long_line = malloc(3000);
	memset(long_line, 'x', 2998);
	memcpy(long_line, "NOOP ", 5);
	memcpy(long_line + 2998, "\r\n", 2);
	if (pipe(pipe_) == -1)
		exit(2);
	if ((pid = fork()) == 0) {
		/* the provider: everything at once, then the replies back */
		close(sv[0]);
		close(pipe_[0]);
		if (write(sv[1], long_line, 3000) != 3000 ||
		    write(sv[1], script, strlen(script)) !=
		    (ssize_t)strlen(script))
			_exit(1);
		while ((n = read(sv[1], buf + have, sizeof(buf) - 1 - have)) > 0)
			have += (size_t)n;
		if (write(pipe_[1], buf, have) != (ssize_t)have)
			_exit(1);
		_exit(0);
	}
	close(sv[1]);
	close(pipe_[1]);
	memset(&o, 0, sizeof(o));
	o.hostname = "leaf.test";
	o.timeout = 10;
	o.cap = 500;
	o.tmpdir = dir;
	o.deliver = deliver;
	memset(&st, 0, sizeof(st));
	/* the child's stderr carries the replies: catch it in a file */
	rc = srecv_session(sv[0], &o, &st, err, sizeof(err));
	while ((n = read(pipe_[0], buf + have, sizeof(buf) - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = '\0';
	close(pipe_[0]);
	waitpid(pid, &status, 0);
	/* the code of each reply's last line */
	for (p = buf; *p != '\0' && c + 5 < sizeof(codes);
	    p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		if (p[3] == ' ') {
			memcpy(codes + c, p, 3);
			codes[c + 3] = ' ';
			c += 4;
		}
	codes[c] = '\0';
	is_str(codes, want, "one reply per command, in order");
	is_int(rc, 0, "the session ended with QUIT");
	is_int(ngot, 2, "two messages delivered (the third was over the cap)");
	ok(gotlen[0] == 15 && memcmp(got[0], "0123456789\r\nend", 15) == 0,
	    "BDAT chunks joined, octets as sent");
	ok(gotlen[1] == 30 && memcmp(got[1],
	    "Subject: s\r\n\r\n.dot\r\nbare\r\nlf\r\n", 30) == 0,
	    "DATA unstuffed, a bare LF made CRLF");
	ok(st.quit && st.capped == 1 && st.ok == 2, "stats: quit, capped, ok");
	free(long_line);
}

static int
rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	log_init("linkupunit", LOG_TO_STDERR);
	snprintf(dir, sizeof(dir), "%s/linkupunit.%d",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	if (dir_make(dir, 0700) == -1)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	test_backoff();
	test_windows();
	test_clock();
	test_status();
	test_worse();
	test_srecv();
	nftw(dir, rm, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
