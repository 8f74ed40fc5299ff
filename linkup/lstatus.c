/*
 * lstatus.c - bridge-linkup's status file, its Prometheus textfile and
 * the `status` listing (text and JSON).
 *
 * The file is lines of words: "site k=v...", "hub NAME k=v...",
 * "method HUB METHOD k=v..."; values are numbers or %XX-encoded text
 * without spaces; unknown keys and lines are ignored, so an older or
 * newer bridge-linkup can read it.  It is read with bounded lines and
 * size, changed only under status.lock, and replaced whole (tmp,
 * fsync, rename, fsync dir), so a reader never sees half of it; the
 * textfile is replaced the same way, as node_exporter expects.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linkup.h"
#include "log.h"
#include "util.h"

#define FILE_MAX	(1024 * 1024)
#define LINE_MAX_	4096
#define HUBS_MAX	1000

int
lstatus_dir(const struct leaf_conf *lc, char *buf, size_t len)
{
	if (path_build(buf, len, "%s/linkup", lc->spool) == -1 ||
	    dir_make(buf, 0700) == -1)
		return -1;
	return 0;
}

void
lstatus_free(struct lstatus *st)
{
	free(st->hubs);
	free(st->ms);
	memset(st, 0, sizeof(*st));
}

struct ls_hub *
lstatus_hub(struct lstatus *st, const char *hub)
{
	struct ls_hub *v;
	int i;

	for (i = 0; i < st->nhubs; i++)
		if (strcmp(st->hubs[i].name, hub) == 0)
			return &st->hubs[i];
	if (st->nhubs >= HUBS_MAX || (v = realloc(st->hubs,
	    (size_t)(st->nhubs + 1) * sizeof(*v))) == NULL)
		return NULL;
	st->hubs = v;
	memset(&v[st->nhubs], 0, sizeof(*v));
	strlcpy_(v[st->nhubs].name, hub, sizeof(v->name));
	return &v[st->nhubs++];
}

struct ls_method *
lstatus_method(struct lstatus *st, const char *hub, int method)
{
	struct ls_method *v;
	int i;

	for (i = 0; i < st->nms; i++)
		if (st->ms[i].method == method &&
		    strcmp(st->ms[i].hub, hub) == 0)
			return &st->ms[i];
	if (st->nms >= HUBS_MAX * METHOD_MAX || (v = realloc(st->ms,
	    (size_t)(st->nms + 1) * sizeof(*v))) == NULL)
		return NULL;
	st->ms = v;
	memset(&v[st->nms], 0, sizeof(*v));
	strlcpy_(v[st->nms].hub, hub, sizeof(v->hub));
	v[st->nms].method = method;
	v[st->nms].last_msgs = v[st->nms].last_bytes = -1;
	v[st->nms].ok_msgs = v[st->nms].ok_bytes = -1;
	v[st->nms].pending = -1;
	return &v[st->nms++];
}

/* --- encoding ------------------------------------------------------ */

static void
enc(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '%' || c == '=')
			fprintf(f, "%%%02X", c);
		else
			fputc(c, f);
	}
}

static void
dec(const char *s, char *out, size_t len)
{
	size_t o = 0;
	unsigned v;

	while (*s != '\0' && o + 1 < len) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2]) &&
		    sscanf(s + 1, "%2x", &v) == 1) {
			out[o++] = (char)(isprint((int)v) ? v : '?');
			s += 3;
		} else
			out[o++] = *s++;
	}
	out[o] = '\0';
}

/* --- reading ------------------------------------------------------- */

static long long
num(const char *v)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	return errno != 0 || end == v ? 0 : n;
}

static double
real(const char *v)
{
	char *end;
	double d = strtod(v, &end);

	return end == v || d < 0 || d > 1e9 ? 0 : d;
}

static void
site_kv(struct lstatus *st, const char *k, const char *v)
{
	if (strcmp(k, "link") == 0)
		st->link = num(v) > 0 ? 1 : num(v) == 0 ? 0 : -1;
	else if (strcmp(k, "link_since") == 0)
		st->link_since = (time_t)num(v);
	else if (strcmp(k, "daemon") == 0)
		st->daemon = (long)num(v);
	else if (strcmp(k, "updated") == 0)
		st->updated = (time_t)num(v);
}

