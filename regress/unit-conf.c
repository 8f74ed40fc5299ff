/*
 * unit-conf.c - bridge.conf loading (conf/conf*.c): defaults, every
 * class of error with its file:line, relative paths, the builtin
 * config, conf_check's secret modes, and the CIDR, listen and
 * host:port helpers.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ctlrole.h"
#include "util.h"
#include "rcptlist.h"
#include "routes.h"
#include "tap.h"

static char dir[] = "/tmp/unit-conf.XXXXXX";
static char written[128][32];
static int nwritten;

static const char *
path_of(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static const char *
write_file(const char *name, const char *text)
{
	const char *path = path_of(name);
	FILE *fp;

	if (nwritten < 128)
		snprintf(written[nwritten++], sizeof(written[0]), "%s", name);
	if ((fp = fopen(path, "w")) == NULL || fputs(text, fp) == EOF ||
	    fclose(fp) == EOF) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	return path;
}

static void
diag_lines(const char *text)
{
	const char *nl;

	while (text != NULL && *text != '\0') {
		nl = strchr(text, '\n');
		printf("# %.*s\n", (int)(nl ? nl - text : (long)strlen(text)),
		    text);
		text = nl ? nl + 1 : NULL;
	}
}

/*
 * load_text - write text as NAME.conf and load it; *errs gets what was
 * reported (caller frees).  Returns the config or NULL.
 */
static struct bridge_conf *
load_text(const char *name, const char *text, int *nerr, char **errs)
{
	struct bridge_conf *c;
	char file[64];
	size_t len = 0;
	FILE *mem;

	*errs = NULL;
	mem = open_memstream(errs, &len);
	snprintf(file, sizeof(file), "%s.conf", name);
	c = conf_load(write_file(file, text), mem, nerr);
	fclose(mem);
	return c;
}

/* expect_error - text must fail to load, reporting want at line. */
static void
expect_error(const char *name, const char *text, int line, const char *want)
{
	struct bridge_conf *c;
	char *errs, needle[512];
	int nerr = 0;

	c = load_text(name, text, &nerr, &errs);
	if (line > 0)
		snprintf(needle, sizeof(needle), "%s.conf:%d: %s", name, line,
		    want);
	else
		snprintf(needle, sizeof(needle), "%s", want);
	if (!ok(c == NULL && nerr > 0 && errs != NULL &&
	    strstr(errs, needle) != NULL, "%s: %s", name, needle))
		diag_lines(errs);
	conf_free(c);
	free(errs);
}

#define BASE	"spool = \"/var/spool/bridge\"\nroutes = \"r\"\n"

static void
test_defaults(void)
{
	struct bridge_conf *c;
	struct customer *cu;
	char *errs, host[256], want[300];
	int nerr = -1;

	write_file("r", "acme.example acme\n.acme.example acme\n");
	c = load_text("minimal", BASE
	    "customer \"acme\" { release = {\"etrn\"} }\n", &nerr, &errs);
	if (!ok(c != NULL && nerr == 0, "minimal config loads"))
		diag_lines(errs);
	free(errs);
	if (c == NULL)
		return;
	gethostname(host, sizeof(host));
	is_str(c->hostname, host, "hostname defaults to gethostname");
	snprintf(want, sizeof(want), "postmaster@%s", host);
	is_str(c->postmaster, want, "postmaster defaults to postmaster@host");
	is_str(c->spool, "/var/spool/bridge", "spool");
	is_str(c->routes_file, path_of("r"), "routes relative to the config");
	is_str(c->pidfile, "/var/spool/bridge/bridged.pid", "pidfile default");
	ok(c->user == NULL, "no user");
	is_int(c->smtp.l.nlisten + c->lmtp.l.nlisten + c->odmr.l.nlisten, 0,
	    "no listeners unless listed");
	is_int(c->smtp.max_clients, 100, "smtp max-clients 100");
	is_int(c->smtp.max_size, 50 << 20, "smtp max-size 50M");
	is_int(c->smtp.max_recipients, 100, "smtp max-recipients 100");
	is_int(c->smtp.timeout, 300, "smtp timeout 5m");
	is_int(c->lmtp.timeout, 300, "lmtp timeout 5m");
	is_int(c->odmr.timeout, 600, "odmr timeout 10m");
	is_int(c->queue.min_free, 100 << 20, "min-free 100M");
	is_int(c->queue.warn_after, 4 * 3600, "warn-after 4h");
	is_int(c->queue.expire_after, 5 * 86400, "expire-after 5d");
	is_int(c->ncustomers, 1, "one customer");
	cu = conf_customer(c, "acme");
	ok(cu != NULL, "conf_customer finds acme");
	ok(conf_customer(c, "ship") == NULL, "conf_customer: no ship");
	if (cu == NULL)
		return;
	is_int(cu->release, REL_ETRN, "release etrn");
	is_int(cu->deliver_mode, DELIVER_PEER, "deliver-to defaults to peer");
	is_int(cu->netrn_from, 0, "no etrn-from");
	ok(cu->secret == NULL && cu->recipients == NULL && cu->rcpts == NULL,
	    "no secret, no recipients");
	is_int(cu->quota, 0, "quota unlimited");
	is_int(cu->max_size, 0, "max-size from smtp");
	is_int(cu->retry, 0, "retry only on request");
	is_int(cu->flush_connections, 2, "flush-connections 2");
	is_int(cu->flush_connections_max, 20, "flush-connections-max 20");
	is_int(cu->bundle_max, 10 << 20, "bundle-max 10M");
	is_int(cu->bundle_delay, 300, "bundle-delay 5m");
	is_str(cu->uucp_command, "rgsmtp", "uucp-command rgsmtp");
	is_str(cu->uucp_grade, "C", "uucp-grade C");
	ok(cu->nuux == 1 && strcmp(cu->uux[0], "uux") == 0, "uux {\"uux\"}");
	is_int(cu->uucp_call, 0, "uucp-call false");
	is_int(cu->line, 3, "customer defined at line 3");
	is_int(routes_count(c->routes), 2, "two routes");
	conf_free(c);
}

