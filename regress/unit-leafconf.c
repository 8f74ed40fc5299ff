/*
 * unit-leafconf.c - leaf.conf loading (conf/leafconf.c): the shipped
 * sample loads, every section is read, and each kind of mistake is
 * reported once with its file and line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "leafconf.h"
#include "util.h"
#include "tap.h"

static char path[256];

/* load - write text to a file and load it; errors into errbuf. */
static struct leaf_conf *
load(const char *text, char *errbuf, size_t len, int *nerr)
{
	FILE *f = fopen(path, "w"), *e;
	struct leaf_conf *c;

	fputs(text, f);
	fclose(f);
	e = fmemopen(errbuf, len, "w");
	c = conf_leaf_load(path, e, nerr);
	fclose(e);
	return c;
}

/* bad - text must fail with exactly one error containing want. */
static void
bad(const char *text, const char *want)
{
	char errs[2048] = "";
	struct leaf_conf *c;
	int n;

	c = load(text, errs, sizeof(errs), &n);
	if (!ok(c == NULL && n >= 1 && strstr(errs, want) != NULL,
	    "refused: %s", want))
		printf("# errors: %s", errs);
	conf_leaf_free(c);
}

static void
test_sample(void)
{
	char errs[2048] = "";
	struct leaf_conf *c;
	FILE *e = fmemopen(errs, sizeof(errs), "w");
	int n;

	c = conf_leaf_load("etc/leaf.conf", e, &n);
	fclose(e);
	if (!ok(c != NULL && n == 0, "etc/leaf.conf loads"))
		printf("# %s", errs);
	if (c == NULL)
		return;
	is_str(c->spool, "/var/spool/bridge-leaf", "spool");
	is_int(c->inject.method, INJECT_SENDMAIL, "method sendmail");
	ok(c->inject.ncommand == 2 &&
	    strcmp(c->inject.command[0], "/usr/sbin/sendmail") == 0,
	    "command");
	is_int(c->inject.timeout, 300, "timeout 5m");
	is_int(c->nhubs, 1, "one hub");
	is_str(c->hubs[0].name, "isp", "hub name");
	ok(c->hubs[0].has_etrn && c->hubs[0].netrn_targets == 2 &&
	    strcmp(c->hubs[0].etrn_targets[1], "#acme") == 0, "etrn");
	ok(c->hubs[0].etrn_user == NULL && c->hubs[0].etrn_secret == NULL,
	    "etrn: no AUTH by default");
	ok(c->hubs[0].has_uucp && c->hubs[0].nuucico == 4, "uucp");
	ok(c->hubs[0].has_ssh && strcmp(c->hubs[0].ssh_user, "acme") == 0 &&
	    strcmp(c->hubs[0].ssh_dir, "outbox") == 0, "ssh");
	is_int(c->hubs[0].poll, 900, "poll 15m");
	ok(c->hubs[0].nwindows == 1 && c->hubs[0].windows[0].days == 0x3e &&
	    c->hubs[0].windows[0].from == 480 &&
	    c->hubs[0].windows[0].to == 1080, "windows");
	is_str(c->link_probe, "relay.isp.example:25", "link probe");
	is_int(c->link_every, 60, "link every");
	ok(conf_leaf_hub(c, "isp") != NULL && conf_leaf_hub(c, "x") == NULL,
	    "hub lookup");
	conf_leaf_free(c);
}

static void
test_defaults(void)
{
	char errs[2048] = "";
	struct leaf_conf *c;
	int n;

	c = load("inject { method = \"smtp\" }\n", errs, sizeof(errs), &n);
	ok(c != NULL, "minimal smtp config loads");
	if (c == NULL)
		return;
	is_str(c->inject.server, "127.0.0.1:25", "smtp server default");
	ok(c->hostname != NULL && c->hostname[0] != '\0', "hostname default");
	is_int(c->nhubs, 0, "no hubs");
	ok(c->link_probe == NULL, "no probe");
	conf_leaf_free(c);
	c = load("inject { method = \"lmtp\" server = \"unix:/run/lmtp\" }\n"
	    "hostname = \"leaf.acme.example\"\n", errs, sizeof(errs), &n);
	ok(c != NULL && c->inject.method == INJECT_LMTP &&
	    strcmp(c->inject.server, "unix:/run/lmtp") == 0 &&
	    strcmp(c->hostname, "leaf.acme.example") == 0, "lmtp over unix");
	conf_leaf_free(c);
	c = load("hub \"isp\" { etrn { server = \"h:25\" targets = {\"#acme\"}"
	    " user = \"acme\" secret = \"/etc/acme.secret\" } }\n", errs,
	    sizeof(errs), &n);
	ok(c != NULL && c->hubs[0].has_etrn &&
	    strcmp(c->hubs[0].etrn_user, "acme") == 0 &&
	    strcmp(c->hubs[0].etrn_secret, "/etc/acme.secret") == 0,
	    "etrn with user and secret");
	conf_leaf_free(c);
}

