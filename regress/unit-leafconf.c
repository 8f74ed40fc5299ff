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

#include "conf.h"
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
	ok(c->hubs[0].has_uucp && c->hubs[0].nuucico == 0 &&
	    strcmp(c->hubs[0].uucp_system, "isp") == 0, "uucp");
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
	ok(c != NULL && c->hubs[0].etrn_tls.policy == TLSP_MAY &&
	    c->hubs[0].etrn_tls.ca == NULL && c->hubs[0].etrn_tls.name == NULL,
	    "tls-policy may by default, the system's CAs");
	conf_leaf_free(c);
	c = load("hub \"isp\" { etrn { server = \"h:25\" targets = {\"#a\"}"
	    " tls-policy = \"encrypt\" }\n odmr { server = \"h:366\" user = "
	    "\"a\" secret = \"/s\" tls-policy = \"verify\" tls-ca = "
	    "\"/etc/ca.pem\" tls-name = \"hub.isp.example\" } }\n", errs,
	    sizeof(errs), &n);
	ok(c != NULL && c->hubs[0].etrn_tls.policy == TLSP_ENCRYPT &&
	    c->hubs[0].odmr_tls.policy == TLSP_VERIFY &&
	    strcmp(c->hubs[0].odmr_tls.ca, "/etc/ca.pem") == 0 &&
	    strcmp(c->hubs[0].odmr_tls.name, "hub.isp.example") == 0,
	    "tls-policy, tls-ca and tls-name in etrn and odmr");
	conf_leaf_free(c);
	bad("hub \"a\" { etrn { server = \"h:25\" targets = {\"#a\"} "
	    "tls-policy = \"yes\" } }\n", "bad tls-policy \"yes\"");
	bad("hub \"a\" { odmr { server = \"h:366\" user = \"a\" secret = "
	    "\"/s\" tls-ca = \"ca.pem\" } }\n", "\"ca.pem\" is not an absolute "
	    "path");
	c = load("hub \"isp\" {\n ssh { server = \"h\" user = \"u\" "
	    "identity = \"/i\" known-hosts = \"/k\" }\n"
	    " uucp { system = \"isp\" config = \"/etc/uucp/config\" }\n"
	    " odmr { server = \"h:366\" user = \"acme\" secret = \"/s\"\n"
	    "        targets = {\"acme.example\"} }\n"
	    " online-deadline = \"2m\" max-online = \"20m\"\n"
	    " backoff { base = \"30s\" ceiling = \"1h\" give-up = 4 }\n"
	    " windows = {\"Mon-Fri 08:00-18:00 max 200K\", \"18:00-08:00\"}\n}\n"
	    "link { probe = \"h:25\" down-command = {\"/usr/bin/poff\", \"isp\"} }\n"
	    "metrics = \"/var/lib/node/leaf.prom\"\n", errs, sizeof(errs), &n);
	if (!ok(c != NULL, "odmr, uucp system, thrift keys load"))
		printf("# %s", errs);
	if (c == NULL)
		return;
	ok(c->hubs[0].nmethods == 3 && c->hubs[0].methods[0] == METHOD_SSH &&
	    c->hubs[0].methods[1] == METHOD_UUCP &&
	    c->hubs[0].methods[2] == METHOD_ODMR, "methods in written order");
	ok(c->hubs[0].has_odmr && c->hubs[0].nodmr_targets == 1 &&
	    strcmp(c->hubs[0].odmr_user, "acme") == 0 &&
	    strcmp(c->hubs[0].odmr_secret, "/s") == 0, "odmr section");
	ok(c->hubs[0].has_uucp && c->hubs[0].nuucico == 0 &&
	    strcmp(c->hubs[0].uucp_system, "isp") == 0 &&
	    strcmp(c->hubs[0].uucp_config, "/etc/uucp/config") == 0,
	    "uucp system and config");
	ok(c->hubs[0].online_deadline == 120 && c->hubs[0].max_online == 1200,
	    "online-deadline, max-online");
	ok(c->hubs[0].backoff_base == 30 && c->hubs[0].backoff_ceiling == 3600 &&
	    c->hubs[0].give_up == 4, "backoff");
	ok(c->hubs[0].nwindows == 2 &&
	    c->hubs[0].windows[0].max_size == 200 * 1024 &&
	    c->hubs[0].windows[1].max_size == 0, "window caps");
	ok(c->nlink_down == 2 && strcmp(c->link_down[1], "isp") == 0,
	    "link down-command");
	is_str(c->metrics, "/var/lib/node/leaf.prom", "metrics");
	conf_leaf_free(c);
	c = load("hub \"a\" { etrn { server = \"h:25\" targets = {\"#a\"} } }\n",
	    errs, sizeof(errs), &n);
	ok(c != NULL && c->hubs[0].online_deadline == 0 &&
	    c->hubs[0].max_online == 3600 && c->hubs[0].backoff_base == 60 &&
	    c->hubs[0].backoff_ceiling == 6 * 3600 && c->hubs[0].give_up == 10 &&
	    c->link_down == NULL && c->metrics == NULL, "thrift defaults");
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
	bad("hub \"a\" { }\n", "no etrn, odmr, uucp or ssh section");
	bad("hub \"a\" { odmr { server = \"h:366\" user = \"a\" } }\n",
	    "odmr needs server, user and secret");
	bad("hub \"a\" { odmr { server = \"h:366\" user = \"a\" "
	    "secret = \"/s\" targets = {\"#a\"} } }\n",
	    "targets: \"#a\" is not a domain (ATRN takes domains only)");
	bad("hub \"a\" { uucp { config = \"/etc/uucp/config\" } }\n",
	    "uucp needs system or uucico");
	bad("hub \"a\" { uucp { system = \"a!b\" } }\n",
	    "system: \"a!b\" is not a UUCP system name");
	bad("hub \"a\" { uucp { uucico = {\"/u\"} config = \"/c\" } }\n",
	    "uucp config goes with system");
	bad("hub \"a\" { uucp { system = \"a\" } backoff { base = \"1h\" "
	    "ceiling = \"1m\" } }\n", "backoff base is longer than its ceiling");
	bad("hub \"a\" { uucp { system = \"a\" } backoff { give-up = 0 } }\n",
	    "give-up: 0 is not a count");
	bad("hub \"a\" { uucp { system = \"a\" } max-online = \"0s\" }\n",
	    "max-online: \"0s\" is not a duration");
	bad("hub \"a\" { uucp { system = \"a\" } windows = "
	    "{\"08:00-18:00 max\"} }\n", "windows: \"08:00-18:00 max\"");
	bad("link { down-command = {\"poff\"} }\n",
	    "down-command: \"poff\" is not an absolute path");
	bad("metrics = \"leaf.prom\"\n", "metrics: \"leaf.prom\" is not an absolute");
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
	ok(conf_window_parse("Mon-Fri 08:00-18:00 max 200K", &w) == 0 &&
	    w.days == 0x3e && w.from == 480 && w.max_size == 204800,
	    "a window with a size cap");
	ok(conf_window_parse("22:00-06:00  max 2M", &w) == 0 &&
	    w.days == 0x7f && w.max_size == 2 * 1024 * 1024,
	    "every day with a cap");
	ok(conf_window_parse("08:00-18:00 max 0", &w) == -1 &&
	    conf_window_parse("08:00-18:00 max 2X", &w) == -1 &&
	    conf_window_parse("08:00-18:00 min 2M", &w) == -1 &&
	    conf_window_parse("08:00-18:00 max 2M x", &w) == -1,
	    "bad caps refused");
	{
		struct window ws[2];

		conf_window_parse("Mon-Fri 08:00-18:00 max 200K", &ws[0]);
		conf_window_parse("Mon 12:00-13:00 max 1M", &ws[1]);
		ok(conf_window_cap(ws, 2, t + 9 * 3600 + 1800) == 204800,
		    "Tuesday 08:30: the day's cap");
		ok(conf_window_cap(ws, 2, t - 11 * 3600 + 1800) == 1024 * 1024,
		    "Monday 12:30: the larger of two caps");
		ok(conf_window_cap(ws, 2, t) == 0, "outside every window: no cap");
		conf_window_parse("12:00-13:00", &ws[1]);
		ok(conf_window_cap(ws, 2, t - 11 * 3600 + 1800) == 0,
		    "an uncapped window wins");
	}
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