static void
test_full(void)
{
	struct bridge_conf *c;
	struct customer *cu;
	char *errs;
	int nerr = -1;

	write_file("users", "alice@acme.example\n");
	c = load_text("full", "# every key\n"
	    "hostname = \"Hub.ISP.example\"\n"
	    "spool = \"spool\"\n"
	    "routes = \"r\"\n"
	    "user = \"bridge\"\n"
	    "postmaster = \"hostmaster@isp.example\"\n"
	    "pidfile = \"/run/bridged.pid\"\n"
	    "smtp { listen = {\"0.0.0.0:25\", \"[::]:25\"} max-clients = 7\n"
	    "  max-size = 1024 max-recipients = 9 timeout = 90 }\n"
	    "lmtp { listen = {\"unix:/tmp/x.sock\"} max-clients = 3 "
	    "timeout = \"1h\" }\n"
	    "odmr { listen = {\"127.0.0.1:366\"} timeout = \"20m\" }\n"
	    "queue { min-free = \"1G\" warn-after = \"1d\" "
	    "expire-after = \"2w\" }\n"
	    "customer \"acme\" {\n"
	    "  release = {\"etrn\", \"odmr\", \"uucp\", \"ssh\"}\n"
	    "  deliver-to = {\"mail.acme.example\", \"[2001:db8::1]:2525\"}\n"
	    "  etrn-from = {\"203.0.113.0/24\", \"2001:db8::/32\"}\n"
	    "  secret = \"acme.secret\" quota = \"2G\" max-size = \"10M\"\n"
	    "  recipients = \"users\" retry = \"30m\" warn-after = \"1h\"\n"
	    "  expire-after = \"21d\" flush-connections = 4\n"
	    "  bundle-max = \"1M\" bundle-delay = \"1m\" uucp-node = \"acme\"\n"
	    "  uucp-command = \"rsmtp\" uucp-grade = \"Z\"\n"
	    "  uux = {\"/usr/bin/uux\", \"-I\", \"/etc/uucp/config\"}\n"
	    "  uucp-call = yes\n"
	    "}\n"
	    "customer \"mx\" { release = {\"etrn\"} deliver-to = \"mx\" }\n",
	    &nerr, &errs);
	if (!ok(c != NULL && nerr == 0, "full config loads"))
		diag_lines(errs);
	free(errs);
	if (c == NULL)
		return;
	is_str(c->hostname, "Hub.ISP.example", "hostname");
	ok(c->spool[0] == '/' && strstr(c->spool, "/unit-conf.") != NULL &&
	    strcmp(c->spool + strlen(c->spool) - 6, "/spool") == 0,
	    "relative spool made absolute against the config dir (%s)",
	    c->spool);
	is_str(c->user, "bridge", "user");
	is_str(c->postmaster, "hostmaster@isp.example", "postmaster");
	is_str(c->pidfile, "/run/bridged.pid", "pidfile");
	ok(c->smtp.l.nlisten == 2 && strcmp(c->smtp.l.listen[1], "[::]:25")
	    == 0, "smtp listen list");
	is_int(c->smtp.max_clients, 7, "max-clients");
	is_int(c->smtp.max_size, 1024, "bare integer size");
	is_int(c->smtp.timeout, 90, "bare integer duration");
	is_int(c->lmtp.timeout, 3600, "lmtp timeout");
	is_int(c->odmr.timeout, 1200, "odmr timeout");
	is_int(c->queue.expire_after, 14 * 86400, "2w");
	cu = conf_customer(c, "acme");
	if (cu == NULL) {
		ok(0, "acme present");
		conf_free(c);
		return;
	}
	is_int(cu->release, REL_ETRN | REL_ODMR | REL_UUCP | REL_SSH,
	    "all release methods");
	is_int(cu->deliver_mode, DELIVER_HOSTS, "deliver to hosts");
	ok(cu->ndeliver_to == 2 && strcmp(cu->deliver_to[0],
	    "mail.acme.example:25") == 0 && strcmp(cu->deliver_to[1],
	    "[2001:db8::1]:2525") == 0, "port 25 added when missing");
	is_int(cu->netrn_from, 2, "two CIDRs");
	is_str(cu->secret, path_of("acme.secret"), "secret relative path");
	is_int(cu->quota, 2ULL << 30, "quota");
	ok(cu->rcpts != NULL && rcptlist_has(cu->rcpts, "alice",
	    "acme.example"), "recipients loaded");
	is_int(cu->retry, 1800, "retry");
	is_int(cu->expire_after, 21 * 86400, "expire-after");
	is_int(cu->flush_connections, 4, "flush-connections");
	is_int(cu->flush_connections_max, 4,
	    "flush-connections-max follows flush-connections when unset");
	is_str(cu->uucp_node, "acme", "uucp-node");
	is_str(cu->uucp_command, "rsmtp", "uucp-command");
	is_str(cu->uucp_grade, "Z", "uucp-grade");
	ok(cu->nuux == 3 && strcmp(cu->uux[2], "/etc/uucp/config") == 0,
	    "uux argv");
	is_int(cu->uucp_call, 1, "uucp-call yes");
	cu = conf_customer(c, "mx");
	ok(cu != NULL && cu->deliver_mode == DELIVER_MX, "deliver-to mx");
	conf_free(c);
}

