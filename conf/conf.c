/*
 * conf.c - bridge.conf (bridge.conf(5)) read with libconfuse into the
 * plain structs of conf.h, plus the routes table and recipient lists it
 * names.  See conf.h.
 *
 * Every option is a string in libconfuse (CFGF_NODEFAULT: defaults are
 * applied here, after parsing) with one parse callback that records the
 * option's line and validates the value by kind, reporting a bad value
 * as "file:line: key: message" and letting the parse go on, so a load
 * reports every problem libconfuse lets it reach.  libconfuse's own
 * messages (unknown key, duplicate customer, syntax) are routed through
 * cfg_set_error_function and reworded; they end the parse.
 *
 * Relative paths in a config file are taken relative to the directory
 * of that file as it was named (so a relative -c keeps them relative).
 * The text is read and stripped of comments first (conf_text.c);
 * conf_check.c adds the operator's checks; conf_builtin.c holds the
 * embedded default.
 *
 * The callbacks see the load in progress through one static pointer:
 * loads must not run concurrently (the hub loads from one thread).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <confuse.h>

#include "addr.h"
#include "conf.h"
#include "conf_int.h"
#include "diag.h"
#include "log.h"
#include "rcptlist.h"
#include "routes.h"
#include "ctlrole.h"
#include "util.h"

enum vkind {
	V_STR, V_PATH, V_NAME, V_HOST, V_ADDR, V_SIZE, V_DUR, V_INT, V_COUNT,
	V_BOOL, V_LISTEN, V_CIDR, V_RELEASE, V_DELIVER, V_GRADE, V_ARGV,
	V_RELAY, V_PEER, V_TLSPROTO, V_TLSPOLICY
};

static const struct {
	const char *name;
	enum vkind kind;
} kinds[] = {
	{ "hostname", V_HOST }, { "spool", V_PATH }, { "routes", V_PATH },
	{ "user", V_STR }, { "postmaster", V_ADDR }, { "pidfile", V_PATH },
	{ "session-user", V_STR }, { "session-chroot", V_PATH },
	{ "lookup-user", V_STR },
	{ "listen", V_LISTEN }, { "max-clients", V_INT },
	{ "max-size", V_SIZE }, { "max-recipients", V_INT },
	{ "timeout", V_DUR }, { "min-free", V_SIZE },
	{ "warn-after", V_DUR }, { "expire-after", V_DUR },
	{ "release", V_RELEASE }, { "deliver-to", V_DELIVER },
	{ "etrn-from", V_CIDR }, { "secret", V_PATH }, { "quota", V_SIZE },
	{ "recipients", V_PATH }, { "retry", V_DUR },
	{ "flush-connections", V_INT },
	{ "flush-connections-max", V_INT }, { "bundle-max", V_SIZE },
	{ "bundle-delay", V_DUR }, { "uucp-node", V_NAME },
	{ "uucp-command", V_NAME }, { "uucp-grade", V_GRADE },
	{ "uux", V_ARGV }, { "uucp-call", V_BOOL }, { "relayhost", V_RELAY },
	{ "group", V_NAME }, { "peers", V_PEER },
	{ "cert", V_PATH }, { "key", V_PATH }, { "ciphers", V_STR },
	{ "protocols", V_TLSPROTO }, { "auth-without-tls", V_BOOL },
	{ "min-data-rate", V_SIZE }, { "max-session-time", V_DUR },
	{ "max-per-client", V_COUNT }, { "max-per-network", V_COUNT },
	{ "limits-exempt", V_CIDR }, { "auth-failures", V_COUNT },
	{ "auth-lockout", V_DUR }, { "etrn-per-minute", V_COUNT },
	{ "tls-policy", V_TLSPOLICY }, { "tls-ca", V_PATH },
	{ "tls-name", V_HOST },
};

/* Where each option was last set, and where each customer starts. */
struct optline {
	cfg_t  *sec;
	const char *name;
	int	line;
};

struct lctx {
	struct diag *d;
	const char *file;		/* name used in messages */
	cfg_t  *root;
	struct optline *lines;
	size_t	nlines, caplines;
};

static struct lctx *cur;		/* the load in progress */

static int parse_cb(cfg_t *, cfg_opt_t *, const char *, void *);

#define S(n)	CFG_STR_CB(n, NULL, CFGF_NODEFAULT, parse_cb)
#define L(n)	CFG_STR_LIST_CB(n, NULL, CFGF_NODEFAULT, parse_cb)