static void
hub_kv(struct ls_hub *h, const char *k, const char *v)
{
	if (strcmp(k, "run_start") == 0)
		h->run_start = (time_t)num(v);
	else if (strcmp(k, "run_end") == 0)
		h->run_end = (time_t)num(v);
	else if (strcmp(k, "run_rc") == 0)
		h->run_rc = (int)num(v);
	else if (strcmp(k, "up_event") == 0)
		h->up_event = num(v) != 0;
	else if (strcmp(k, "failures") == 0)
		h->failures = (int)num(v);
	else if (strcmp(k, "retry_at") == 0)
		h->retry_at = (time_t)num(v);
	else if (strcmp(k, "next_run") == 0)
		h->next_run = (time_t)num(v);
	else if (strcmp(k, "last_exchange") == 0)
		h->last_exchange = (time_t)num(v);
	else if (strcmp(k, "runs") == 0)
		h->runs_total = num(v);
}

static void
method_kv(struct ls_method *m, const char *k, const char *v)
{
	static const struct {
		const char *k;
		size_t off;
	} ll[] = {
		{ "last_msgs", offsetof(struct ls_method, last_msgs) },
		{ "last_bytes", offsetof(struct ls_method, last_bytes) },
		{ "ok_msgs", offsetof(struct ls_method, ok_msgs) },
		{ "ok_bytes", offsetof(struct ls_method, ok_bytes) },
		{ "msgs_total", offsetof(struct ls_method, msgs_total) },
		{ "bytes_total", offsetof(struct ls_method, bytes_total) },
		{ "failures_total", offsetof(struct ls_method, failures_total) },
		{ "pending", offsetof(struct ls_method, pending) },
	};
	size_t i;

	for (i = 0; i < sizeof(ll) / sizeof(ll[0]); i++)
		if (strcmp(k, ll[i].k) == 0) {
			*(long long *)((char *)m + ll[i].off) = num(v);
			return;
		}
	if (strcmp(k, "last_attempt") == 0)
		m->last_attempt = (time_t)num(v);
	else if (strcmp(k, "last_rc") == 0)
		m->last_rc = (int)num(v);
	else if (strcmp(k, "last_secs") == 0)
		m->last_secs = real(v);
	else if (strcmp(k, "last_success") == 0)
		m->last_success = (time_t)num(v);
	else if (strcmp(k, "ok_secs") == 0)
		m->ok_secs = real(v);
	else if (strcmp(k, "last_error_at") == 0)
		m->last_error_at = (time_t)num(v);
	else if (strcmp(k, "last_error") == 0)
		dec(v, m->last_error, sizeof(m->last_error));
}

static int
method_code(const char *s)
{
	int i;

	for (i = 0; i < METHOD_MAX; i++)
		if (strcmp(s, conf_method_name(i)) == 0)
			return i;
	return -1;
}

/* parse_line - one line (modified in place). */
static void
parse_line(struct lstatus *st, char *line)
{
	char *w[3] = { NULL, NULL, NULL }, *p = line, *tok, *eq;
	struct ls_hub *h = NULL;
	struct ls_method *m = NULL;
	int n = 0, need, meth;

	if (*line == '#' || *line == '\0')
		return;
	while (n < 3 && (tok = strsep(&p, " ")) != NULL)
		if (*tok != '\0')
			w[n++] = tok;
	if (n == 0)
		return;
	need = strcmp(w[0], "site") == 0 ? 1 : strcmp(w[0], "hub") == 0 ? 2 :
	    strcmp(w[0], "method") == 0 ? 3 : 0;
	if (need == 0 || n < need)
		return;
	if (need == 2) {
		if (!name_is_safe(w[1]) || (h = lstatus_hub(st, w[1])) == NULL)
			return;
	} else if (need == 3) {
		if (!name_is_safe(w[1]) || (meth = method_code(w[2])) == -1 ||
		    (m = lstatus_method(st, w[1], meth)) == NULL)
			return;
	}
	/* the words after the names, then the rest of the line */
	for (n = need; n < 3 && w[n] != NULL; n++) {
		if ((eq = strchr(w[n], '=')) == NULL)
			continue;
		*eq++ = '\0';
		need == 1 ? site_kv(st, w[n], eq) : need == 2 ?
		    hub_kv(h, w[n], eq) : method_kv(m, w[n], eq);
	}
	while ((tok = strsep(&p, " ")) != NULL) {
		if ((eq = strchr(tok, '=')) == NULL)
			continue;
		*eq++ = '\0';
		need == 1 ? site_kv(st, tok, eq) : need == 2 ?
		    hub_kv(h, tok, eq) : method_kv(m, tok, eq);
	}
}