static void
test_errors(void)
{
	char *errs;
	int nerr;

	expect_error("unknown-key", BASE "colour = \"blue\"\n", 3,
	    "unknown key or section \"colour\"");
	expect_error("unknown-section", BASE "pop3 { listen = {\"x\"} }\n",
	    3, "unknown key or section \"pop3\"");
	expect_error("unknown-in-customer", BASE "customer \"acme\" {\n"
	    "  release = {\"etrn\"}\n  relase = 1\n}\n", 5,
	    "unknown key or section \"relase\" in customer \"acme\"");
	expect_error("dup", BASE "customer \"acme\" {\n release = {\"etrn\"}\n"
	    "}\ncustomer \"acme\" { release = {\"etrn\"} }\n", 6,
	    "duplicate customer \"acme\" (first at line 3)");
	expect_error("badname", BASE "customer \"a/b\" { release = "
	    "{\"etrn\"} }\n", 3, "bad customer name \"a/b\"");
	expect_error("norelease", BASE "\ncustomer \"acme\" {\n"
	    "  quota = \"1G\"\n}\n", 4, "customer \"acme\" has no release");
	expect_error("badrelease", BASE "customer \"acme\" {\n"
	    "  release = {\"etrn\", \"carrier-pigeon\"}\n}\n", 4,
	    "release: unknown release method \"carrier-pigeon\"");
	expect_error("nonode", BASE "customer \"acme\" {\n"
	    "  release = {\"uucp\"}\n}\n", 3,
	    "customer \"acme\": release uucp needs uucp-node");
	expect_error("badsize", BASE "smtp { max-size = \"5 MB\" }\n", 3,
	    "max-size: bad size \"5 MB\"");
	expect_error("badquota", BASE "customer \"acme\" {\n"
	    " release = {\"etrn\"}\n quota = \"-5\"\n}\n", 5,
	    "quota: bad size \"-5\"");
	expect_error("baddur", BASE "queue {\n expire-after = \"5y\"\n}\n",
	    4, "expire-after: bad duration \"5y\"");
	expect_error("badint", BASE "smtp { max-clients = \"many\" }\n", 3,
	    "max-clients: bad number \"many\"");
	expect_error("badbool", BASE "customer \"acme\" { release = "
	    "{\"etrn\"} uucp-call = \"perhaps\" }\n", 3,
	    "uucp-call: bad boolean \"perhaps\"");
	expect_error("badcidr", BASE "customer \"acme\" { release = "
	    "{\"etrn\"}\n etrn-from = {\"10.0.0.1/8\"} }\n", 4,
	    "etrn-from: bad CIDR \"10.0.0.1/8\"");
	expect_error("badlisten", BASE "odmr { listen = {\"*:366\"} }\n", 3,
	    "listen: bad listen address \"*:366\"");
	expect_error("baddeliver", BASE "customer \"acme\" { release = "
	    "{\"etrn\"}\n deliver-to = {\"peer\", \"mx\"} }\n", 4,
	    "deliver-to: \"peer\" must be the only entry");
	expect_error("badhost", "hostname = \"-x\"\n" BASE, 1,
	    "hostname: bad host name \"-x\"");
	expect_error("badpm", BASE "postmaster = \"a%b@x.example\"\n", 3,
	    "postmaster: bad address");
	expect_error("nospool", "routes = \"r\"\n", 0,
	    "nospool.conf: spool is not set");
	expect_error("noroutes", "spool = \"/s\"\n", 0,
	    "noroutes.conf: routes is not set");
	expect_error("missingroutes", "spool = \"/s\"\nroutes = \"nope\"\n",
	    2, "routes file");
	expect_error("missingusers", BASE "customer \"acme\" {\n"
	    " release = {\"etrn\"}\n recipients = \"nope.users\"\n}\n", 5,
	    "recipients file");
	write_file("r2", "acme.example acme\nship.example ship\n");
	expect_error("routeunknown", "spool = \"/s\"\nroutes = \"r2\"\n"
	    "customer \"acme\" { release = {\"etrn\"} }\n", 0,
	    "/r2:2: route ship.example: unknown customer \"ship\"");
	write_file("r3", "acme.example acme\nbroken.example\n");
	expect_error("routebad", "spool = \"/s\"\nroutes = \"r3\"\n"
	    "customer \"acme\" { release = {\"etrn\"} }\n", 0,
	    "/r3:2: missing value for key broken.example");
	expect_error("syntax", BASE "smtp {\n"
	    " listen = {\"127.0.0.1:25\" \"x\"}\n}\n", 4,
	    "unexpected token 'x' in section smtp");
	expect_error("unclosed", BASE "smtp {\n listen = {\"127.0.0.1:25\"}\n",
	    3, "no closing } for this {");
	expect_error("unterminated", BASE "user = \"bridge\n", 3,
	    "unterminated quoted string");
	expect_error("comment", BASE "/* never closed\n", 3,
	    "unterminated /* comment");
	{
		struct bridge_conf *c;
		size_t len = 0;
		FILE *mem;

		errs = NULL;
		mem = open_memstream(&errs, &len);
		c = conf_load(path_of("does-not-exist.conf"), mem, &nerr);
		fclose(mem);
		ok(c == NULL && nerr == 1 && errs != NULL &&
		    strstr(errs, "does-not-exist.conf: cannot read: ") != NULL,
		    "missing config file");
		free(errs);
	}

	/* many problems: all reported, sorted by line */
	{
		struct bridge_conf *c;

		c = load_text("many", BASE
		    "smtp { max-size = \"x\" }\n"
		    "customer \"acme\" {\n"
		    "  quota = \"y\"\n"
		    "  etrn-from = {\"z\"}\n"
		    "}\n"
		    "queue { warn-after = \"w\" }\n", &nerr, &errs);
		is_int(nerr, 5, "five problems in one file");
		ok(errs != NULL && strstr(errs, "many.conf:3:") != NULL &&
		    strstr(errs, "many.conf:3:") < strstr(errs, "many.conf:4:")
		    && strstr(errs, "many.conf:4:") < strstr(errs,
		    "many.conf:5:") && strstr(errs, "many.conf:5:") <
		    strstr(errs, "many.conf:6:") && strstr(errs,
		    "many.conf:6:") < strstr(errs, "many.conf:8:"),
		    "reported in line order");
		diag_lines(errs);
		free(errs);
		conf_free(c);
	}
}

