/*
 * inject.c - the injection engine: one message to the local MTA by the
 * sendmail interface (execve command -f SENDER -- RCPT..., the message
 * on stdin with LF line ends) or by SMTP or LMTP through the client
 * engine etrn/smtpc (EHLO or LHLO, MAIL, RCPT, DATA or BDAT, per-
 * recipient replies after the data for LMTP; BODY=8BITMIME when offered
 * and the message has 8-bit octets).  One session is kept open from one
 * message to the next; messages held in a temp file are mapped for the
 * time of their send.
 *
 * Outcomes: sendmail exit 0 is ok; 64..69 (usage, data, no input, no
 * user, no host, unavailable) are permanent; 70..78 (software, OS, I/O,
 * tempfail, protocol, no permission, config), other codes and signals
 * are temporary, so an odd failure keeps mail rather than bouncing it.
 * SMTP/LMTP: 2xx ok, 4xx temporary, 5xx permanent, per recipient;
 * no connection, a timeout or a lost session is temporary.  A kept
 * session found dead is tried once more on a new connection, only when
 * none of the message's data went out (else the MTA may have it and it
 * stays temporary).  Every wait is bounded by the configured timeout
 * (the final dot by at least 10 minutes, RFC 5321 4.5.3.2).
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inject.h"
#include "smtpc.h"

#define CHUNK		(64 * 1024)

extern char **environ;

struct injector {
	const struct leaf_inject *cf;
	char	helo[256];
	struct smtpc_opts o;
	struct smtpc *c;		/* the kept SMTP/LMTP session or NULL */
};

/* --- results ------------------------------------------------------- */

enum result
inject_exit_result(int status, char *code, size_t len)
{
	static const char *const perm[] = {
		"5.3.0", "5.6.0", "5.3.0", "5.1.1", "5.1.2", "5.3.0"
	};

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(code, len, "2.0.0");
		return RS_OK;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) >= 64 &&
	    WEXITSTATUS(status) <= 69) {
		snprintf(code, len, "%s", perm[WEXITSTATUS(status) - 64]);
		return RS_PERM;
	}
	snprintf(code, len, "4.3.0");
	return RS_TEMP;
}

static void
set_rcpt(struct inject_rcpt *r, enum result rs, const char *status,
    const char *diag)
{
	r->rs = rs;
	snprintf(r->status, sizeof(r->status), "%s", status);
	snprintf(r->diag, sizeof(r->diag), "%s", diag);
}

static enum result
overall(struct inject_rcpt *r, int n)
{
	int i, temp = 0, perm = 0;

	for (i = 0; i < n; i++) {
		temp += r[i].rs == RS_TEMP;
		perm += r[i].rs == RS_PERM;
	}
	return temp ? RS_TEMP : perm ? RS_PERM : RS_OK;
}

/* opts_from - smtpc's options: the inject timeout for every step. */
static void
opts_from(const struct leaf_inject *cf, struct smtpc_opts *o)
{
	long t = cf->timeout * 1000;

	smtpc_opts_default(o);
	o->lmtp = cf->method == INJECT_LMTP;
	o->to.connect = o->to.greeting = o->to.helo = t;
	o->to.mail = o->to.rcpt = o->to.data = o->to.block = t;
	o->to.dot = t > 600 * 1000 ? t : 600 * 1000;
	o->to.quit = t < 10 * 1000 ? t : 10 * 1000;
}

struct injector *
inject_new(const struct leaf_inject *cf, const char *helo)
{
	struct injector *ij;

	if ((ij = calloc(1, sizeof(*ij))) == NULL)
		return NULL;
	ij->cf = cf;
	opts_from(cf, &ij->o);
	snprintf(ij->helo, sizeof(ij->helo), "%s", helo);
	signal(SIGPIPE, SIG_IGN);
	return ij;
}

/* --- sendmail ------------------------------------------------------ */

