/*
 * leafconf.c - load leaf.conf (leaf.conf(5)) with libconfuse.  Values
 * are checked by validation callbacks while the file is parsed, so
 * every message carries the line it is about; sections are checked
 * for their required keys when they close.  The parse result is then
 * copied into struct leaf_conf and the libconfuse tree is freed.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <confuse.h>

#include "conf.h"
#include "leafconf.h"
#include "util.h"

/* The parse in progress: where errors go and how many there were. */
static struct {
	FILE   *errs;
	const char *file;
	int	nerr;
} P;

static cfg_opt_t inject_opts[] = {
	CFG_STR("method", "sendmail", CFGF_NONE),
	CFG_STR_LIST("command", "{/usr/sbin/sendmail, -oi}", CFGF_NONE),
	CFG_STR("server", NULL, CFGF_NONE),
	CFG_STR("timeout", "5m", CFGF_NONE),
	CFG_BOOL("dsn-options", cfg_false, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t etrn_opts[] = {
	CFG_STR("server", NULL, CFGF_NONE),
	CFG_STR_LIST("targets", NULL, CFGF_NONE),
	CFG_STR("user", NULL, CFGF_NONE),
	CFG_STR("secret", NULL, CFGF_NONE),
	CFG_STR("tls-policy", NULL, CFGF_NONE),
	CFG_STR("tls-ca", NULL, CFGF_NONE),
	CFG_STR("tls-name", NULL, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t odmr_opts[] = {
	CFG_STR("server", NULL, CFGF_NONE),
	CFG_STR_LIST("targets", NULL, CFGF_NONE),
	CFG_STR("user", NULL, CFGF_NONE),
	CFG_STR("secret", NULL, CFGF_NONE),
	CFG_STR("tls-policy", NULL, CFGF_NONE),
	CFG_STR("tls-ca", NULL, CFGF_NONE),
	CFG_STR("tls-name", NULL, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t uucp_opts[] = {
	CFG_STR("system", NULL, CFGF_NONE),
	CFG_STR("config", NULL, CFGF_NONE),
	CFG_STR_LIST("uucico", NULL, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t ssh_opts[] = {
	CFG_STR("server", NULL, CFGF_NONE),
	CFG_STR("user", NULL, CFGF_NONE),
	CFG_STR("dir", NULL, CFGF_NONE),
	CFG_STR("identity", NULL, CFGF_NONE),
	CFG_STR("known-hosts", NULL, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t backoff_opts[] = {
	CFG_STR("base", "1m", CFGF_NONE),
	CFG_STR("ceiling", "6h", CFGF_NONE),
	CFG_INT("give-up", 10, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t hub_opts[] = {
	CFG_SEC("etrn", etrn_opts, CFGF_NONE),
	CFG_SEC("odmr", odmr_opts, CFGF_NONE),
	CFG_SEC("uucp", uucp_opts, CFGF_NONE),
	CFG_SEC("ssh", ssh_opts, CFGF_NONE),
	CFG_STR("poll", "15m", CFGF_NONE),
	CFG_STR_LIST("windows", NULL, CFGF_NONE),
	CFG_STR("online-deadline", NULL, CFGF_NONE),
	CFG_STR("max-online", "1h", CFGF_NONE),
	CFG_SEC("backoff", backoff_opts, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t link_opts[] = {
	CFG_STR("probe", NULL, CFGF_NONE),
	CFG_STR("every", "60s", CFGF_NONE),
	CFG_STR_LIST("down-command", NULL, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t root_opts[] = {
	CFG_STR("hostname", NULL, CFGF_NONE),
	CFG_STR("spool", "/var/spool/bridge-leaf", CFGF_NONE),
	CFG_SEC("inject", inject_opts, CFGF_NONE),
	CFG_SEC("hub", hub_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("link", link_opts, CFGF_NONE),
	CFG_STR("metrics", NULL, CFGF_NONE),
	CFG_END()
};

static void
errfn(cfg_t *cfg, const char *fmt, va_list ap)
{
	fprintf(P.errs, "%s:%d: ", cfg->filename ? cfg->filename : P.file,
	    cfg->line);
	vfprintf(P.errs, fmt, ap);
	fputc('\n', P.errs);
	P.nerr++;
}

/* --- value checks -------------------------------------------------- */

static const char *
last_str(cfg_opt_t *opt)
{
	return cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
}

static int
hostname_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 255 || s[0] == '-' || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

static int
port_ok(const char *s)
{
	char *end;
	long p;

	if (!isdigit((unsigned char)*s))
		return 0;
	errno = 0;
	p = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && p >= 1 && p <= 65535;
}

int
conf_endpoint_ok(const char *s, int unix_ok)
{
	const char *c;

	if (strncmp(s, "unix:", 5) == 0)
		return unix_ok && s[5] == '/' && strlen(s) < 100;
	if (s[0] == '[') {
		if ((c = strchr(s, ']')) == NULL || c[1] != ':' || c == s + 1)
			return 0;
		for (const char *p = s + 1; p < c; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.')
				return 0;
		return port_ok(c + 2);
	}
	if ((c = strrchr(s, ':')) == NULL)
		return 0;
	return hostname_ok(s, (size_t)(c - s)) && port_ok(c + 1);
}

static int
v_duration(cfg_t *cfg, cfg_opt_t *opt)
{
	long d;

	if (duration_parse(last_str(opt), &d) == -1 || d <= 0) {
		cfg_error(cfg, "%s: \"%s\" is not a duration (30s, 5m, 4h, 2d)",
		    opt->name, last_str(opt));
		return -1;
	}
	return 0;
}

static int
v_abs_path(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = last_str(opt);

	if (s[0] != '/') {
		cfg_error(cfg, "%s: \"%s\" is not an absolute path", opt->name,
		    s);
		return -1;
	}
	return 0;
}

static int
v_hostname(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = last_str(opt);

	if (!hostname_ok(s, strlen(s))) {
		cfg_error(cfg, "%s: \"%s\" is not a host name", opt->name, s);
		return -1;
	}
	return 0;
}

static int
v_method(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = last_str(opt);

	if (strcmp(s, "sendmail") != 0 && strcmp(s, "smtp") != 0 &&
	    strcmp(s, "lmtp") != 0) {
		cfg_error(cfg, "method: \"%s\" is not sendmail, smtp or lmtp",
		    s);
		return -1;
	}
	return 0;
}

/* v_argv - a command list: not empty, the program an absolute path. */
static int
v_argv(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_size(opt) == 0) {
		cfg_error(cfg, "%s: empty command", opt->name);
		return -1;
	}
	if (cfg_opt_getnstr(opt, 0)[0] != '/') {
		cfg_error(cfg, "%s: \"%s\" is not an absolute path", opt->name,
		    cfg_opt_getnstr(opt, 0));
		return -1;
	}
	return 0;
}

static int
v_server(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = last_str(opt);

	if (!conf_endpoint_ok(s, strcmp(cfg->name, "inject") == 0)) {
		cfg_error(cfg, "%s: \"%s\" is not host:port%s", opt->name, s,
		    strcmp(cfg->name, "inject") == 0 ? " or unix:/path" : "");
		return -1;
	}
	return 0;
}

static int
v_ssh_server(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = last_str(opt);

	if (!conf_endpoint_ok(s, 0) && !hostname_ok(s, strlen(s))) {
		cfg_error(cfg, "server: \"%s\" is not host or host:port", s);
		return -1;
	}
	return 0;
}

static int
v_targets(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned i;
	const char *t;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		t = cfg_opt_getnstr(opt, i);
		if (t[0] == '#' ? !name_is_safe(t + 1) :
		    t[0] == '@' ? !hostname_ok(t + 1, strlen(t + 1)) ||
		    strchr(t + 1, '.') == NULL : !hostname_ok(t, strlen(t))) {
			cfg_error(cfg, "targets: \"%s\" is not a domain, "
			    "@domain or #queue", t);
			return -1;
		}
	}
	return 0;
}

/* v_domains - ATRN's targets: plain domains with a dot. */
static int
v_domains(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned i;
	const char *t;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		t = cfg_opt_getnstr(opt, i);
		if (!hostname_ok(t, strlen(t)) || strchr(t, '.') == NULL) {
			cfg_error(cfg, "targets: \"%s\" is not a domain "
			    "(ATRN takes domains only)", t);
			return -1;
		}
	}
	return 0;
}

/* v_system - a Taylor UUCP system name. */
static int
v_system(cfg_t *cfg, cfg_opt_t *opt)
{
	if (!name_is_safe(last_str(opt))) {
		cfg_error(cfg, "system: \"%s\" is not a UUCP system name",
		    last_str(opt));
		return -1;
	}
	return 0;
}

static int
v_give_up(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);

	if (v < 1 || v > 1000) {
		cfg_error(cfg, "give-up: %ld is not a count from 1 to 1000", v);
		return -1;
	}
	return 0;
}

static int
v_user(cfg_t *cfg, cfg_opt_t *opt)
{
	if (!name_is_safe(last_str(opt))) {
		cfg_error(cfg, "user: \"%s\" is not a plain user name",
		    last_str(opt));
		return -1;
	}
	return 0;
}

static int
v_tls_policy(cfg_t *cfg, cfg_opt_t *opt)
{
	if (tls_policy_parse(last_str(opt)) == -1) {
		cfg_error(cfg, "tls-policy: bad tls-policy \"%s\" (none, may, "
		    "encrypt or verify)", last_str(opt));
		return -1;
	}
	return 0;
}

static int
v_dir(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = last_str(opt);

	if (s[0] == '\0' || strstr(s, "..") != NULL || strchr(s, '\n')) {
		cfg_error(cfg, "dir: \"%s\" is not a plain directory", s);
		return -1;
	}
	return 0;
}

static int
v_windows(cfg_t *cfg, cfg_opt_t *opt)
{
	struct window w;
	unsigned i;

	for (i = 0; i < cfg_opt_size(opt); i++)
		if (conf_window_parse(cfg_opt_getnstr(opt, i), &w) == -1) {
			cfg_error(cfg, "windows: \"%s\" is not like "
			    "\"Mon-Fri 08:00-18:00\" or \"22:00-06:00 max 2M\"",
			    cfg_opt_getnstr(opt, i));
			return -1;
		}
	return 0;
}

/* --- section checks, when a section closes ------------------------- */

/* given - was the option set (a list: to at least one value)? */
static int
given(cfg_t *sec, const char *name)
{
	cfg_opt_t *o = cfg_getopt(sec, name);

	if (o == NULL)
		return 0;
	if (o->flags & CFGF_LIST)
		return cfg_opt_size(o) > 0;
	return cfg_opt_size(o) > 0 && cfg_opt_getnstr(o, 0) != NULL;
}

static int
v_inject(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *s = cfg_opt_getnsec(opt, 0);
	const char *m = cfg_getstr(s, "method");

	if (strcmp(m, "lmtp") == 0 && !given(s, "server")) {
		cfg_error(cfg, "inject: method lmtp needs a server");
		return -1;
	}
	return 0;
}

static int
check_ssh(cfg_t *cfg, cfg_t *ssh, const char *hub)
{
	static const char *const need[] = {
		"server", "user", "identity", "known-hosts", NULL
	};
	int i, rc = 0;

	for (i = 0; need[i] != NULL; i++)
		if (!given(ssh, need[i])) {
			cfg_error(cfg, "hub \"%s\": ssh needs %s", hub, need[i]);
			rc = -1;
		}
	return rc;
}

static int
v_hub(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *h = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	cfg_t *e = cfg_getsec(h, "etrn"), *u = cfg_getsec(h, "uucp");
	cfg_t *s = cfg_getsec(h, "ssh"), *o = cfg_getsec(h, "odmr");
	cfg_t *b = cfg_getsec(h, "backoff");
	const char *name = cfg_title(h);
	long base, ceil;
	int has_e, has_o, has_u, has_s, rc = 0;

	if (!name_is_safe(name)) {
		cfg_error(cfg, "hub \"%s\": not a safe name", name);
		return -1;
	}
	has_e = given(e, "server") || given(e, "targets") ||
	    given(e, "user") || given(e, "secret");
	has_o = given(o, "server") || given(o, "targets") ||
	    given(o, "user") || given(o, "secret");
	has_u = given(u, "uucico") || given(u, "system") || given(u, "config");
	has_s = given(s, "server") || given(s, "user") || given(s, "dir") ||
	    given(s, "identity") || given(s, "known-hosts");
	if (has_e && (!given(e, "server") || !given(e, "targets"))) {
		cfg_error(cfg, "hub \"%s\": etrn needs server and targets",
		    name);
		rc = -1;
	}
	if (given(e, "user") != given(e, "secret")) {
		cfg_error(cfg, "hub \"%s\": etrn user and secret go together",
		    name);
		rc = -1;
	}
	if (has_o && (!given(o, "server") || !given(o, "user") ||
	    !given(o, "secret"))) {
		cfg_error(cfg, "hub \"%s\": odmr needs server, user and secret",
		    name);
		rc = -1;
	}
	if (has_u && !given(u, "system") && !given(u, "uucico")) {
		cfg_error(cfg, "hub \"%s\": uucp needs system or uucico", name);
		rc = -1;
	}
	if (given(u, "config") && !given(u, "system")) {
		cfg_error(cfg, "hub \"%s\": uucp config goes with system "
		    "(uucico is the whole command)", name);
		rc = -1;
	}
	if (has_s && check_ssh(cfg, s, name) == -1)
		rc = -1;
	if (!has_e && !has_o && !has_u && !has_s) {
		cfg_error(cfg, "hub \"%s\": no etrn, odmr, uucp or ssh section",
		    name);
		rc = -1;
	}
	duration_parse(cfg_getstr(b, "base"), &base);
	duration_parse(cfg_getstr(b, "ceiling"), &ceil);
	if (base > ceil) {
		cfg_error(cfg, "hub \"%s\": backoff base is longer than its "
		    "ceiling", name);
		rc = -1;
	}
	return rc;
}

static void
set_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "hostname", v_hostname);
	cfg_set_validate_func(cfg, "spool", v_abs_path);
	cfg_set_validate_func(cfg, "inject|method", v_method);
	cfg_set_validate_func(cfg, "inject|command", v_argv);
	cfg_set_validate_func(cfg, "inject|server", v_server);
	cfg_set_validate_func(cfg, "inject|timeout", v_duration);
	cfg_set_validate_func(cfg, "inject", v_inject);
	cfg_set_validate_func(cfg, "hub|etrn|server", v_server);
	cfg_set_validate_func(cfg, "hub|etrn|targets", v_targets);
	cfg_set_validate_func(cfg, "hub|etrn|user", v_user);
	cfg_set_validate_func(cfg, "hub|etrn|secret", v_abs_path);
	cfg_set_validate_func(cfg, "hub|odmr|server", v_server);
	cfg_set_validate_func(cfg, "hub|odmr|targets", v_domains);
	cfg_set_validate_func(cfg, "hub|odmr|user", v_user);
	cfg_set_validate_func(cfg, "hub|odmr|secret", v_abs_path);
	cfg_set_validate_func(cfg, "hub|etrn|tls-policy", v_tls_policy);
	cfg_set_validate_func(cfg, "hub|etrn|tls-ca", v_abs_path);
	cfg_set_validate_func(cfg, "hub|etrn|tls-name", v_hostname);
	cfg_set_validate_func(cfg, "hub|odmr|tls-policy", v_tls_policy);
	cfg_set_validate_func(cfg, "hub|odmr|tls-ca", v_abs_path);
	cfg_set_validate_func(cfg, "hub|odmr|tls-name", v_hostname);
	cfg_set_validate_func(cfg, "hub|uucp|uucico", v_argv);
	cfg_set_validate_func(cfg, "hub|uucp|system", v_system);
	cfg_set_validate_func(cfg, "hub|uucp|config", v_abs_path);
	cfg_set_validate_func(cfg, "hub|ssh|server", v_ssh_server);
	cfg_set_validate_func(cfg, "hub|ssh|user", v_user);
	cfg_set_validate_func(cfg, "hub|ssh|dir", v_dir);
	cfg_set_validate_func(cfg, "hub|ssh|identity", v_abs_path);
	cfg_set_validate_func(cfg, "hub|ssh|known-hosts", v_abs_path);
	cfg_set_validate_func(cfg, "hub|poll", v_duration);
	cfg_set_validate_func(cfg, "hub|windows", v_windows);
	cfg_set_validate_func(cfg, "hub|online-deadline", v_duration);
	cfg_set_validate_func(cfg, "hub|max-online", v_duration);
	cfg_set_validate_func(cfg, "hub|backoff|base", v_duration);
	cfg_set_validate_func(cfg, "hub|backoff|ceiling", v_duration);
	cfg_set_validate_func(cfg, "hub|backoff|give-up", v_give_up);
	cfg_set_validate_func(cfg, "hub", v_hub);
	cfg_set_validate_func(cfg, "link|probe", v_server);
	cfg_set_validate_func(cfg, "link|every", v_duration);
	cfg_set_validate_func(cfg, "link|down-command", v_argv);
	cfg_set_validate_func(cfg, "metrics", v_abs_path);
}

/* --- windows ------------------------------------------------------- */

static int
day_parse(const char **sp)
{
	static const char *const days[] = {
		"sun", "mon", "tue", "wed", "thu", "fri", "sat"
	};
	int i;

	for (i = 0; i < 7; i++)
		if (strncasecmp(*sp, days[i], 3) == 0) {
			*sp += 3;
			return i;
		}
	return -1;
}

static int
days_parse(const char *s, const char *end, unsigned *mask)
{
	int a, b;

	*mask = 0;
	while (s < end) {
		if ((a = day_parse(&s)) == -1)
			return -1;
		b = a;
		if (*s == '-') {
			s++;
			if ((b = day_parse(&s)) == -1)
				return -1;
		}
		for (;;) {
			*mask |= 1u << a;
			if (a == b)
				break;
			a = (a + 1) % 7;
		}
		if (s < end && *s++ != ',')
			return -1;
	}
	return *mask ? 0 : -1;
}

static int
hhmm(const char *s, int *min)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return -1;
	*min = ((s[0] - '0') * 10 + s[1] - '0') * 60 +
	    (s[3] - '0') * 10 + s[4] - '0';
	if ((s[3] - '0') * 10 + s[4] - '0' > 59 || *min > 24 * 60)
		return -1;
	return 0;
}

/* window_times - "HH:MM-HH:MM" of exactly n octets. */
static int
window_times(const char *t, size_t n, struct window *w)
{
	if (n != 11 || t[5] != '-' || hhmm(t, &w->from) == -1 ||
	    hhmm(t + 6, &w->to) == -1 || w->from == w->to ||
	    w->from == 24 * 60)
		return -1;
	return 0;
}

int
conf_window_parse(const char *s, struct window *w)
{
	const char *tok[4], *p = s;
	size_t len[4];
	char size[32];
	int n = 0, t;

	memset(w, 0, sizeof(*w));
	w->days = 0x7f;
	while (*p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (n == 4)
			return -1;
		tok[n] = p;
		len[n] = strcspn(p, " ");
		p += len[n++];
	}
	/* [days] HH:MM-HH:MM [max SIZE] */
	t = n >= 2 && isalpha((unsigned char)tok[0][0]) &&
	    !(len[0] == 3 && strncmp(tok[0], "max", 3) == 0) ? 1 : 0;
	if (n == 0 || (t == 1 && days_parse(tok[0], tok[0] + len[0],
	    &w->days) == -1) || window_times(tok[t], len[t], w) == -1)
		return -1;
	if (n == t + 1)
		return 0;
	if (n != t + 3 || len[t + 1] != 3 || strncmp(tok[t + 1], "max", 3) ||
	    len[t + 2] >= sizeof(size))
		return -1;
	memcpy(size, tok[t + 2], len[t + 2]);
	size[len[t + 2]] = '\0';
	if (size_parse(size, &w->max_size) == -1 || w->max_size == 0)
		return -1;
	return 0;
}

/* window_in - is the local time tm inside w? */
static int
window_in(const struct window *w, const struct tm *tm)
{
	int m = tm->tm_hour * 60 + tm->tm_min;
	int yday = (tm->tm_wday + 6) % 7;	/* the day before */

	if (w->from < w->to)
		return (w->days & (1u << tm->tm_wday)) && m >= w->from &&
		    m < w->to;
	return ((w->days & (1u << tm->tm_wday)) && m >= w->from) ||
	    ((w->days & (1u << yday)) && m < w->to);
}

int
conf_window_match(const struct window *w, int n, time_t t)
{
	struct tm tm;
	int i;

	if (n == 0)
		return 1;
	localtime_r(&t, &tm);
	for (i = 0; i < n; i++)
		if (window_in(&w[i], &tm))
			return 1;
	return 0;
}

uint64_t
conf_window_cap(const struct window *w, int n, time_t t)
{
	struct tm tm;
	uint64_t cap = 0;
	int i;

	localtime_r(&t, &tm);
	for (i = 0; i < n; i++) {
		if (!window_in(&w[i], &tm))
			continue;
		if (w[i].max_size == 0)
			return 0;
		if (w[i].max_size > cap)
			cap = w[i].max_size;
	}
	return cap;
}

const char *
conf_method_name(int method)
{
	static const char *const names[METHOD_MAX] = {
		"etrn", "odmr", "uucp", "ssh"
	};

	return method >= 0 && method < METHOD_MAX ? names[method] : "?";
}

/* --- what libconfuse lets through --------------------------------- */

/*
 * skip_quoted - past the string that starts at p (a quote), counting
 * lines; NULL when it does not end.
 */
static const char *
skip_quoted(const char *p, int *line)
{
	char q = *p++;

	for (; *p != '\0' && *p != q; p++) {
		if (*p == '\\' && q == '"' && p[1] != '\0')
			p++;
		if (*p == '\n')
			(*line)++;
	}
	return *p == q ? p : NULL;
}

/*
 * braces_balanced - libconfuse 3.3 accepts a file that ends inside a
 * section; find the section left open (outside strings and comments).
 */
static int
braces_balanced(const char *path, FILE *errs)
{
	FILE *f;
	char *text = NULL, *e;
	const char *p;
	size_t cap = 0;
	ssize_t n;
	int line = 1, depth = 0, open_line[32], rc = 0;

	if ((f = fopen(path, "re")) == NULL)
		return 0;		/* cfg_parse reports it */
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(text);
		return 0;
	}
	for (p = text; *p != '\0'; p++) {
		if (*p == '\n')
			line++;
		else if (*p == '"' || *p == '\'') {
			if ((p = skip_quoted(p, &line)) == NULL)
				break;
		} else if (*p == '#' || (*p == '/' && p[1] == '/')) {
			if ((p = strchr(p, '\n')) == NULL)
				break;
			line++;
		} else if (*p == '/' && p[1] == '*') {
			if ((e = strstr(p + 2, "*/")) == NULL)
				break;
			for (; p < e; p++)
				line += *p == '\n';
			p++;
		} else if (*p == '{' && depth < 32)
			open_line[depth++] = line;
		else if (*p == '}' && depth > 0)
			depth--;
	}
	if (depth > 0) {
		fprintf(errs, "%s:%d: section not closed ('}' missing)\n",
		    path, open_line[depth - 1]);
		rc = -1;
	}
	free(text);
	return rc;
}

/* --- copying the parse into structs -------------------------------- */

static char *
dup_or_null(cfg_t *s, const char *name)
{
	const char *v = cfg_getstr(s, name);

	return v != NULL ? strdup(v) : NULL;
}

/* hub_tls - a section's tls-policy (may when not set), tls-ca, tls-name. */
static void
hub_tls(cfg_t *s, struct leaf_tls *t)
{
	const char *v = cfg_getstr(s, "tls-policy");

	t->policy = v != NULL && tls_policy_parse(v) != -1 ?
	    tls_policy_parse(v) : TLSP_MAY;
	t->ca = dup_or_null(s, "tls-ca");
	t->name = dup_or_null(s, "tls-name");
}

static char **
dup_list(cfg_t *s, const char *name, int *n)
{
	char **v;
	unsigned i;

	*n = (int)cfg_size(s, name);
	v = calloc((size_t)*n + 1, sizeof(*v));
	for (i = 0; v != NULL && i < (unsigned)*n; i++)
		v[i] = strdup(cfg_getnstr(s, name, i));
	return v;
}

/* method_order - the hub's methods in the order their sections end. */
static void
method_order(struct leaf_hub *h, cfg_t *hs)
{
	static const char *const sec[METHOD_MAX] = {
		"etrn", "odmr", "uucp", "ssh"
	};
	const int has[METHOD_MAX] = {
		h->has_etrn, h->has_odmr, h->has_uucp, h->has_ssh
	};
	int line[METHOD_MAX], i, j, m;

	h->nmethods = 0;
	for (i = 0; i < METHOD_MAX; i++) {
		if (!has[i])
			continue;
		line[i] = cfg_getsec(hs, sec[i])->line;
		for (j = h->nmethods; j > 0; j--) {
			m = h->methods[j - 1];
			if (line[m] <= line[i])
				break;
			h->methods[j] = m;
		}
		h->methods[j] = i;
		h->nmethods++;
	}
}

static void
fill_hub(struct leaf_hub *h, cfg_t *hs, const char *file)
{
	cfg_t *e = cfg_getsec(hs, "etrn"), *u = cfg_getsec(hs, "uucp");
	cfg_t *s = cfg_getsec(hs, "ssh"), *o = cfg_getsec(hs, "odmr");
	cfg_t *b = cfg_getsec(hs, "backoff");
	int i;

	h->name = strdup(cfg_title(hs));
	h->file = file;
	h->line = hs->line;
	h->has_etrn = given(e, "server");
	h->etrn_server = dup_or_null(e, "server");
	h->etrn_targets = dup_list(e, "targets", &h->netrn_targets);
	h->etrn_user = dup_or_null(e, "user");
	h->etrn_secret = dup_or_null(e, "secret");
	h->has_odmr = given(o, "server");
	h->odmr_server = dup_or_null(o, "server");
	h->odmr_targets = dup_list(o, "targets", &h->nodmr_targets);
	h->odmr_user = dup_or_null(o, "user");
	h->odmr_secret = dup_or_null(o, "secret");
	hub_tls(e, &h->etrn_tls);
	hub_tls(o, &h->odmr_tls);
	h->has_uucp = given(u, "uucico") || given(u, "system");
	h->uucp_system = dup_or_null(u, "system");
	h->uucp_config = dup_or_null(u, "config");
	h->uucico = dup_list(u, "uucico", &h->nuucico);
	h->has_ssh = given(s, "server");
	h->ssh_server = dup_or_null(s, "server");
	h->ssh_user = dup_or_null(s, "user");
	h->ssh_dir = given(s, "dir") ? dup_or_null(s, "dir") :
	    strdup("outbox");
	h->ssh_identity = dup_or_null(s, "identity");
	h->ssh_known_hosts = dup_or_null(s, "known-hosts");
	duration_parse(cfg_getstr(hs, "poll"), &h->poll);
	h->nwindows = (int)cfg_size(hs, "windows");
	h->windows = calloc((size_t)h->nwindows + 1, sizeof(*h->windows));
	for (i = 0; i < h->nwindows; i++)
		conf_window_parse(cfg_getnstr(hs, "windows", (unsigned)i),
		    &h->windows[i]);
	if (given(hs, "online-deadline"))
		duration_parse(cfg_getstr(hs, "online-deadline"),
		    &h->online_deadline);
	duration_parse(cfg_getstr(hs, "max-online"), &h->max_online);
	duration_parse(cfg_getstr(b, "base"), &h->backoff_base);
	duration_parse(cfg_getstr(b, "ceiling"), &h->backoff_ceiling);
	h->give_up = (int)cfg_getint(b, "give-up");
	method_order(h, hs);
}

static struct leaf_conf *
fill(cfg_t *cfg, const char *path)
{
	struct leaf_conf *c;
	cfg_t *in = cfg_getsec(cfg, "inject"), *ln = cfg_getsec(cfg, "link");
	char host[256];
	const char *m;
	int i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->file = strdup(path);
	if (cfg_getstr(cfg, "hostname") != NULL)
		c->hostname = strdup(cfg_getstr(cfg, "hostname"));
	else {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy_(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		c->hostname = strdup(host);
	}
	c->spool = strdup(cfg_getstr(cfg, "spool"));
	m = cfg_getstr(in, "method");
	c->inject.method = strcmp(m, "smtp") == 0 ? INJECT_SMTP :
	    strcmp(m, "lmtp") == 0 ? INJECT_LMTP : INJECT_SENDMAIL;
	c->inject.command = dup_list(in, "command", &c->inject.ncommand);
	c->inject.server = given(in, "server") ? dup_or_null(in, "server") :
	    c->inject.method == INJECT_SMTP ? strdup("127.0.0.1:25") : NULL;
	duration_parse(cfg_getstr(in, "timeout"), &c->inject.timeout);
	c->inject.dsn_options = cfg_getbool(in, "dsn-options") == cfg_true;
	c->nhubs = (int)cfg_size(cfg, "hub");
	c->hubs = calloc((size_t)c->nhubs + 1, sizeof(*c->hubs));
	for (i = 0; i < c->nhubs; i++)
		fill_hub(&c->hubs[i], cfg_getnsec(cfg, "hub", (unsigned)i),
		    c->file);
	c->link_probe = dup_or_null(ln, "probe");
	duration_parse(cfg_getstr(ln, "every"), &c->link_every);
	if (given(ln, "down-command"))
		c->link_down = dup_list(ln, "down-command", &c->nlink_down);
	c->metrics = dup_or_null(cfg, "metrics");
	return c;
}

struct leaf_conf *
conf_leaf_load(const char *path, FILE *errs, int *nerr)
{
	struct leaf_conf *c = NULL;
	cfg_t *cfg;
	int rc;

	P.errs = errs;
	P.file = path;
	P.nerr = 0;
	if ((cfg = cfg_init(root_opts, CFGF_NONE)) == NULL) {
		fprintf(errs, "%s: cannot initialise the parser\n", path);
		*nerr = 1;
		return NULL;
	}
	cfg_set_error_function(cfg, errfn);
	set_validators(cfg);
	rc = cfg_parse(cfg, path);
	if (rc == CFG_FILE_ERROR) {
		fprintf(errs, "%s: %s\n", path, strerror(errno));
		P.nerr++;
	} else if (rc != CFG_SUCCESS && P.nerr == 0) {
		fprintf(errs, "%s: parse error\n", path);
		P.nerr++;
	} else if (rc == CFG_SUCCESS && braces_balanced(path, errs) == -1)
		P.nerr++;
	if (P.nerr == 0 && (c = fill(cfg, path)) == NULL) {
		fprintf(errs, "%s: out of memory\n", path);
		P.nerr++;
	}
	cfg_free(cfg);
	*nerr = P.nerr;
	return c;
}

static void
free_list(char **v, int n)
{
	int i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void
conf_leaf_free(struct leaf_conf *c)
{
	struct leaf_hub *h;
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nhubs; i++) {
		h = &c->hubs[i];
		free(h->name);
		free(h->etrn_server);
		free_list(h->etrn_targets, h->netrn_targets);
		free(h->etrn_user);
		free(h->etrn_secret);
		free(h->odmr_server);
		free_list(h->odmr_targets, h->nodmr_targets);
		free(h->odmr_user);
		free(h->odmr_secret);
		free(h->etrn_tls.ca);
		free(h->etrn_tls.name);
		free(h->odmr_tls.ca);
		free(h->odmr_tls.name);
		free(h->uucp_system);
		free(h->uucp_config);
		free_list(h->uucico, h->nuucico);
		free(h->ssh_server);
		free(h->ssh_user);
		free(h->ssh_dir);
		free(h->ssh_identity);
		free(h->ssh_known_hosts);
		free(h->windows);
	}
	free(c->hubs);
	free_list(c->inject.command, c->inject.ncommand);
	free(c->inject.server);
	free(c->hostname);
	free(c->spool);
	free(c->link_probe);
	free_list(c->link_down, c->nlink_down);
	free(c->metrics);
	free(c->file);
	free(c);
}

struct leaf_hub *
conf_leaf_hub(const struct leaf_conf *c, const char *name)
{
	int i;

	for (i = 0; i < c->nhubs; i++)
		if (strcmp(c->hubs[i].name, name) == 0)
			return &c->hubs[i];
	return NULL;
}