/* the smtp limits: defaults, values, limits-exempt */
static void
test_limits(void)
{
	struct bridge_conf *c;
	struct sockaddr_in sin;
	char *errs;
	int nerr = 0;

	write_file("r", "");
	c = load_text("lim0", BASE, &nerr, &errs);
	ok(c != NULL && c->smtp.min_data_rate == 500 &&
	    c->smtp.max_session_time == 3600 && c->smtp.max_per_client == 10 &&
	    c->smtp.max_per_network == 30 && c->smtp.auth_failures == 5 &&
	    c->smtp.auth_lockout == 900 && c->smtp.etrn_per_minute == 30 &&
	    c->smtp.nexempt == 2, "the limits' defaults");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000102);
	ok(c != NULL && cidr_match(&c->smtp.exempt[0],
	    (struct sockaddr *)&sin), "loopback is exempt by default");
	conf_free(c);
	free(errs);
	c = load_text("lim1", BASE "smtp { min-data-rate = 2K "
	    "max-session-time = 10m max-per-client = 3 max-per-network = 0 "
	    "limits-exempt = { \"192.0.2.0/24\" } auth-failures = 7 "
	    "auth-lockout = 1h etrn-per-minute = 0 }\n", &nerr, &errs);
	ok(c != NULL && nerr == 0 && c->smtp.min_data_rate == 2048 &&
	    c->smtp.max_session_time == 600 && c->smtp.max_per_client == 3 &&
	    c->smtp.max_per_network == 0 && c->smtp.auth_failures == 7 &&
	    c->smtp.auth_lockout == 3600 && c->smtp.etrn_per_minute == 0 &&
	    c->smtp.nexempt == 1, "the limits set");
	ok(c != NULL && !cidr_match(&c->smtp.exempt[0],
	    (struct sockaddr *)&sin), "limits-exempt replaces loopback");
	if (c == NULL)
		diag_lines(errs);
	conf_free(c);
	free(errs);
	expect_error("lim-cidr", BASE "smtp {\n limits-exempt = { \"x/99\" "
	    "}\n}\n", 4, "limits-exempt");
}