int
lstatus_read(const struct leaf_conf *lc, struct lstatus *st)
{
	char path[PATH_MAX], *buf, *line, *p;
	ssize_t n;
	size_t have = 0;
	int fd;

	memset(st, 0, sizeof(*st));
	st->link = -1;
	if (path_build(path, sizeof(path), "%s/linkup/status", lc->spool) ==
	    -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((buf = malloc(FILE_MAX + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (have < FILE_MAX && (n = read(fd, buf + have,
	    FILE_MAX - have)) > 0)
		have += (size_t)n;
	close(fd);
	buf[have] = '\0';
	for (p = buf; (line = strsep(&p, "\n")) != NULL;)
		if (strlen(line) < LINE_MAX_)
			parse_line(st, line);
	free(buf);
	return 0;
}

/* --- writing ------------------------------------------------------- */

static void
write_status(const struct lstatus *st, FILE *f)
{
	const struct ls_hub *h;
	const struct ls_method *m;
	int i;

	fprintf(f, "# bridge-linkup status: see bridge-linkup(8); "
	    "rewritten whole, do not edit\n");
	fprintf(f, "site link=%d link_since=%lld daemon=%ld updated=%lld\n",
	    st->link, (long long)st->link_since, st->daemon,
	    (long long)st->updated);
	for (i = 0; i < st->nhubs; i++) {
		h = &st->hubs[i];
		fprintf(f, "hub %s run_start=%lld run_end=%lld run_rc=%d "
		    "up_event=%d failures=%d retry_at=%lld next_run=%lld "
		    "last_exchange=%lld runs=%lld\n", h->name,
		    (long long)h->run_start, (long long)h->run_end, h->run_rc,
		    h->up_event, h->failures, (long long)h->retry_at,
		    (long long)h->next_run, (long long)h->last_exchange,
		    h->runs_total);
	}
	for (i = 0; i < st->nms; i++) {
		m = &st->ms[i];
		fprintf(f, "method %s %s last_attempt=%lld last_rc=%d "
		    "last_secs=%.3f last_msgs=%lld last_bytes=%lld "
		    "last_success=%lld ok_secs=%.3f ok_msgs=%lld "
		    "ok_bytes=%lld msgs_total=%lld bytes_total=%lld "
		    "failures_total=%lld pending=%lld last_error_at=%lld "
		    "last_error=", m->hub, conf_method_name(m->method),
		    (long long)m->last_attempt, m->last_rc, m->last_secs,
		    m->last_msgs, m->last_bytes, (long long)m->last_success,
		    m->ok_secs, m->ok_msgs, m->ok_bytes, m->msgs_total,
		    m->bytes_total, m->failures_total, m->pending,
		    (long long)m->last_error_at);
		enc(f, m->last_error);
		fputc('\n', f);
	}
}

/*
 * replace - write path whole through a tmp file beside it: fill(f),
 * fflush, fsync, rename, fsync the directory.
 */
static int
replace(const char *path, void (*fill)(FILE *f, const void *a),
    const void *a)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd, e;

	if (path_build(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) == -1)
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0644)) == -1)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	fill(f, a);
	if (fflush(f) == EOF || ferror(f) || fsync(fd) == -1) {
		e = errno;
		fclose(f);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (fclose(f) == EOF || rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return io_fsync_parent(path);
}

static void
fill_status(FILE *f, const void *a)
{
	write_status(a, f);
}

struct metrics_arg {
	const struct leaf_conf *lc;
	const struct lstatus *st;
};

static void
fill_metrics(FILE *f, const void *a)
{
	const struct metrics_arg *m = a;

	lstatus_metrics(m->lc, m->st, f);
}

int
lstatus_update(const struct leaf_conf *lc,
    void (*fn)(struct lstatus *st, void *arg), void *arg)
{
	struct lstatus st;
	struct metrics_arg ma;
	char dir[PATH_MAX], path[PATH_MAX];
	int lockfd, rc = 0;

	if (lstatus_dir(lc, dir, sizeof(dir)) == -1 ||
	    path_build(path, sizeof(path), "%s/status.lock", dir) == -1 ||
	    (lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		log_warn("%s/linkup: cannot lock the status file", lc->spool);
		return -1;
	}
	while (flock(lockfd, LOCK_EX) == -1 && errno == EINTR)
		;
	if (lstatus_read(lc, &st) == -1)
		log_warn("%s/status: unreadable, started afresh", dir);
	fn(&st, arg);
	st.updated = sched_now();
	if (path_build(path, sizeof(path), "%s/status", dir) == -1 ||
	    replace(path, fill_status, &st) == -1) {
		log_warn("%s/status", dir);
		rc = -1;
	}
	ma.lc = lc;
	ma.st = &st;
	if (lc->metrics != NULL && replace(lc->metrics, fill_metrics,
	    &ma) == -1) {
		log_warn("metrics %s", lc->metrics);
		rc = -1;
	}
	lstatus_free(&st);
	close(lockfd);
	return rc;
}

/* --- metrics ------------------------------------------------------- */

static void
metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP mailbridge_leaf_%s %s\n", name, help);
	fprintf(f, "# TYPE mailbridge_leaf_%s %s\n", name, type);
}

/* per_method - one metric over every method record that has a value. */
static void
per_method(FILE *f, const struct lstatus *st, const char *name,
    const char *type, const char *help, int which)
{
	const struct ls_method *m;
	long long v;
	int i, head = 0;

	for (i = 0; i < st->nms; i++) {
		m = &st->ms[i];
		switch (which) {
		case 0: v = m->last_attempt; break;
		case 1: v = m->last_success; break;
		case 2: v = m->msgs_total; break;
		case 3: v = m->bytes_total; break;
		case 4: v = m->failures_total; break;
		case 5: v = m->last_attempt ? m->last_rc : -1; break;
		default: v = -1;
		}
		if ((which <= 1 && v == 0) || v < 0)
			continue;
		if (!head++)
			metric_head(f, name, type, help);
		fprintf(f, "mailbridge_leaf_%s{hub=\"%s\",method=\"%s\"} %lld\n",
		    name, m->hub, conf_method_name(m->method), v);
	}
}

void
lstatus_metrics(const struct leaf_conf *lc, const struct lstatus *st,
    FILE *f)
{
	const struct ls_method *m;
	const struct ls_hub *h;
	int i, head;

	(void)lc;
	if (st->link != -1) {
		metric_head(f, "link_up", "gauge",
		    "Whether bridge-linkup sees the link up (1) or down (0).");
		fprintf(f, "mailbridge_leaf_link_up %d\n", st->link);
	}
	per_method(f, st, "last_attempt_timestamp_seconds", "gauge",
	    "When a method last started, Unix time.", 0);
	per_method(f, st, "last_success_timestamp_seconds", "gauge",
	    "When a method last drained, Unix time.", 1);
	per_method(f, st, "last_exit_code", "gauge",
	    "The sysexits code of a method's last attempt (0 drained, "
	    "75 try later).", 5);
	per_method(f, st, "messages_received_total", "counter",
	    "Message copies received by a method.", 2);
	per_method(f, st, "bytes_received_total", "counter",
	    "Octets received by a method.", 3);
	per_method(f, st, "failures_total", "counter",
	    "Attempts of a method that did not drain.", 4);
	for (i = 0, head = 0; i < st->nms; i++) {
		m = &st->ms[i];
		if (m->last_attempt == 0)
			continue;
		if (!head++)
			metric_head(f, "last_duration_seconds", "gauge",
			    "How long a method's last attempt took.");
		fprintf(f, "mailbridge_leaf_last_duration_seconds{hub=\"%s\","
		    "method=\"%s\"} %.3f\n", m->hub,
		    conf_method_name(m->method), m->last_secs);
	}
	for (i = 0, head = 0; i < st->nms; i++) {
		m = &st->ms[i];
		if (m->method != METHOD_ETRN || m->pending < 0)
			continue;
		if (!head++)
			metric_head(f, "etrn_pending_messages", "gauge",
			    "The hub's last count of messages pending for "
			    "ETRN (0 after 251).");
		fprintf(f, "mailbridge_leaf_etrn_pending_messages{hub=\"%s\"} "
		    "%lld\n", m->hub, m->pending);
	}
	if (st->nhubs > 0) {
		metric_head(f, "consecutive_failures", "gauge",
		    "Runs of a hub in a row that did not drain.");
		for (i = 0; i < st->nhubs; i++)
			fprintf(f, "mailbridge_leaf_consecutive_failures"
			    "{hub=\"%s\"} %d\n", st->hubs[i].name,
			    st->hubs[i].failures);
		metric_head(f, "runs_total", "counter", "Runs of a hub.");
		for (i = 0; i < st->nhubs; i++)
			fprintf(f, "mailbridge_leaf_runs_total{hub=\"%s\"} "
			    "%lld\n", st->hubs[i].name,
			    st->hubs[i].runs_total);
	}
	for (i = 0, head = 0; i < st->nhubs; i++) {
		h = &st->hubs[i];
		if (h->next_run == 0)
			continue;
		if (!head++)
			metric_head(f, "next_run_timestamp_seconds", "gauge",
			    "When the daemon will next run a hub, Unix time.");
		fprintf(f, "mailbridge_leaf_next_run_timestamp_seconds"
		    "{hub=\"%s\"} %lld\n", h->name, (long long)h->next_run);
	}
}

/* --- the listing ---------------------------------------------------- */

const char *
linkup_rc_name(int rc)
{
	switch (rc) {
	case EXIT_OK:		return "ok";
	case EXIT_TEMPFAIL:	return "try later";
	case EXIT_NOPERM:	return "refused";
	case EXIT_CONFIG:	return "configuration error";
	case EXIT_UNAVAIL:	return "unavailable";
	case EXIT_DATAERR:	return "damaged data";
	case EXIT_IOERR:	return "local I/O error";
	case EXIT_SOFTWARE:	return "internal error";
	case EXIT_OSERR:	return "system error";
	default:		return "failed";
	}
}

static char *
when(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0) {
		strlcpy_(buf, "never", len);
		return buf;
	}
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static void
amounts(FILE *f, long long msgs, long long bytes, double secs)
{
	char sz[16];

	if (msgs >= 0)
		fprintf(f, ", %lld message%s", msgs, msgs == 1 ? "" : "s");
	if (bytes >= 0 && bytes < 1024)
		fprintf(f, ", %lld bytes", bytes);
	else if (bytes >= 0)
		fprintf(f, ", %s", size_format((uint64_t)bytes, sz,
		    sizeof(sz)));
	fprintf(f, " in %.1fs", secs);
}

/* daemon_alive - is the daemon the file names still running? */
static int
daemon_alive(const struct lstatus *st)
{
	return st->daemon > 0 && (kill((pid_t)st->daemon, 0) == 0 ||
	    errno == EPERM);
}

/* next_run - what the listing says about the hub's next run. */
static time_t
next_run(const struct leaf_hub *h, const struct ls_hub *sh,
    const struct lstatus *st, int *sched)
{
	*sched = daemon_alive(st);
	if (*sched && sh != NULL && sh->next_run != 0)
		return sh->next_run;
	if (sh != NULL && sh->failures > 0 && sh->retry_at > 0)
		return sched_window_next(h, sh->retry_at);
	if (sh == NULL || sh->run_end == 0)
		return 0;
	return sched_window_next(h, sh->run_end + h->poll);
}

static void
text_method(FILE *f, const struct leaf_hub *h, const struct ls_method *m)
{
	char a[32];

	fprintf(f, "  %-6s last attempt %s", conf_method_name(m->method),
	    when(m->last_attempt, a, sizeof(a)));
	if (m->last_attempt != 0) {
		fprintf(f, ": %s", linkup_rc_name(m->last_rc));
		if (m->last_rc != 0)
			fprintf(f, " (%d)", m->last_rc);
		amounts(f, m->last_msgs, m->last_bytes, m->last_secs);
	}
	if (m->method == METHOD_ETRN && m->pending >= 0)
		fprintf(f, "; hub pending %lld", m->pending);
	fputc('\n', f);
	fprintf(f, "         last success %s", when(m->last_success, a,
	    sizeof(a)));
	if (m->last_success != 0)
		amounts(f, m->ok_msgs, m->ok_bytes, m->ok_secs);
	fputc('\n', f);
	if (m->last_error_at != 0)
		fprintf(f, "         last error %s: %s\n",
		    when(m->last_error_at, a, sizeof(a)), m->last_error);
	(void)h;
}

static void
text_hub(FILE *f, const struct leaf_conf *lc, const struct leaf_hub *h,
    const struct lstatus *st)
{
	const struct ls_hub *sh = NULL;
	const struct ls_method *m;
	char a[32], b[32];
	time_t nx;
	int i, j, sched;

	for (i = 0; i < st->nhubs; i++)
		if (strcmp(st->hubs[i].name, h->name) == 0)
			sh = &st->hubs[i];
	fprintf(f, "hub %s: last run %s", h->name,
	    when(sh ? sh->run_start : 0, a, sizeof(a)));
	if (sh != NULL && sh->run_start != 0)
		fprintf(f, "%s, %s", sh->up_event ? " (up event)" : "",
		    sh->run_end >= sh->run_start ? linkup_rc_name(sh->run_rc) :
		    lstatus_running(lc, h->name) ? "running" :
		    "interrupted (the process running it died)");
	fputc('\n', f);
	nx = next_run(h, sh, st, &sched);
	fprintf(f, "         failures in a row %d", sh ? sh->failures : 0);
	if (sh != NULL && sh->failures > 0)
		fprintf(f, ", retry not before %s", when(sh->retry_at, b,
		    sizeof(b)));
	if (sched)
		fprintf(f, "; next run %s\n", nx ? when(nx, a, sizeof(a)) :
		    "at the next up event");
	else
		fprintf(f, "; next poll %s\n", nx ? "when the daemon runs" :
		    "none");
	for (j = 0; j < h->nmethods; j++) {
		m = NULL;
		for (i = 0; i < st->nms; i++)
			if (st->ms[i].method == h->methods[j] &&
			    strcmp(st->ms[i].hub, h->name) == 0)
				m = &st->ms[i];
		if (m != NULL)
			text_method(f, h, m);
		else
			fprintf(f, "  %-6s never run\n",
			    conf_method_name(h->methods[j]));
	}
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
json_time(FILE *f, const char *key, time_t t)
{
	char b[32];
	struct tm tm;

	if (t == 0) {
		fprintf(f, "\"%s\": null", key);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "\"%s\": %lld, \"%s_utc\": \"%s\"", key, (long long)t, key,
	    b);
}

static void
json_num(FILE *f, const char *key, long long v)
{
	if (v < 0)
		fprintf(f, "\"%s\": null", key);
	else
		fprintf(f, "\"%s\": %lld", key, v);
}

static void
json_method(FILE *f, const struct ls_method *m, int method)
{
	fprintf(f, "{\"method\": \"%s\"", conf_method_name(method));
	if (m == NULL) {
		fprintf(f, ", \"last_attempt\": null}");
		return;
	}
	fprintf(f, ", \"last_attempt\": {");
	json_time(f, "time", m->last_attempt);
	fprintf(f, ", \"exit\": %d, \"result\": \"%s\", ", m->last_rc,
	    linkup_rc_name(m->last_rc));
	json_num(f, "messages", m->last_msgs);
	fprintf(f, ", ");
	json_num(f, "bytes", m->last_bytes);
	fprintf(f, ", \"seconds\": %.3f}, \"last_success\": {", m->last_secs);
	json_time(f, "time", m->last_success);
	fprintf(f, ", ");
	json_num(f, "messages", m->ok_msgs);
	fprintf(f, ", ");
	json_num(f, "bytes", m->ok_bytes);
	fprintf(f, ", \"seconds\": %.3f}, \"last_error\": {", m->ok_secs);
	json_time(f, "time", m->last_error_at);
	fprintf(f, ", \"text\": ");
	json_str(f, m->last_error);
	fprintf(f, "}, ");
	json_num(f, "hub_pending", m->pending);
	fprintf(f, ", \"messages_total\": %lld, \"bytes_total\": %lld, "
	    "\"failures_total\": %lld}", m->msgs_total, m->bytes_total,
	    m->failures_total);
}

static void
json_hub(FILE *f, const struct leaf_hub *h, const struct lstatus *st)
{
	const struct ls_hub *sh = NULL;
	const struct ls_method *m;
	int i, j, sched;
	time_t nx;

	for (i = 0; i < st->nhubs; i++)
		if (strcmp(st->hubs[i].name, h->name) == 0)
			sh = &st->hubs[i];
	nx = next_run(h, sh, st, &sched);
	fprintf(f, "{\"hub\": ");
	json_str(f, h->name);
	fprintf(f, ", \"last_run\": {");
	json_time(f, "start", sh ? sh->run_start : 0);
	fprintf(f, ", ");
	json_time(f, "end", sh ? sh->run_end : 0);
	fprintf(f, ", \"exit\": %d, \"up_event\": %s}, \"failures\": %d, ",
	    sh ? sh->run_rc : 0, sh && sh->up_event ? "true" : "false",
	    sh ? sh->failures : 0);
	json_time(f, "retry_at", sh && sh->failures ? sh->retry_at : 0);
	fprintf(f, ", ");
	json_time(f, "next_run", sched ? nx : 0);
	fprintf(f, ", \"methods\": [");
	for (j = 0; j < h->nmethods; j++) {
		m = NULL;
		for (i = 0; i < st->nms; i++)
			if (st->ms[i].method == h->methods[j] &&
			    strcmp(st->ms[i].hub, h->name) == 0)
				m = &st->ms[i];
		fprintf(f, "%s", j ? ", " : "");
		json_method(f, m, h->methods[j]);
	}
	fprintf(f, "]}");
}

void
lstatus_print(const struct leaf_conf *lc, const struct lstatus *st,
    char **hubs, int n, int json, FILE *f)
{
	const struct leaf_hub *h;
	const char *state;
	char a[32];
	int i, k = 0, alive = daemon_alive(st);

	state = st->link == 1 ? "up" : st->link == 0 ? "down" : "unknown";
	if (json) {
		fprintf(f, "{\"link\": {\"state\": \"%s\", ", state);
		json_time(f, "since", st->link_since);
		fprintf(f, ", \"daemon\": ");
		if (alive)
			fprintf(f, "%ld}", st->daemon);
		else
			fprintf(f, "null}");
		fprintf(f, ", \"hubs\": [");
	} else {
		fprintf(f, "link: %s", state);
		if (st->link != -1 && st->link_since != 0)
			fprintf(f, " since %s", when(st->link_since, a,
			    sizeof(a)));
		if (alive)
			fprintf(f, " (daemon pid %ld)\n", st->daemon);
		else
			fprintf(f, " (no daemon running)\n");
	}
	for (i = 0; i < (n > 0 ? n : lc->nhubs); i++) {
		h = n > 0 ? conf_leaf_hub(lc, hubs[i]) : &lc->hubs[i];
		if (h == NULL)
			continue;
		if (json) {
			fprintf(f, "%s", k++ ? ", " : "");
			json_hub(f, h, st);
		} else
			text_hub(f, lc, h, st);
	}
	if (json)
		fprintf(f, "]}\n");
}

/*
 * --- the hubs' run locks (hub.HUB.lock beside the status file) ------
 * The prefix keeps them apart from status.lock and ssh.lock, whatever
 * the hub is called (a hub named "ssh" took the SSH pulls' turn lock
 * with its run lock, and its pull waited for itself).
 */

int
lstatus_lock_path(const struct leaf_conf *lc, const char *hub, char *buf,
    size_t len)
{
	char dir[PATH_MAX];

	if (lstatus_dir(lc, dir, sizeof(dir)) == -1)
		return -1;
	return path_build(buf, len, "%s/hub.%s.lock", dir, hub);
}

int
lstatus_lock_held(const char *path, pid_t *pid)
{
	char buf[32];
	ssize_t n;
	int fd, h;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	h = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	if (!h)
		flock(fd, LOCK_UN);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	*pid = (pid_t)strtol(buf, NULL, 10);
	return h;
}

int
lstatus_running(const struct leaf_conf *lc, const char *hub)
{
	char path[PATH_MAX];
	pid_t pid;

	return lstatus_lock_path(lc, hub, path, sizeof(path)) == 0 &&
	    lstatus_lock_held(path, &pid);
}