static void
test_errors(void)
{
	char want[300];

	snprintf(want, sizeof(want), "%s:2: no such option 'bogus'", path);
	bad("spool = \"/x\"\nbogus = 1\n", want);
	snprintf(want, sizeof(want), "%s:3: method: \"pigeon\"", path);
	bad("inject {\n\n method = \"pigeon\"\n}\n", want);
	bad("spool = \"relative\"\n", "spool: \"relative\" is not an absolute");
	bad("inject { command = {\"sendmail\"} }\n",
	    "command: \"sendmail\" is not an absolute path");
	bad("inject { method = \"lmtp\" }\n", "method lmtp needs a server");
	bad("inject { server = \"nohostport\" }\n", "is not host:port");
	bad("inject { server = \"host:99999\" }\n", "is not host:port");
	bad("inject { timeout = \"5x\" }\n", "is not a duration");
	bad("hub \"a\" { etrn { server = \"h:25\" } }\n",
	    "etrn needs server and targets");
	bad("hub \"a\" { etrn { server = \"h:25\" targets = {\"@com\"} } }\n",
	    "\"@com\" is not a domain");
	bad("hub \"a\" { }\n", "no etrn, uucp or ssh section");
	bad("hub \"a\" { etrn { server = \"h:25\" targets = {\"#a\"} "
	    "user = \"a\" } }\n", "etrn user and secret go together");
	bad("hub \"a\" { etrn { server = \"h:25\" targets = {\"#a\"} "
	    "secret = \"/s\" } }\n", "etrn user and secret go together");
	bad("hub \"a\" { etrn { server = \"h:25\" targets = {\"#a\"} "
	    "user = \"a\" secret = \"s\" } }\n",
	    "secret: \"s\" is not an absolute path");
	bad("hub \"a\" { etrn { server = \"h:25\" targets = {\"#a\"} "
	    "user = \"a b\" secret = \"/s\" } }\n",
	    "user: \"a b\" is not a plain user name");
	bad("hub \"a\" { uucp { uucico = {\"/u\"} } }\n"
	    "hub \"a\" { uucp { uucico = {\"/u\"} } }\n",
	    "duplicate title 'a'");
	bad("hub \"a/b\" { uucp { uucico = {\"/u\"} } }\n", "not a safe name");
	bad("hub \"a\" { ssh { server = \"h:22\" user = \"u\" } }\n",
	    "ssh needs identity");
	bad("hub \"a\" { ssh { server = \"h:22\" user = \"u\" dir = \"../x\" "
	    "identity = \"/i\" known-hosts = \"/k\" } }\n", "dir: \"../x\"");
	bad("hub \"a\" { uucp { uucico = {\"/u\"} } windows = {\"Mon-Fry 08:00-18:00\"} }\n",
	    "windows: \"Mon-Fry 08:00-18:00\"");
	bad("hub \"a\" { uucp { uucico = {\"/u\"} } poll = \"soon\" }\n",
	    "poll: \"soon\" is not a duration");
	bad("link { probe = \"unix:/x\" }\n", "probe: \"unix:/x\" is not host:port");
	snprintf(want, sizeof(want), "%s:2: section not closed", path);
	bad("# a comment with { in it\ninject { command = {\"/x\", \"}\"}\n"
	    "\n", want);
	snprintf(want, sizeof(want), "%s.missing", path);
	{
		char errs[512] = "";
		FILE *e = fmemopen(errs, sizeof(errs), "w");
		int n;
		struct leaf_conf *c = conf_leaf_load(want, e, &n);
		fclose(e);
		ok(c == NULL && n == 1 && strstr(errs, "No such file") != NULL,
		    "missing file reported: %s", errs);
	}
}

static void
test_windows(void)
{
	struct window w;
	struct tm tm;
	time_t t;

	ok(conf_window_parse("Mon-Fri 08:00-18:00", &w) == 0 &&
	    w.days == 0x3e, "Mon-Fri");
	ok(conf_window_parse("Sat,Sun 00:00-24:00", &w) == 0 &&
	    w.days == 0x41 && w.to == 1440, "Sat,Sun whole days");
	ok(conf_window_parse("Fri-Mon 22:00-06:00", &w) == 0 &&
	    w.days == 0x63, "wrapping days and hours");
	ok(conf_window_parse("22:00-06:00", &w) == 0 && w.days == 0x7f,
	    "every day");
	ok(conf_window_parse("08:00-08:00", &w) == -1, "empty range refused");
	ok(conf_window_parse("Mon 8:00-18:00", &w) == -1, "H:MM refused");
	ok(conf_window_parse("Mon 08:60-18:00", &w) == -1, "minute 60 refused");
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 124;	/* Monday 2024-01-01 */
	tm.tm_mday = 1;
	tm.tm_hour = 23;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	conf_window_parse("Mon 22:00-06:00", &w);
	ok(conf_window_match(&w, 1, t), "Monday 23:00 inside Mon 22-06");
	ok(conf_window_match(&w, 1, t + 4 * 3600), "Tuesday 03:00 inside");
	ok(!conf_window_match(&w, 1, t + 8 * 3600), "Tuesday 07:00 outside");
	conf_window_parse("Mon-Fri 08:00-18:00", &w);
	ok(!conf_window_match(&w, 1, t), "Monday 23:00 outside office hours");
	ok(conf_window_match(NULL, 0, t), "no windows: any time");
}

int
main(void)
{
	snprintf(path, sizeof(path), "%s/unit-leafconf.%d.conf",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	test_sample();
	test_defaults();
	test_errors();
	test_windows();
	unlink(path);
	return done_testing();
}