/* the tls section, auth-without-tls, tls_proto_parse */
static void
test_tls(void)
{
	struct bridge_conf *c;
	char *errs, want[300];
	int nerr = 0, lo = 0, hi = 0;

	write_file("r", "");
	c = load_text("tls", BASE "tls { cert = \"c.pem\" key = \"k.pem\" "
	    "protocols = \"TLSv1.3\" ciphers = \"ECDHE+AESGCM\" }\n"
	    "smtp { auth-without-tls = yes }\n", &nerr, &errs);
	snprintf(want, sizeof(want), "%s/c.pem", dir);
	ok(c != NULL && nerr == 0, "a tls section loads");
	if (c != NULL) {
		is_str(c->tls.cert, want, "cert: relative to the config");
		ok(c->tls.key != NULL && strstr(c->tls.key, "/k.pem") != NULL,
		    "key: likewise");
		ok(c->tls.proto_min == 13 && c->tls.proto_max == 13,
		    "protocols TLSv1.3: 1.3 only");
		is_str(c->tls.ciphers, "ECDHE+AESGCM", "ciphers kept");
		ok(c->smtp.auth_without_tls && !c->odmr.auth_without_tls,
		    "auth-without-tls: smtp yes, odmr by default no");
	} else
		diag_lines(errs);
	conf_free(c);
	free(errs);
	c = load_text("notls", BASE, &nerr, &errs);
	ok(c != NULL && c->tls.cert == NULL && c->tls.key == NULL &&
	    c->tls.proto_min == 12 && c->tls.proto_max == 13,
	    "no tls section: no cert, TLS 1.2 to 1.3");
	conf_free(c);
	free(errs);
	expect_error("tls-proto", BASE "tls {\n cert = \"c\" key = \"k\"\n"
	    " protocols = \"SSLv3\"\n}\n", 5, "protocols: bad protocols "
	    "\"SSLv3\"");
	expect_error("tls-nokey", BASE "tls {\n cert = \"c\"\n}\n", 4,
	    "tls: cert and key go together (key is missing)");
	expect_error("tls-bool", BASE "odmr { auth-without-tls = \"maybe\" "
	    "}\n", 3, "auth-without-tls: bad boolean");
	c = load_text("tlsp", BASE "customer \"a\" { release = {\"etrn\"} "
	    "deliver-to = {\"h\"} }\ncustomer \"b\" { release = {\"etrn\"} "
	    "deliver-to = {\"h\"} tls-policy = \"verify\" tls-ca = \"ca.pem\" "
	    "tls-name = \"mx.b.example\" }\ncustomer \"c\" { release = "
	    "{\"etrn\"} deliver-to = {\"h\"} tls-policy = \"none\" }\n",
	    &nerr, &errs);
	ok(c != NULL && nerr == 0 && c->ncustomers == 3, "tls-policy loads");
	if (c != NULL && c->ncustomers == 3) {
		ok(c->customers[0].tls_policy == TLSP_MAY &&
		    c->customers[0].tls_ca == NULL &&
		    c->customers[0].tls_name == NULL,
		    "tls-policy: may by default, the system's CAs");
		snprintf(want, sizeof(want), "%s/ca.pem", dir);
		ok(c->customers[1].tls_policy == TLSP_VERIFY,
		    "tls-policy verify");
		is_str(c->customers[1].tls_ca, want,
		    "tls-ca: relative to the config");
		is_str(c->customers[1].tls_name, "mx.b.example", "tls-name");
		ok(c->customers[2].tls_policy == TLSP_NONE, "tls-policy none");
	} else
		diag_lines(errs);
	conf_free(c);
	free(errs);
	expect_error("tlsp-bad", BASE "customer \"a\" {\n release = "
	    "{\"etrn\"}\n tls-policy = \"secure\"\n}\n", 5,
	    "tls-policy: bad tls-policy \"secure\" (none, may, encrypt or "
	    "verify)");
	ok(tls_policy_parse("encrypt") == TLSP_ENCRYPT &&
	    tls_policy_parse("Verify") == -1 && tls_policy_parse("") == -1,
	    "tls_policy_parse: the four names, exactly");
	ok(tls_proto_parse("TLSv1.2, TLSv1.3", &lo, &hi) == 0 && lo == 12 &&
	    hi == 13, "tls_proto_parse: both, comma and space");
	ok(tls_proto_parse("tlsv1.2", &lo, &hi) == 0 && lo == 12 && hi == 12,
	    "tls_proto_parse: any case");
	ok(tls_proto_parse("", &lo, &hi) == -1 &&
	    tls_proto_parse("TLSv1.1", NULL, NULL) == -1 &&
	    tls_proto_parse("TLSv1.2 junk", NULL, NULL) == -1,
	    "tls_proto_parse: empty, TLS 1.1 and junk refused");
}