/* lf_only - copy src to dst dropping each CR that precedes LF. */
static size_t
lf_only(char *dst, const char *src, size_t n, int *held_cr, int last)
{
	size_t i, o = 0;

	if (*held_cr && n > 0 && src[0] != '\n')
		dst[o++] = '\r';
	if (*held_cr && n == 0 && last)
		dst[o++] = '\r';
	*held_cr = 0;
	for (i = 0; i < n; i++) {
		if (src[i] == '\r') {
			if (i + 1 < n) {
				if (src[i + 1] != '\n')
					dst[o++] = '\r';
			} else if (last)
				dst[o++] = '\r';
			else
				*held_cr = 1;
			continue;
		}
		dst[o++] = src[i];
	}
	return o;
}

/* The DSN options of one sendmail call (sendmail_dsn). */
struct sm_dsn {
	char	notify[40];		/* "-N" argument, or "" */
	const char *ret;		/* "-R" argument, or NULL */
	const char *envid;		/* "-V" argument, or NULL */
};

/*
 * sendmail_dsn - -N, -R and -V for r[0..n-1] when the command takes
 * them (RET and ENVID are the message's, in r[0].env); sets
 * r[i].dsn_passed when the NOTIFY of r[i] went on the command line.
 */
static void
sendmail_dsn(const struct leaf_inject *cf, struct inject_rcpt *r, int n,
    struct sm_dsn *d)
{
	const struct dsnenv *e = r[0].env;
	char x[3 * QENV_ENVID_MAX + 1];
	unsigned notify;
	size_t k;
	int i;

	memset(d, 0, sizeof(*d));
	if (!cf->dsn_options || e == NULL)
		return;
	if (e->ret != QRET_NONE)
		d->ret = e->ret == QRET_FULL ? "full" : "hdrs";
	if (e->envid[0] != '\0' && xtext_encode(e->envid, x, sizeof(x)) == 0 &&
	    strcmp(x, e->envid) == 0)
		d->envid = e->envid;
	notify = e->notify;
	for (i = 0; i < n; i++)
		if (r[i].env == NULL || r[i].env->notify != notify)
			return;
	if (notify != 0) {
		qnotify_format(notify, d->notify, sizeof(d->notify));
		for (k = 0; d->notify[k] != '\0'; k++)
			d->notify[k] = (char)tolower((unsigned char)d->notify[k]);
	}
	for (i = 0; i < n; i++)
		r[i].dsn_passed = 1;
}

static char **
sendmail_argv(const struct leaf_inject *cf, const char *sender,
    struct inject_rcpt *r, int n, const struct sm_dsn *d)
{
	char **argv;
	int i, a = 0;

	if ((argv = calloc((size_t)(cf->ncommand + n + 10), sizeof(*argv))) ==
	    NULL)
		return NULL;
	for (i = 0; i < cf->ncommand; i++)
		argv[a++] = cf->command[i];
	if (d->notify[0] != '\0') {
		argv[a++] = "-N";
		argv[a++] = (char *)d->notify;
	}
	if (d->ret != NULL) {
		argv[a++] = "-R";
		argv[a++] = (char *)d->ret;
	}
	if (d->envid != NULL) {
		argv[a++] = "-V";
		argv[a++] = (char *)d->envid;
	}
	argv[a++] = "-f";
	argv[a++] = sender[0] != '\0' ? (char *)sender : "<>";
	argv[a++] = "--";
	for (i = 0; i < n; i++)
		argv[a++] = (char *)r[i].addr;
	argv[a] = NULL;
	return argv;
}