static cfg_opt_t smtp_opts[] = {
	L("listen"), S("max-clients"), S("max-size"), S("max-recipients"),
	S("timeout"), S("auth-without-tls"), S("min-data-rate"),
	S("max-session-time"), S("max-per-client"), S("max-per-network"),
	L("limits-exempt"), S("auth-failures"), S("auth-lockout"),
	S("etrn-per-minute"), CFG_END()
};
static cfg_opt_t tls_opts[] = {
	S("cert"), S("key"), S("ciphers"), S("protocols"), CFG_END()
};
static cfg_opt_t lmtp_opts[] = {
	L("listen"), S("max-clients"), S("timeout"), S("group"), CFG_END()
};
static cfg_opt_t enqueue_opts[] = {
	L("listen"), S("group"), CFG_END()
};
static cfg_opt_t control_opts[] = {
	L("listen"), S("group"), L("peers"), CFG_END()
};
static cfg_opt_t odmr_opts[] = {
	L("listen"), S("timeout"), S("auth-without-tls"), CFG_END()
};
static cfg_opt_t queue_opts[] = {
	S("min-free"), S("warn-after"), S("expire-after"), CFG_END()
};
static cfg_opt_t customer_opts[] = {
	L("release"), L("deliver-to"), L("etrn-from"), S("secret"),
	S("quota"), S("max-size"), S("recipients"), S("retry"),
	S("warn-after"), S("expire-after"), S("flush-connections"),
	S("flush-connections-max"), S("bundle-max"), S("bundle-delay"), S("uucp-node"),
	S("uucp-command"), S("uucp-grade"), L("uux"), S("uucp-call"),
	S("tls-policy"), S("tls-ca"), S("tls-name"), CFG_END()
};
static cfg_opt_t top_opts[] = {
	S("hostname"), S("spool"), S("routes"), S("user"), S("postmaster"),
	S("pidfile"), S("relayhost"), S("session-user"), S("session-chroot"),
	S("lookup-user"),
	CFG_SEC("smtp", smtp_opts, CFGF_NONE),
	CFG_SEC("lmtp", lmtp_opts, CFGF_NONE),
	CFG_SEC("odmr", odmr_opts, CFGF_NONE),
	CFG_SEC("enqueue", enqueue_opts, CFGF_NONE),
	CFG_SEC("control", control_opts, CFGF_NONE),
	CFG_SEC("queue", queue_opts, CFGF_NONE),
	CFG_SEC("tls", tls_opts, CFGF_NONE),
	CFG_SEC("customer", customer_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

/* ---- where things are ---- */

static void
note_line(struct lctx *x, cfg_t *sec, const char *name, int line)
{
	struct optline *nl;
	size_t i;

	for (i = 0; i < x->nlines; i++)
		if (x->lines[i].sec == sec && strcmp(x->lines[i].name, name)
		    == 0) {
			x->lines[i].line = line;
			return;
		}
	if (x->nlines == x->caplines) {
		size_t cap = x->caplines ? x->caplines * 2 : 64;

		if ((nl = realloc(x->lines, cap * sizeof(*nl))) == NULL)
			return;
		x->lines = nl;
		x->caplines = cap;
	}
	x->lines[x->nlines].sec = sec;
	x->lines[x->nlines].name = name;
	x->lines[x->nlines].line = line;
	x->nlines++;
}

/* line_of - line where sec's option name was set, or 0. */
static int
line_of(const struct lctx *x, cfg_t *sec, const char *name)
{
	size_t i;

	for (i = 0; i < x->nlines; i++)
		if (x->lines[i].sec == sec && strcmp(x->lines[i].name, name)
		    == 0)
			return x->lines[i].line;
	return 0;
}

/*
 * section_line - the line a section starts on.  While a section is
 * parsed libconfuse leaves the parent's line counter at the section's
 * opening brace, so the first option seen inside records it (under the
 * name ""); a section with no options falls back to its closing line.
 */
static int
section_line(const struct lctx *x, cfg_t *sec)
{
	int line = line_of(x, sec, "");

	return line > 0 ? line : sec->line;
}

/* ---- value validation ---- */

static enum vkind
kind_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].name, name) == 0)
			return kinds[i].kind;
	return V_STR;
}

static int
int_parse(const char *s, long max, long *out)
{
	char *end;
	long n;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > max)
		return -1;
	*out = n;
	return 0;
}

static int
bool_parse(const char *s, int *out)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
	    strcasecmp(s, "on") == 0)
		*out = 1;
	else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "off") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
host_ok(const char *h)
{
	char buf[ADDR_PATH_MAX + 8];
	struct addr a;
	const char *why;

	if (snprintf(buf, sizeof(buf), "x@%s", h) >= (int)sizeof(buf))
		return 0;
	return addr_parse_plain(buf, 0, &a, &why) == ADDR_OK;
}

/* deliver_ok - "peer", "mx", "host", "host:port" or "[v6]:port". */
static int
deliver_ok(const char *s)
{
	char host[ADDR_DOMAIN_MAX + 1];
	struct cidr c;
	int port;

	if (strcmp(s, "peer") == 0 || strcmp(s, "mx") == 0)
		return 1;
	if (strchr(s, ':') == NULL)
		return host_ok(s);
	if (conf_hostport(s, host, sizeof(host), &port) == -1)
		return 0;
	if (s[0] == '[')
		return strchr(host, ':') != NULL && cidr_parse(host, &c) == 0;
	return host_ok(host);
}

static unsigned
release_bit(const char *s)
{
	if (strcmp(s, "etrn") == 0)
		return REL_ETRN;
	if (strcmp(s, "odmr") == 0)
		return REL_ODMR;
	if (strcmp(s, "uucp") == 0)
		return REL_UUCP;
	if (strcmp(s, "ssh") == 0)
		return REL_SSH;
	return 0;
}