static void
test_check(void)
{
	struct bridge_conf *c;
	const char *conf;
	char *errs = NULL;
	size_t len = 0;
	FILE *mem;
	int n;

	write_file("r", "acme.example acme\n");
	write_file("s600", "secret\n");
	write_file("s640", "secret\n");
	write_file("s700", "secret\n");
	write_file("sempty", "\n");
	chmod(path_of("s600"), 0600);
	chmod(path_of("s640"), 0640);
	chmod(path_of("s700"), 0700);
	chmod(path_of("sempty"), 0400);
	conf = write_file("check.conf", BASE
	    "customer \"acme\" { release = {\"odmr\"} secret = \"s600\" }\n");
	is_int(conf_check(conf, stderr), 0, "secret mode 0600 passes");
	conf = write_file("check.conf", BASE
	    "customer \"acme\" { release = {\"odmr\"} secret = \"s640\" }\n"
	    "customer \"b\" { release = {\"odmr\"} secret = \"s700\" }\n"
	    "customer \"c\" { release = {\"odmr\"} secret = \"sempty\" }\n"
	    "customer \"d\" { release = {\"odmr\"} secret = \"nope\" }\n");
	mem = open_memstream(&errs, &len);
	n = conf_check(conf, mem);
	fclose(mem);
	is_int(n, 4, "four secret problems");
	ok(errs != NULL && strstr(errs, "check.conf:3: secret file ") != NULL
	    && strstr(errs, "s640: mode 0640, must be 0600 or stricter") !=
	    NULL, "group-readable secret refused");
	ok(errs != NULL && strstr(errs, "s700: mode 0700") != NULL,
	    "executable secret refused");
	ok(errs != NULL && strstr(errs, "check.conf:5: secret file ") != NULL
	    && strstr(errs, "sempty: first line is empty") != NULL,
	    "empty secret refused");
	ok(errs != NULL && strstr(errs, "check.conf:6: secret file ") != NULL,
	    "missing secret refused");
	diag_lines(errs);
	free(errs);
	c = conf_load(conf, NULL, &n);
	ok(c != NULL && n == 0, "conf_load itself does not look at secrets");
	conf_free(c);
}

static void
test_builtin(void)
{
	struct bridge_conf *c;
	struct customer *cu;
	struct route_result res;
	char cwd[512], want[600];
	int nerr = -1;

	unsetenv("BRIDGE_SPOOL");
	c = conf_load(CONF_BUILTIN, stderr, &nerr);
	ok(c != NULL && nerr == 0, "builtin config loads");
	if (c == NULL)
		return;
	getcwd(cwd, sizeof(cwd));
	snprintf(want, sizeof(want), "%s/run/spool", cwd);
	is_str(c->spool, want, "builtin spool is <cwd>/run/spool");
	is_str(c->file, "builtin", "file is builtin");
	ok(c->user == NULL, "builtin: no user");
	ok(c->smtp.l.nlisten == 1 && strcmp(c->smtp.l.listen[0],
	    "127.0.0.1:2525") == 0, "builtin smtp listen");
	snprintf(want, sizeof(want), "unix:%s/run/sock/lmtp.sock", cwd);
	ok(c->lmtp.l.nlisten == 1 && strcmp(c->lmtp.l.listen[0], want) == 0,
	    "builtin lmtp socket beside the spool");
	ok(c->odmr.l.nlisten == 1 && strcmp(c->odmr.l.listen[0],
	    "127.0.0.1:3366") == 0, "builtin odmr listen");
	is_int(c->queue.min_free, 10 << 20, "builtin min-free 10M");
	cu = conf_customer(c, "demo");
	ok(cu != NULL && cu->release == (REL_ETRN | REL_ODMR) &&
	    cu->ndeliver_to == 1 && strcmp(cu->deliver_to[0],
	    "127.0.0.1:2526") == 0 && cu->netrn_from == 2,
	    "builtin customer demo");
	routes_lookup(c->routes, "x.demo.example", &res);
	ok(res.kind == ROUTE_CUSTOMER && strcmp(res.customer, "demo") == 0,
	    "builtin route .demo.example");
	routes_lookup(c->routes, "blocked.demo.example", &res);
	ok(res.kind == ROUTE_ERROR && res.code == 550 &&
	    strcmp(res.text, "this domain takes no mail") == 0,
	    "builtin blocked.demo.example");
	is_str(res.file, "builtin", "builtin routes file name");
	conf_free(c);
	setenv("BRIDGE_SPOOL", "/srv/sp\"ool", 1);
	c = conf_load(CONF_BUILTIN, stderr, &nerr);
	ok(c != NULL && strcmp(c->spool, "/srv/sp\"ool") == 0,
	    "BRIDGE_SPOOL, quotes and all");
	conf_free(c);
	setenv("BRIDGE_SPOOL", "rel/sp", 1);
	c = conf_load(CONF_BUILTIN, stderr, &nerr);
	snprintf(want, sizeof(want), "%s/rel/sp", cwd);
	ok(c != NULL && strcmp(c->spool, want) == 0,
	    "relative BRIDGE_SPOOL made absolute");
	conf_free(c);
	unsetenv("BRIDGE_SPOOL");
}