static pid_t
sendmail_spawn(char **argv, int *to_child, int *from_child)
{
	int in[2], err[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(err, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if ((pid = fork()) == 0) {
		if (dup2(in[0], 0) == -1 || dup2(err[1], 1) == -1 ||
		    dup2(err[1], 2) == -1)
			_exit(71);
		execve(argv[0], argv, environ);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(71);
	}
	close(in[0]);
	close(err[1]);
	if (pid == -1) {
		close(in[1]);
		close(err[0]);
		return -1;
	}
	*to_child = in[1];
	*from_child = err[0];
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	return pid;
}

/* capture - keep the start of what the child says, drop the rest. */
static int
capture(int fd, char *keep, size_t *kept, size_t cap)
{
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0)
		return n == -1 && errno == EINTR ? 1 : 0;
	if (*kept + 1 < cap) {
		size_t c = (size_t)n < cap - 1 - *kept ? (size_t)n :
		    cap - 1 - *kept;
		memcpy(keep + *kept, buf, c);
		*kept += c;
		keep[*kept] = '\0';
	}
	return 1;
}

/*
 * sendmail_feed - write the message (LF line ends) to the child while
 * reading its output; -1 on a timeout or write error.
 */
static int
sendmail_feed(struct injector *ij, int to, int from, const struct bundle_msg *m,
    char *said, size_t saidlen)
{
	static char raw[CHUNK], lf[CHUNK + 1];
	struct pollfd pf[2];
	uint64_t off = 0;
	size_t have = 0, done = 0, kept = 0;
	ssize_t n;
	int held = 0, open_out = 1, open_in = 1;

	said[0] = '\0';
	while (open_out || open_in) {
		if (open_in && done == have && off >= m->size) {
			close(to);
			open_in = 0;
			continue;
		}
		if (open_in && done == have) {
			if ((n = bundle_msg_pread(m, raw, CHUNK, off)) <= 0)
				return -1;
			off += (uint64_t)n;
			have = lf_only(lf, raw, (size_t)n, &held, off >= m->size);
			done = 0;
			continue;
		}
		pf[0].fd = open_in ? to : -1;
		pf[0].events = POLLOUT;
		pf[1].fd = open_out ? from : -1;
		pf[1].events = POLLIN;
		if ((n = poll(pf, 2, (int)ij->cf->timeout * 1000)) == 0)
			return -1;
		if (n == -1 && errno != EINTR)
			return -1;
		if (open_out && (pf[1].revents & (POLLIN | POLLHUP)))
			open_out = capture(from, said, &kept, saidlen);
		if (open_in && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(to, lf + done, have - done);
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				close(to);	/* it stopped reading: see status */
				open_in = 0;
			} else if (n > 0)
				done += (size_t)n;
		}
	}
	return 0;
}

static void
first_line(char *s)
{
	size_t i;

	s[strcspn(s, "\r\n")] = '\0';
	for (i = 0; s[i] != '\0'; i++)
		if (!isprint((unsigned char)s[i]))
			s[i] = '?';
}

static enum result
inject_sendmail(struct injector *ij, const char *sender,
    struct inject_rcpt *r, int n, const struct bundle_msg *m, int *down)
{
	char **argv, said[300], code[16], diag[INJECT_DIAG_MAX];
	int to, from, status, i, fed;
	struct sm_dsn dsn;
	pid_t pid;
	enum result rs;

	sendmail_dsn(ij->cf, r, n, &dsn);
	if ((argv = sendmail_argv(ij->cf, sender, r, n, &dsn)) == NULL ||
	    (pid = sendmail_spawn(argv, &to, &from)) == -1) {
		free(argv);
		for (i = 0; i < n; i++)
			set_rcpt(&r[i], RS_TEMP, "4.3.0",
			    "x-unix; cannot start the sendmail command");
		*down = 1;
		return RS_TEMP;
	}
	free(argv);
	fed = sendmail_feed(ij, to, from, m, said, sizeof(said));
	if (fed == -1) {
		kill(pid, SIGKILL);
		close(to);
	}
	close(from);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	first_line(said);
	rs = fed == -1 ? RS_TEMP : inject_exit_result(status, code,
	    sizeof(code));
	if (fed == -1)
		snprintf(diag, sizeof(diag), "x-unix; timeout feeding %s",
		    ij->cf->command[0]);
	else if (WIFEXITED(status))
		snprintf(diag, sizeof(diag), "x-unix; %s exit %d%s%s",
		    ij->cf->command[0], WEXITSTATUS(status),
		    said[0] ? ": " : "", said);
	else
		snprintf(diag, sizeof(diag), "x-unix; %s killed by signal %d",
		    ij->cf->command[0], WTERMSIG(status));
	for (i = 0; i < n; i++)
		set_rcpt(&r[i], rs, rs == RS_TEMP ? "4.3.0" : code, diag);
	if (rs == RS_TEMP)
		*down = 1;
	return rs;
}