int
tls_policy_parse(const char *s)
{
	static const char *const names[] = { "none", "may", "encrypt",
	    "verify" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;	/* TLSP_NONE ... TLSP_VERIFY */
	return -1;
}

/*
 * tls_proto_parse - "TLSv1.2", "TLSv1.3" or both (space or comma
 * separated, any order) into the lowest and highest, as 12 and 13;
 * -1 for anything else (TLS 1.0 and 1.1 are not taken).
 */
int
tls_proto_parse(const char *s, int *min, int *max)
{
	char buf[64], *p, *save = NULL;
	int lo = 99, hi = 0, v;

	if (strlcpy_(buf, s, sizeof(buf)) >= sizeof(buf))
		return -1;
	for (p = strtok_r(buf, " ,", &save); p != NULL;
	    p = strtok_r(NULL, " ,", &save)) {
		if (strcasecmp(p, "TLSv1.2") == 0)
			v = 12;
		else if (strcasecmp(p, "TLSv1.3") == 0)
			v = 13;
		else
			return -1;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (hi == 0)
		return -1;
	if (min != NULL)
		*min = lo;
	if (max != NULL)
		*max = hi;
	return 0;
}

/* check_value - validate one value of option name; a message or NULL. */
static const char *
check_value(const char *name, const char *v, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct cidr c;
	struct addr a;
	const char *why;
	uint64_t sz;
	long n;
	int b;

	switch (kind_of(name)) {
	case V_STR:
		return NULL;
	case V_PATH:
	case V_ARGV:
		return *v == '\0' ? "empty value" : NULL;
	case V_NAME:
		if (name_is_safe(v))
			return NULL;
		snprintf(buf, len, "bad name \"%s\" (letters, digits, '.', "
		    "'_', '-')", v);
		return buf;
	case V_HOST:
		if (host_ok(v))
			return NULL;
		snprintf(buf, len, "bad host name \"%s\"", v);
		return buf;
	case V_ADDR:
		if (addr_parse_plain(v, 0, &a, &why) == ADDR_OK)
			return NULL;
		snprintf(buf, len, "bad address \"%s\": %s", v, why);
		return buf;
	case V_SIZE:
		if (size_parse(v, &sz) == 0)
			return NULL;
		snprintf(buf, len, "bad size \"%s\" (a number with K, M, G or "
		    "T)", v);
		return buf;
	case V_DUR:
		if (duration_parse(v, &n) == 0)
			return NULL;
		snprintf(buf, len, "bad duration \"%s\" (a number with s, m, "
		    "h, d or w)", v);
		return buf;
	case V_COUNT:
		if (strcmp(v, "0") == 0 || int_parse(v, 1000000, &n) == 0)
			return NULL;
		snprintf(buf, len, "bad number \"%s\" (0 to 1000000; 0: "
		    "off)", v);
		return buf;
	case V_INT:
		if (int_parse(v, 1000000, &n) == 0)
			return NULL;
		snprintf(buf, len, "bad number \"%s\" (1 to 1000000)", v);
		return buf;
	case V_BOOL:
		if (bool_parse(v, &b) == 0)
			return NULL;
		snprintf(buf, len, "bad boolean \"%s\" (true or false)", v);
		return buf;
	case V_PEER:
		if (ctl_peer_parse(v, NULL, 0, NULL, NULL, 0) == 0)
			return NULL;
		snprintf(buf, len, "bad peer \"%s\" (user:role or %%group:role; "
		    "role operator, viewer or customer:NAME)", v);
		return buf;
	case V_LISTEN:
		if (conf_listen_parse(v, &ss, &sl) == 0)
			return NULL;
		snprintf(buf, len, "bad listen address \"%s\" (a.b.c.d:port, "
		    "[v6]:port or unix:/path)", v);
		return buf;
	case V_CIDR:
		if (cidr_parse(v, &c) == 0)
			return NULL;
		snprintf(buf, len, "bad CIDR \"%s\"", v);
		return buf;
	case V_RELEASE:
		if (release_bit(v) != 0)
			return NULL;
		snprintf(buf, len, "unknown release method \"%s\" (etrn, "
		    "odmr, uucp or ssh)", v);
		return buf;
	case V_DELIVER:
		if (deliver_ok(v))
			return NULL;
		snprintf(buf, len, "bad destination \"%s\" (host:port, "
		    "\"peer\" or \"mx\")", v);
		return buf;
	case V_RELAY:
		if (strcmp(v, "peer") != 0 && strcmp(v, "mx") != 0 &&
		    deliver_ok(v))
			return NULL;
		snprintf(buf, len, "bad relay host \"%s\" (host, host:port or "
		    "[v6]:port)", v);
		return buf;
	case V_TLSPROTO:
		if (tls_proto_parse(v, NULL, NULL) == 0)
			return NULL;
		snprintf(buf, len, "bad protocols \"%s\" (TLSv1.2, TLSv1.3 or "
		    "\"TLSv1.2 TLSv1.3\"; older ones are not taken)", v);
		return buf;
	case V_TLSPOLICY:
		if (tls_policy_parse(v) != -1)
			return NULL;
		snprintf(buf, len, "bad tls-policy \"%s\" (none, may, encrypt "
		    "or verify)", v);
		return buf;
	case V_GRADE:
		if (strlen(v) == 1 && isalnum((unsigned char)v[0]))
			return NULL;
		snprintf(buf, len, "bad grade \"%s\" (one letter or digit)", v);
		return buf;
	}
	return NULL;
}

/* parse_cb - every value of every option passes here while parsing. */
static int
parse_cb(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	struct lctx *x = cur;
	const char *msg;
	char buf[512];

	*(const char **)result = value;
	if (x == NULL || value == NULL)
		return 0;
	if (cfg != x->root && line_of(x, cfg, "") == 0)
		note_line(x, cfg, "", x->root->line);
	note_line(x, cfg, opt->name, cfg->line);
	if ((msg = check_value(opt->name, value, buf, sizeof(buf))) != NULL)
		diag_add(x->d, x->file, cfg->line, "%s: %s", opt->name, msg);
	return 0;
}

/* where - " in section smtp" or " in customer \"acme\"" for messages. */
static void
where(const struct lctx *x, cfg_t *cfg, char *buf, size_t len)
{
	if (cfg == x->root || cfg->name == NULL)
		buf[0] = '\0';
	else if (cfg->title != NULL)
		snprintf(buf, len, " in %s \"%s\"", cfg->name, cfg->title);
	else
		snprintf(buf, len, " in section %s", cfg->name);
}

/* first_customer_line - where the customer called title was defined. */
static int
first_customer_line(const struct lctx *x, const char *title)
{
	cfg_t *sec;
	unsigned i, n = cfg_size(x->root, "customer");

	for (i = 0; i < n; i++) {
		sec = cfg_getnsec(x->root, "customer", i);
		if (sec != NULL && sec->title != NULL &&
		    strcmp(sec->title, title) == 0)
			return section_line(x, sec);
	}
	return 0;
}

/* err_cb - libconfuse's own messages, reworded, with our file name. */
static void
err_cb(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct lctx *x = cur;
	char msg[512], name[256], in[300];
	int first;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (x == NULL)
		return;
	where(x, cfg, in, sizeof(in));
	if (sscanf(msg, "no such option '%255[^']'", name) == 1) {
		diag_add(x->d, x->file, cfg->line, "unknown key or section "
		    "\"%s\"%s", name, in);
	} else if (sscanf(msg, "found duplicate title '%255[^']'", name) ==
	    1) {
		first = first_customer_line(x, name);
		if (first > 0)
			diag_add(x->d, x->file, cfg->line, "duplicate "
			    "customer \"%s\" (first at line %d)", name, first);
		else
			diag_add(x->d, x->file, cfg->line, "duplicate "
			    "customer \"%s\"", name);
	} else {
		diag_add(x->d, x->file, cfg->line, "%s%s", msg, in);
	}
}

/* ---- building the structs ---- */

/* resolve - path relative to dir (the config file's); malloc'ed. */
static char *
resolve(const char *dir, const char *path)
{
	char *out;

	if (path[0] == '/' || dir == NULL)
		return strdup(path);
	if (asprintf(&out, "%s/%s", dir, path) == -1)
		return NULL;
	return out;
}

/* absolute - path made absolute against the working directory. */
static char *
absolute(char *path)
{
	char cwd[PATH_MAX], *out;

	if (path == NULL || path[0] == '/')
		return path;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return path;
	if (strcmp(path, ".") == 0 ? (out = strdup(cwd)) == NULL :
	    asprintf(&out, "%s/%s", cwd, path) == -1)
		return path;
	free(path);
	return out;
}

static char *
dup_or(const char *s, const char *def)
{
	if (s == NULL)
		s = def;
	return s != NULL ? strdup(s) : NULL;
}

static long
get_dur(cfg_t *sec, const char *name, long def)
{
	const char *s = cfg_getstr(sec, name);
	long n;

	return s != NULL && duration_parse(s, &n) == 0 ? n : def;
}

static uint64_t
get_size(cfg_t *sec, const char *name, uint64_t def)
{
	const char *s = cfg_getstr(sec, name);
	uint64_t n;

	return s != NULL && size_parse(s, &n) == 0 ? n : def;
}

static long
get_int(cfg_t *sec, const char *name, long def)
{
	const char *s = cfg_getstr(sec, name);
	long n;

	return s != NULL && int_parse(s, 1000000, &n) == 0 ? n : def;
}

/* get_count - a V_COUNT option (0 allowed: off), def when not set. */
static long
get_count(cfg_t *sec, const char *name, long def)
{
	const char *s = cfg_getstr(sec, name);

	return s != NULL && strcmp(s, "0") == 0 ? 0 : get_int(sec, name, def);
}

/* get_list - a copy of a string list; *n gets its length. */
static char **
get_list(cfg_t *sec, const char *name, int *n)
{
	unsigned i, k = cfg_size(sec, name);
	char **v;

	*n = 0;
	if ((v = calloc(k + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < k; i++)
		if ((v[i] = strdup(cfg_getnstr(sec, name, i))) == NULL)
			break;
	*n = (int)i;
	return v;
}

static void
free_list(char **v, int n)
{
	int i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
get_listeners(cfg_t *sec, struct listeners *l)
{
	l->listen = get_list(sec, "listen", &l->nlisten);
}

static void
deliver_list(struct lctx *x, cfg_t *sec, struct customer *cu)
{
	unsigned i, n = cfg_size(sec, "deliver-to");
	const char *v;
	char *s;

	cu->deliver_mode = DELIVER_PEER;
	if (n == 0)
		return;
	v = cfg_getnstr(sec, "deliver-to", 0);
	if (n == 1 && (strcmp(v, "peer") == 0 || strcmp(v, "mx") == 0)) {
		cu->deliver_mode = v[0] == 'p' ? DELIVER_PEER : DELIVER_MX;
		return;
	}
	cu->deliver_mode = DELIVER_HOSTS;
	if ((cu->deliver_to = calloc(n + 1, sizeof(char *))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		v = cfg_getnstr(sec, "deliver-to", i);
		if (strcmp(v, "peer") == 0 || strcmp(v, "mx") == 0) {
			diag_add(x->d, x->file, line_of(x, sec, "deliver-to"),
			    "deliver-to: \"%s\" must be the only entry", v);
			continue;
		}
		s = NULL;
		if (strchr(v, ':') != NULL)
			s = strdup(v);
		else if (asprintf(&s, "%s:25", v) == -1)
			s = NULL;
		if (s != NULL)
			cu->deliver_to[cu->ndeliver_to++] = s;
	}
}

static void
cidr_list(cfg_t *sec, struct customer *cu)
{
	unsigned i, n = cfg_size(sec, "etrn-from");

	if ((cu->etrn_from = calloc(n + 1, sizeof(struct cidr))) == NULL)
		return;
	for (i = 0; i < n; i++)
		if (cidr_parse(cfg_getnstr(sec, "etrn-from", i),
		    &cu->etrn_from[cu->netrn_from]) == 0)
			cu->netrn_from++;
}

/* load_rcpts - the customer's recipients file, if it names one. */
static void
load_rcpts(struct lctx *x, cfg_t *sec, struct customer *cu)
{
	if (cu->recipients == NULL)
		return;
	cu->rcpts = rcptlist_load_diag(cu->recipients, x->d);
	if (cu->rcpts == NULL)
		diag_add(x->d, x->file, line_of(x, sec, "recipients"),
		    "recipients file %s: %s", cu->recipients, strerror(errno));
}

static void
build_customer(struct lctx *x, struct conf_full *cf, cfg_t *sec,
    struct customer *cu, struct cust_priv *cp)
{
	const char *dir = cf->dir, *s;
	unsigned i;
	int line = section_line(x, sec);

	cu->name = strdup(sec->title != NULL ? sec->title : "");
	cu->file = cf->pub.file;
	cu->line = line;
	if (!name_is_safe(cu->name))
		diag_add(x->d, x->file, line, "bad customer name \"%s\" "
		    "(letters, digits, '.', '_', '-'; 1 to 63)", cu->name);
	else if (cu->name[0] == '_')
		diag_add(x->d, x->file, line, "customer name \"%s\": names "
		    "starting with '_' are reserved (_dsn is the queue of "
		    "delivery reports)", cu->name);
	for (i = 0; i < cfg_size(sec, "release"); i++)
		cu->release |= release_bit(cfg_getnstr(sec, "release", i));
	if (cfg_size(sec, "release") == 0)
		diag_add(x->d, x->file, line, "customer \"%s\" has no release "
		    "method (release = {\"etrn\", \"odmr\", \"uucp\", "
		    "\"ssh\"})", cu->name);
	deliver_list(x, sec, cu);
	cidr_list(sec, cu);
	if ((s = cfg_getstr(sec, "secret")) != NULL && *s != '\0') {
		cu->secret = resolve(dir, s);
		cp->secret_line = line_of(x, sec, "secret");
	}
	cu->quota = get_size(sec, "quota", 0);
	cu->max_size = get_size(sec, "max-size", 0);
	if ((s = cfg_getstr(sec, "recipients")) != NULL && *s != '\0')
		cu->recipients = resolve(dir, s);
	cu->retry = get_dur(sec, "retry", 0);
	cu->warn_after = get_dur(sec, "warn-after", 0);
	cu->expire_after = get_dur(sec, "expire-after", 0);
	cu->flush_connections = (int)get_int(sec, "flush-connections", 2);
	cu->flush_connections_max = (int)get_int(sec, "flush-connections-max",
	    cfg_getstr(sec, "flush-connections") != NULL ?
	    cu->flush_connections : 20);
	if (cu->flush_connections > 64 || cu->flush_connections_max > 64)
		diag_add(x->d, x->file, line_of(x, sec,
		    cu->flush_connections > 64 ? "flush-connections" :
		    "flush-connections-max"), "customer \"%s\": "
		    "flush-connections and flush-connections-max are at most "
		    "64", cu->name);
	else if (cu->flush_connections_max < cu->flush_connections)
		diag_add(x->d, x->file, line_of(x, sec,
		    "flush-connections-max"), "customer \"%s\": "
		    "flush-connections-max (%d) is below flush-connections "
		    "(%d)", cu->name, cu->flush_connections_max,
		    cu->flush_connections);
	cu->bundle_max = get_size(sec, "bundle-max", 10ULL << 20);
	cu->bundle_delay = get_dur(sec, "bundle-delay", 300);
	cu->uucp_node = dup_or(cfg_getstr(sec, "uucp-node"), NULL);
	cu->uucp_command = dup_or(cfg_getstr(sec, "uucp-command"), "rgsmtp");
	cu->uucp_grade = dup_or(cfg_getstr(sec, "uucp-grade"), "C");
	if (cfg_size(sec, "uux") > 0) {
		cu->uux = get_list(sec, "uux", &cu->nuux);
	} else if ((cu->uux = calloc(2, sizeof(char *))) != NULL &&
	    (cu->uux[0] = strdup("uux")) != NULL) {
		cu->nuux = 1;
	}
	if ((s = cfg_getstr(sec, "uucp-call")) != NULL)
		(void)bool_parse(s, &cu->uucp_call);
	cu->tls_policy = TLSP_MAY;
	if ((s = cfg_getstr(sec, "tls-policy")) != NULL &&
	    tls_policy_parse(s) != -1)
		cu->tls_policy = tls_policy_parse(s);
	if ((s = cfg_getstr(sec, "tls-ca")) != NULL && *s != '\0')
		cu->tls_ca = resolve(dir, s);
	cu->tls_name = dup_or(cfg_getstr(sec, "tls-name"), NULL);
	if ((cu->release & REL_UUCP) && cu->uucp_node == NULL)
		diag_add(x->d, x->file, line, "customer \"%s\": release uucp "
		    "needs uucp-node", cu->name);
	load_rcpts(x, sec, cu);
}

/*
 * exempt_list - smtp { limits-exempt }: the networks the per-client
 * and per-network limits leave alone; loopback when it is not set
 * (a front MTA on the same machine).
 */
static void
exempt_list(cfg_t *sec, struct bridge_conf *c)
{
	static const char *const loop[] = { "127.0.0.0/8", "::1/128" };
	unsigned i, n = cfg_size(sec, "limits-exempt");
	unsigned k = n > 0 ? n : 2;

	if ((c->smtp.exempt = calloc(k, sizeof(struct cidr))) == NULL)
		return;
	for (i = 0; i < k; i++)
		if (cidr_parse(n > 0 ? cfg_getnstr(sec, "limits-exempt", i) :
		    loop[i], &c->smtp.exempt[c->smtp.nexempt]) == 0)
			c->smtp.nexempt++;
}

/* get_bool - a boolean option, def when it is not set. */
static int
get_bool(cfg_t *sec, const char *name, int def)
{
	const char *s = cfg_getstr(sec, name);
	int b;

	return s != NULL && bool_parse(s, &b) == 0 ? b : def;
}

/*
 * build_tls - tls { cert key ciphers protocols }: cert and key
 * together, relative to the config's directory; TLS 1.2 and 1.3 by
 * default.
 */
static void
build_tls(struct lctx *x, struct conf_full *cf)
{
	struct bridge_conf *c = &cf->pub;
	cfg_t *s = cfg_getsec(x->root, "tls");
	const char *cert = cfg_getstr(s, "cert"), *key = cfg_getstr(s, "key");
	const char *v;

	c->tls.proto_min = 12;
	c->tls.proto_max = 13;
	if ((v = cfg_getstr(s, "protocols")) != NULL)
		(void)tls_proto_parse(v, &c->tls.proto_min, &c->tls.proto_max);
	if ((v = cfg_getstr(s, "ciphers")) != NULL && *v != '\0')
		c->tls.ciphers = strdup(v);
	if ((cert == NULL) != (key == NULL)) {
		diag_add(x->d, x->file, line_of(x, s, cert != NULL ? "cert" :
		    "key"), "tls: cert and key go together (%s is missing)",
		    cert != NULL ? "key" : "cert");
		return;
	}
	if (cert == NULL)
		return;
	c->tls.cert = absolute(resolve(cf->dir, cert));
	c->tls.key = absolute(resolve(cf->dir, key));
}

static void
build_sections(struct bridge_conf *c, cfg_t *root)
{
	const char *v;
	cfg_t *s;

	s = cfg_getsec(root, "smtp");
	get_listeners(s, &c->smtp.l);
	c->smtp.max_clients = (int)get_int(s, "max-clients", 100);
	c->smtp.max_size = get_size(s, "max-size", 50ULL << 20);
	c->smtp.max_recipients = (int)get_int(s, "max-recipients", 100);
	c->smtp.timeout = get_dur(s, "timeout", 300);
	c->smtp.auth_without_tls = get_bool(s, "auth-without-tls", 0);
	c->smtp.min_data_rate = get_size(s, "min-data-rate", 500);
	c->smtp.max_session_time = get_dur(s, "max-session-time", 3600);
	c->smtp.max_per_client = (int)get_count(s, "max-per-client", 10);
	c->smtp.max_per_network = (int)get_count(s, "max-per-network", 30);
	exempt_list(s, c);
	c->smtp.auth_failures = (int)get_count(s, "auth-failures", 5);
	c->smtp.auth_lockout = get_dur(s, "auth-lockout", 900);
	c->smtp.etrn_per_minute = (int)get_count(s, "etrn-per-minute", 30);
	s = cfg_getsec(root, "lmtp");
	get_listeners(s, &c->lmtp.l);
	c->lmtp.max_clients = (int)get_int(s, "max-clients", 100);
	c->lmtp.timeout = get_dur(s, "timeout", 300);
	if ((v = cfg_getstr(s, "group")) != NULL && *v != '\0')
		c->lmtp.group = strdup(v);
	s = cfg_getsec(root, "enqueue");
	get_listeners(s, &c->enqueue.l);
	if ((v = cfg_getstr(s, "group")) != NULL && *v != '\0')
		c->enqueue.group = strdup(v);
	s = cfg_getsec(root, "control");
	get_listeners(s, &c->control.l);
	if ((v = cfg_getstr(s, "group")) != NULL && *v != '\0')
		c->control.group = strdup(v);
	c->control.peers = get_list(s, "peers", &c->control.npeers);
	s = cfg_getsec(root, "odmr");
	get_listeners(s, &c->odmr.l);
	c->odmr.timeout = get_dur(s, "timeout", 600);
	c->odmr.auth_without_tls = get_bool(s, "auth-without-tls", 0);
	s = cfg_getsec(root, "queue");
	c->queue.min_free = get_size(s, "min-free", 100ULL << 20);
	c->queue.warn_after = get_dur(s, "warn-after", 4 * 3600);
	c->queue.expire_after = get_dur(s, "expire-after", 5 * 86400);
}

struct route_check {
	struct lctx *x;
	const struct bridge_conf *c;
};

static void
route_customer_cb(void *arg, const char *key, const char *value,
    const char *file, int line)
{
	struct route_check *rc = arg;

	if (conf_customer(rc->c, value) == NULL)
		diag_add(rc->x->d, file, line, "route %s: unknown customer "
		    "\"%s\"", key, value);
}

/* build_routes - load the routes table and check its customers. */
static void
build_routes(struct lctx *x, struct conf_full *cf, const char *builtin)
{
	struct bridge_conf *c = &cf->pub;
	struct route_check rc;
	const char *s;

	if (builtin != NULL) {
		c->routes_file = strdup(CONF_BUILTIN);
		c->routes = routes_load_diag(CONF_BUILTIN, builtin, x->d);
	} else if ((s = cfg_getstr(x->root, "routes")) == NULL || *s == '\0') {
		diag_add(x->d, x->file, 0, "routes is not set (routes = "
		    "\"/path/to/routes\")");
		return;
	} else {
		c->routes_file = resolve(cf->dir, s);
		if (c->routes_file == NULL)
			return;
		diag_file(x->d, c->routes_file);
		c->routes = routes_load_diag(c->routes_file, NULL, x->d);
		if (c->routes == NULL) {
			diag_add(x->d, x->file, line_of(x, x->root, "routes"),
			    "routes file %s: %s", c->routes_file,
			    strerror(errno));
			return;
		}
	}
	rc.x = x;
	rc.c = c;
	routes_foreach(c->routes, route_customer_cb, &rc);
}

static void
build_top(struct lctx *x, struct conf_full *cf, int builtin)
{
	struct bridge_conf *c = &cf->pub;
	char host[256];
	const char *s;

	if ((s = cfg_getstr(x->root, "hostname")) == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		s = host[0] != '\0' ? host : "localhost";
	}
	c->hostname = strdup(s);
	if ((s = cfg_getstr(x->root, "spool")) != NULL && *s != '\0')
		c->spool = absolute(resolve(cf->dir, s));
	else if (!builtin)
		diag_add(x->d, x->file, 0, "spool is not set (spool = "
		    "\"/var/spool/bridge\")");
	if ((s = cfg_getstr(x->root, "user")) != NULL && *s != '\0')
		c->user = strdup(s);
	if ((s = cfg_getstr(x->root, "session-user")) != NULL && *s != '\0')
		c->session_user = strdup(s);
	if ((s = cfg_getstr(x->root, "session-chroot")) != NULL && *s != '\0')
		c->session_chroot = absolute(resolve(cf->dir, s));
	if ((s = cfg_getstr(x->root, "lookup-user")) != NULL && *s != '\0')
		c->lookup_user = strdup(s);
	if ((s = cfg_getstr(x->root, "postmaster")) != NULL)
		c->postmaster = strdup(s);
	else if (c->hostname != NULL &&
	    asprintf(&c->postmaster, "postmaster@%s", c->hostname) == -1)
		c->postmaster = NULL;
	if ((s = cfg_getstr(x->root, "relayhost")) != NULL && *s != '\0') {
		if (strchr(s, ':') != NULL)
			c->relayhost = strdup(s);
		else if (asprintf(&c->relayhost, "%s:25", s) == -1)
			c->relayhost = NULL;
	}
	if ((s = cfg_getstr(x->root, "pidfile")) != NULL && *s != '\0')
		c->pidfile = absolute(resolve(cf->dir, s));
	else if (c->spool != NULL &&
	    asprintf(&c->pidfile, "%s/bridged.pid", c->spool) == -1)
		c->pidfile = NULL;
}

/*
 * control_customers - each customer:NAME role of control { peers }
 * names a customer section (n of them, not built yet).
 */
static void
control_customers(struct lctx *x, const struct bridge_conf *c, unsigned n)
{
	char cust[64];
	enum ctl_role r;
	unsigned k;
	int i, found;

	for (i = 0; i < c->control.npeers; i++) {
		if (ctl_peer_parse(c->control.peers[i], NULL, 0, &r, cust,
		    sizeof(cust)) == -1 || r != CTL_CUSTOMER)
			continue;
		for (k = 0, found = 0; k < n && !found; k++)
			found = strcmp(cfg_title(cfg_getnsec(x->root,
			    "customer", k)), cust) == 0;
		if (!found)
			diag_add(x->d, x->file, 0, "control peers \"%s\": no "
			    "customer \"%s\"", c->control.peers[i], cust);
	}
}

static void
build(struct lctx *x, struct conf_full *cf, const char *builtin_routes)
{
	struct bridge_conf *c = &cf->pub;
	unsigned i, n = cfg_size(x->root, "customer");
	int k;

	build_top(x, cf, builtin_routes != NULL);
	build_sections(c, x->root);
	build_tls(x, cf);
	for (k = 0; k < c->enqueue.l.nlisten; k++)
		if (strncmp(c->enqueue.l.listen[k], "unix:", 5) != 0)
			diag_add(x->d, x->file, 0, "enqueue listen %s: only a "
			    "unix socket (unix:/path) is taken",
			    c->enqueue.l.listen[k]);
	if (c->control.l.nlisten > 1 || (c->control.l.nlisten == 1 &&
	    strncmp(c->control.l.listen[0], "unix:", 5) != 0))
		diag_add(x->d, x->file, 0, "control listen: one unix socket "
		    "(unix:/path) only");
	control_customers(x, c, cfg_size(x->root, "customer"));
	c->customers = calloc(n + 1, sizeof(*c->customers));
	cf->cpriv = calloc(n + 1, sizeof(*cf->cpriv));
	if (c->customers == NULL || cf->cpriv == NULL) {
		diag_add(x->d, x->file, 0, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		build_customer(x, cf, cfg_getnsec(x->root, "customer", i),
		    &c->customers[i], &cf->cpriv[i]);
		c->ncustomers++;
	}
	build_routes(x, cf, builtin_routes);
}

/* dir_of - the directory part of path, "." for a bare name. */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/*
 * conf_load_diag - the loader behind conf_load and conf_check.  Returns
 * the config as far as it could be built (even with problems, which go
 * to d) or NULL when the file could not be parsed at all.
 */
struct conf_full *
conf_load_diag(const char *path, struct diag *d)
{
	struct lctx x;
	struct conf_full *cf;
	char *text = NULL, *routes_text = NULL;
	const char *what;
	int builtin = strcmp(path, CONF_BUILTIN) == 0, rc, before, open_line;

	memset(&x, 0, sizeof(x));
	x.d = d;
	x.file = path;
	diag_file(d, path);
	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->pub.file = strdup(path)) == NULL ||
	    (x.root = cfg_init(top_opts, CFGF_NONE)) == NULL) {
		diag_add(d, path, 0, "out of memory");
		goto fail;
	}
	cf->dir = builtin ? NULL : absolute(dir_of(path));
	cfg_set_error_function(x.root, err_cb);
	if (builtin) {
		if (conf_builtin_text(&text, &routes_text) == -1) {
			diag_add(d, path, 0, "out of memory");
			goto fail;
		}
	} else if ((text = conf_read_text(path)) == NULL) {
		diag_add(d, path, 0, "cannot read: %s", errno == EFBIG ?
		    "file too large" : errno == EINVAL ? "NUL in file" :
		    strerror(errno));
		goto fail;
	}
	if ((open_line = conf_strip_comments(text, &what)) > 0) {
		diag_add(d, path, open_line, "%s", what);
		goto fail;
	}
	before = d->n;
	cur = &x;
	rc = cfg_parse_buf(x.root, text);
	if (rc == CFG_FILE_ERROR) {
		diag_add(d, path, 0, "cannot parse: %s", strerror(errno));
		goto fail;
	}
	if (rc != CFG_SUCCESS) {
		if (d->n == before)
			diag_add(d, path, 0, "cannot parse");
		goto fail;
	}
	build(&x, cf, builtin ? routes_text : NULL);
	cur = NULL;
	cfg_free(x.root);
	free(x.lines);
	free(text);
	free(routes_text);
	return cf;
fail:
	cur = NULL;
	if (x.root != NULL)
		cfg_free(x.root);
	free(x.lines);
	free(text);
	free(routes_text);
	conf_free(cf != NULL ? &cf->pub : NULL);
	return NULL;
}

struct bridge_conf *
conf_load(const char *path, FILE *errs, int *nerr)
{
	struct conf_full *cf;
	struct diag d;

	diag_init(&d, errs, 1);
	cf = conf_load_diag(path, &d);
	diag_flush(&d);
	if (nerr != NULL)
		*nerr = d.n;
	if (d.n > 0 && cf != NULL) {
		conf_free(&cf->pub);
		cf = NULL;
	}
	diag_free(&d);
	return cf != NULL ? &cf->pub : NULL;
}

struct customer *
conf_customer(const struct bridge_conf *c, const char *name)
{
	int i;

	if (c == NULL || name == NULL)
		return NULL;
	for (i = 0; i < c->ncustomers; i++)
		if (c->customers[i].name != NULL &&
		    strcmp(c->customers[i].name, name) == 0)
			return &c->customers[i];
	return NULL;
}

static void
free_customer(struct customer *cu)
{
	free(cu->name);
	free_list(cu->deliver_to, cu->ndeliver_to);
	free(cu->etrn_from);
	free(cu->secret);
	free(cu->recipients);
	rcptlist_free(cu->rcpts);
	free(cu->uucp_node);
	free(cu->uucp_command);
	free(cu->uucp_grade);
	free_list(cu->uux, cu->nuux);
	free(cu->tls_ca);
	free(cu->tls_name);
}

void
conf_free(struct bridge_conf *c)
{
	struct conf_full *cf = (struct conf_full *)c;
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ncustomers; i++)
		free_customer(&c->customers[i]);
	free(c->customers);
	free(cf->cpriv);
	free(cf->dir);
	free(c->file);
	free(c->hostname);
	free(c->spool);
	free(c->routes_file);
	free(c->user);
	free(c->session_user);
	free(c->session_chroot);
	free(c->lookup_user);
	free(c->lmtp.group);
	free(c->enqueue.group);
	free(c->control.group);
	free_list(c->control.l.listen, c->control.l.nlisten);
	free_list(c->control.peers, c->control.npeers);
	free_list(c->enqueue.l.listen, c->enqueue.l.nlisten);
	free(c->postmaster);
	free(c->pidfile);
	free(c->relayhost);
	free(c->smtp.exempt);
	free(c->tls.cert);
	free(c->tls.key);
	free(c->tls.ciphers);
	free_list(c->smtp.l.listen, c->smtp.l.nlisten);
	free_list(c->lmtp.l.listen, c->lmtp.l.nlisten);
	free_list(c->odmr.l.listen, c->odmr.l.nlisten);
	routes_free(c->routes);
	free(cf);
}

struct bridge_conf *
conf_load_logged(const char *path)
{
	struct bridge_conf *c;
	char *text = NULL, *line, *save;
	size_t len = 0;
	FILE *f;
	int nerr = 0;

	if ((f = open_memstream(&text, &len)) == NULL)
		return NULL;
	c = conf_load(path, f, &nerr);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		log_warnx("%s", line);
	free(text);
	return c;
}