static void
sa4(struct sockaddr_storage *ss, const char *a)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	inet_pton(AF_INET, a, &s->sin_addr);
}

static void
sa6(struct sockaddr_storage *ss, const char *a)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin6_family = AF_INET6;
	inet_pton(AF_INET6, a, &s->sin6_addr);
}

static void
test_cidr(void)
{
	struct sockaddr_storage ss;
	struct sockaddr *sa = (struct sockaddr *)&ss;
	struct cidr c, list[2];
	struct customer cu;
	char host[64];
	socklen_t sl;
	int port;

	ok(cidr_parse("203.0.113.0/24", &c) == 0 && c.family == AF_INET &&
	    c.bits == 24, "v4 CIDR");
	ok(cidr_parse("127.0.0.1", &c) == 0 && c.bits == 32, "v4 host");
	ok(cidr_parse("2001:db8::/32", &c) == 0 && c.family == AF_INET6 &&
	    c.bits == 32, "v6 CIDR");
	ok(cidr_parse("::1", &c) == 0 && c.bits == 128, "v6 host");
	ok(cidr_parse("0.0.0.0/0", &c) == 0 && c.bits == 0, "v4 everything");
	ok(cidr_parse("10.0.0.0/33", &c) == -1, "/33 refused");
	ok(cidr_parse("::/129", &c) == -1, "/129 refused");
	ok(cidr_parse("10.0.0.1/8", &c) == -1, "host bits set refused");
	ok(cidr_parse("10.0.0.0/", &c) == -1, "empty bits refused");
	ok(cidr_parse("10.0.0.0/+8", &c) == -1, "signed bits refused");
	ok(cidr_parse("10.0.0/8", &c) == -1, "short v4 refused");
	ok(cidr_parse("example.com", &c) == -1, "name refused");

	cidr_parse("203.0.113.0/24", &c);
	sa4(&ss, "203.0.113.77");
	ok(cidr_match(&c, sa), "v4 in v4 range");
	sa4(&ss, "203.0.114.1");
	ok(!cidr_match(&c, sa), "v4 outside v4 range");
	sa6(&ss, "::ffff:203.0.113.9");
	ok(cidr_match(&c, sa), "v4-mapped v6 in v4 range");
	sa6(&ss, "::ffff:198.51.100.1");
	ok(!cidr_match(&c, sa), "v4-mapped v6 outside v4 range");
	sa6(&ss, "2001:db8::1");
	ok(!cidr_match(&c, sa), "v6 not in v4 range");
	cidr_parse("2001:db8::/33", &c);
	ok(cidr_match(&c, sa), "v6 in v6 /33");
	sa6(&ss, "2001:db8:8000::1");
	ok(!cidr_match(&c, sa), "v6 outside v6 /33");
	cidr_parse("::ffff:10.0.0.0/104", &c);
	sa4(&ss, "10.1.2.3");
	ok(cidr_match(&c, sa), "v4 in v4-mapped v6 range");

	memset(&cu, 0, sizeof(cu));
	cidr_parse("192.0.2.0/25", &list[0]);
	cidr_parse("::1", &list[1]);
	cu.etrn_from = list;
	cu.netrn_from = 2;
	sa4(&ss, "192.0.2.100");
	ok(conf_client_allowed(&cu, sa), "client allowed");
	sa4(&ss, "192.0.2.200");
	ok(!conf_client_allowed(&cu, sa), "client not allowed");
	sa6(&ss, "::1");
	ok(conf_client_allowed(&cu, sa), "v6 loopback allowed");
	cu.netrn_from = 0;
	ok(!conf_client_allowed(&cu, sa), "empty list allows nobody");

	ok(conf_listen_parse("127.0.0.1:25", &ss, &sl) == 0 &&
	    ss.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&ss)->
	    sin_port) == 25, "listen v4");
	ok(conf_listen_parse("[::]:366", &ss, &sl) == 0 &&
	    ss.ss_family == AF_INET6, "listen v6");
	ok(conf_listen_parse("unix:/run/bridge/lmtp", &ss, &sl) == 0 &&
	    ss.ss_family == AF_UNIX && strcmp(((struct sockaddr_un *)&ss)->
	    sun_path, "/run/bridge/lmtp") == 0, "listen unix");
	ok(conf_listen_parse("localhost:25", &ss, &sl) == -1,
	    "listen needs an address");
	ok(conf_listen_parse("127.0.0.1:0", &ss, &sl) == -1, "port 0 refused");
	ok(conf_listen_parse("127.0.0.1", &ss, &sl) == -1, "port required");
	ok(conf_listen_parse("::1:25", &ss, &sl) == -1, "v6 needs brackets");
	ok(conf_hostport("mail.example:2525", host, sizeof(host), &port) == 0
	    && strcmp(host, "mail.example") == 0 && port == 2525, "hostport");
	ok(conf_hostport("[2001:db8::1]:25", host, sizeof(host), &port) == 0
	    && strcmp(host, "2001:db8::1") == 0 && port == 25, "hostport v6");
	ok(conf_hostport("mail.example:x", host, sizeof(host), &port) == -1,
	    "hostport bad port");
	ok(conf_hostport(":25", host, sizeof(host), &port) == -1,
	    "hostport empty host");
}