/* --- SMTP and LMTP (etrn/smtpc) ---------------------------------- */

/* session_open - connect, greeting, EHLO (HELO fallback) or LHLO. */
static int
session_open(struct injector *ij, struct smtpc_reply *why)
{
	size_t len;

	if (smtpc_connect(ij->cf->server, 25, &ij->o, &ij->c, why) != RS_OK)
		return -1;
	if (smtpc_greeting(ij->c, why) == RS_OK &&
	    smtpc_hello(ij->c, ij->helo, why) == RS_OK)
		return 0;
	len = strlen(why->text);
	if (why->code != 0)
		snprintf(why->text + len, sizeof(why->text) - len,
		    " (from %s)", smtpc_relay(ij->c));
	smtpc_quit(ij->c);
	ij->c = NULL;
	return -1;
}

/* msg_map - m's octets in one piece: in memory, or its file mapped. */
static int
msg_map(const struct bundle_msg *m, struct smtpc_msg *sm)
{
	void *p;

	sm->data = m->size > 0 ? m->mem : "";
	sm->len = (size_t)m->size;
	if (m->fd == -1 || m->size == 0)
		return 0;
	if (m->size > SIZE_MAX) {
		errno = EFBIG;
		return -1;
	}
	p = mmap(NULL, (size_t)m->size, PROT_READ, MAP_PRIVATE, m->fd, 0);
	if (p == MAP_FAILED)
		return -1;
	sm->data = p;
	return 0;
}

static void
msg_unmap(const struct bundle_msg *m, struct smtpc_msg *sm)
{
	if (m->fd != -1 && m->size > 0)
		munmap((void *)sm->data, sm->len);
}

static int
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return 1;
	return 0;
}

/* one_next - the feed of one message: the message, then NULL. */
static struct smtpc_msg *
one_next(void *arg)
{
	struct smtpc_msg **mp = arg, *m = *mp;

	*mp = NULL;
	return m;
}

static void
one_done(void *arg, struct smtpc_msg *m)
{
	(void)arg;
	(void)m;
}

/* fail_all - every recipient gets rs with the text. */
static void
fail_all(struct inject_rcpt *r, int n, enum result rs, const char *st,
    const char *text)
{
	char diag[INJECT_DIAG_MAX];
	int i;

	snprintf(diag, sizeof(diag), "smtp; %.380s", text);
	for (i = 0; i < n; i++)
		set_rcpt(&r[i], rs, st, diag);
}

/*
 * deliver - sm over the kept session or a new one.  A kept session
 * that turns out dead is tried once more afresh, but only when none of
 * the data went out: else the MTA may have the message.  Returns 0
 * (sm->result filled), 1 when the session was lost (sm->result says
 * why), -1 when none could be opened (why says why).
 */
static int
deliver(struct injector *ij, struct smtpc_msg *sm, struct smtpc_reply *why)
{
	struct smtpc_msg *pm;
	struct smtpc_feed feed = { one_next, one_done, &pm };
	int reused;

	for (;;) {
		if (ij->c != NULL && !smtpc_check(ij->c)) {
			smtpc_close(ij->c);
			ij->c = NULL;
		}
		reused = ij->c != NULL;
		if (!reused && session_open(ij, why) == -1)
			return -1;
		pm = sm;
		if (smtpc_send(ij->c, &feed) == RS_OK)
			return 0;
		smtpc_close(ij->c);
		ij->c = NULL;
		if (pm != NULL) {	/* not handed out: cannot happen */
			snprintf(why->text, sizeof(why->text), "session lost");
			return -1;
		}
		if (!reused || sm->data_sent)
			return 1;
	}
}

/*
 * dsn_params - the MAIL parameters (of r[0].env) into mp and each
 * recipient's RCPT parameters into rp[i] (malloc'ed, NULL for none),
 * for a server that offers DSN.  -1 when out of memory.
 */
static int
dsn_params(const struct inject_rcpt *r, int n, char *mp, size_t mplen,
    char **rp)
{
	char buf[DSNENV_PARAMS_MAX];
	int i;

	mp[0] = '\0';
	if (r[0].env != NULL && dsnenv_mail_params(r[0].env, mp, mplen) == -1)
		mp[0] = '\0';
	for (i = 0; i < n; i++)
		if (r[i].env != NULL && dsnenv_rcpt_params(r[i].env, buf,
		    sizeof(buf)) == 0 && buf[0] != '\0' &&
		    (rp[i] = strdup(buf)) == NULL)
			return -1;
	return 0;
}

static enum result
inject_smtp(struct injector *ij, const char *sender, struct inject_rcpt *r,
    int n, const struct bundle_msg *m, int *down)
{
	struct smtpc_msg sm;
	struct smtpc_reply why, *res;
	const char **rcpts;
	char diag[INJECT_DIAG_MAX], mp[DSNENV_PARAMS_MAX], **rp;
	int i;

	memset(&sm, 0, sizeof(sm));
	res = calloc((size_t)n, sizeof(*res));
	rcpts = calloc((size_t)n, sizeof(*rcpts));
	rp = calloc((size_t)n, sizeof(*rp));
	if (res == NULL || rcpts == NULL || rp == NULL ||
	    dsn_params(r, n, mp, sizeof(mp), rp) == -1) {
		fail_all(r, n, RS_TEMP, "4.3.0", "out of memory");
		goto out;
	}
	if (msg_map(m, &sm) == -1) {
		snprintf(diag, sizeof(diag), "cannot map the message: %s",
		    strerror(errno));
		fail_all(r, n, RS_TEMP, "4.3.0", diag);
		goto out;
	}
	for (i = 0; i < n; i++)
		rcpts[i] = r[i].addr;
	sm.sender = sender;
	sm.rcpts = rcpts;
	sm.nrcpts = n;
	sm.result = res;
	sm.dsn_mail = mp;
	sm.dsn_rcpt = (const char *const *)rp;
	sm.body_8bit = has_8bit(sm.data, sm.len);
	switch (deliver(ij, &sm, &why)) {
	case -1:
		fail_all(r, n, RS_TEMP, "4.4.1", why.text);
		*down = 1;
		break;
	case 1:
		*down = 1;
		/* FALLTHROUGH */
	default:
		for (i = 0; i < n; i++) {
			snprintf(diag, sizeof(diag), "smtp; %.380s",
			    res[i].text);
			set_rcpt(&r[i], smtpc_class(&res[i]), res[i].status,
			    diag);
			r[i].dsn_passed = ij->c != NULL &&
			    (smtpc_ext(ij->c) & SMTPC_EXT_DSN) != 0;
		}
	}
	msg_unmap(m, &sm);
out:
	for (i = 0; rp != NULL && i < n; i++)
		free(rp[i]);
	free(rp);
	free(res);
	free(rcpts);
	return overall(r, n);
}

enum result
inject_message(struct injector *ij, const char *sender, struct inject_rcpt *r,
    int n, const struct bundle_msg *m, int *down)
{
	*down = 0;
	if (ij->cf->method == INJECT_SENDMAIL)
		return inject_sendmail(ij, sender, r, n, m, down);
	return inject_smtp(ij, sender, r, n, m, down);
}

void
inject_free(struct injector *ij)
{
	if (ij == NULL)
		return;
	smtpc_quit(ij->c);
	free(ij);
}