/* the control socket's peers entries and what each role may ask */
static void
test_ctlrole(void)
{
	struct ctl_grant g;
	char who[64], cust[64];
	enum ctl_role r;

	ok(ctl_peer_parse("alice:operator", who, sizeof(who), &r, cust,
	    sizeof(cust)) == 0 && strcmp(who, "alice") == 0 &&
	    r == CTL_OPERATOR && cust[0] == '\0', "alice:operator");
	ok(ctl_peer_parse("%www-data:viewer", who, sizeof(who), &r, NULL,
	    0) == 0 && strcmp(who, "%www-data") == 0 && r == CTL_VIEWER,
	    "%%www-data:viewer: a group");
	ok(ctl_peer_parse("bob:customer:acme", who, sizeof(who), &r, cust,
	    sizeof(cust)) == 0 && r == CTL_CUSTOMER &&
	    strcmp(cust, "acme") == 0, "bob:customer:acme");
	ok(ctl_peer_parse("bob:customer:../x", NULL, 0, NULL, NULL, 0) == -1,
	    "a customer name with a path: refused");
	ok(ctl_peer_parse("bob:admin", NULL, 0, NULL, NULL, 0) == -1,
	    "an unknown role: refused");
	ok(ctl_peer_parse(":viewer", NULL, 0, NULL, NULL, 0) == -1 &&
	    ctl_peer_parse("%:viewer", NULL, 0, NULL, NULL, 0) == -1 &&
	    ctl_peer_parse("bob", NULL, 0, NULL, NULL, 0) == -1,
	    "no name, an empty group, no role: refused");
	memset(&g, 0, sizeof(g));
	ok(ctl_may(&g, "status", NULL) != NULL, "no role: not even status");
	g.role = CTL_VIEWER;
	ok(ctl_may(&g, "status", NULL) == NULL &&
	    ctl_may(&g, "flush", "acme") != NULL, "viewer: status, no flush");
	g.role = CTL_CUSTOMER;
	g.ncust = 1;
	strlcpy_(g.cust[0], "acme", sizeof(g.cust[0]));
	ok(ctl_may(&g, "flush", "acme") == NULL &&
	    ctl_may(&g, "bundle", "acme") == NULL &&
	    ctl_may(&g, "flush", "ship") != NULL &&
	    ctl_may(&g, "status", NULL) != NULL,
	    "customer:acme: its own flush and bundle only");
	g.role = CTL_OPERATOR;
	ok(ctl_may(&g, "flush", "ship") == NULL &&
	    ctl_may(&g, "delete", "ship") != NULL,
	    "operator: everything known, nothing unknown");
	ctl_grant(&(struct bridge_conf){ 0 }, 0, 0, 12345, &g);
	ok(g.role == CTL_OPERATOR, "root is an operator");
	ctl_grant(&(struct bridge_conf){ 0 }, 12345, 12345, 12345, &g);
	ok(g.role == CTL_OPERATOR, "so is the hub's user");
	ctl_grant(&(struct bridge_conf){ 0 }, 54321, 54321, 12345, &g);
	ok(g.role == CTL_NONE, "anyone else, without peers: nothing");
}

int
main(void)
{
	char path[300];
	int i, n;

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	test_defaults();
	test_full();
	test_errors();
	test_check();
	test_tls();
	test_limits();
	test_builtin();
	test_cidr();
	test_ctlrole();
	for (i = 0; i < nwritten; i++) {
		n = snprintf(path, sizeof(path), "%s/%s", dir, written[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		unlink(path);
	}
	rmdir(dir);
	return done_testing();
}
