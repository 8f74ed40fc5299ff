/*
 * unit-smtpc.c - the SMTP/LMTP client engine (etrn/smtpc.c) against a
 * scripted server in a child process over a socketpair: extensions,
 * BDAT windows (the server holds every reply until the whole window
 * has arrived, so only a pipelining client can finish), DATA with
 * dot-stuffing, DATA pipelined behind the previous dot (the server
 * holds each dot reply until the next DATA, so only a client sending
 * the next MAIL/RCPT/DATA behind the dot can finish), lock-step
 * without PIPELINING, 4xx/5xx mixes, LMTP,
 * multi-line and malformed replies, 421, lost connections, timeouts,
 * a 421 or a close on an idle session, whether data went out, DSN
 * parameters only for a server that offers DSN.
 * The server writes a transcript (commands and the message octets it
 * received, unstuffed) that the tests compare with what was sent.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpc.h"
#include "tap.h"

/* ---- the scripted server (child) ---- */

struct srv {
	int	fd;
	FILE   *ts;			/* transcript */
	char	in[1 << 20];
	size_t	len, off;
	char	out[1 << 16];
	size_t	olen;
	int	nmail, nrcpt, nbdat, ndata, ndot;
	int	hold;			/* hold replies until this many BDATs */
	int	dotheld;		/* a dot reply waits for the next DATA */
	int	lockstep_violation;
};

typedef const char *(*handler_fn)(struct srv *s, const char *cmd);

static int
srv_fill(struct srv *s)
{
	ssize_t n;

	if (s->off > 0) {
		memmove(s->in, s->in + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (s->len == sizeof(s->in))
		return -1;
	n = read(s->fd, s->in + s->len, sizeof(s->in) - s->len);
	if (n <= 0)
		return -1;
	s->len += (size_t)n;
	return 0;
}

static void
srv_flush(struct srv *s)
{
	size_t o = 0;
	ssize_t n;

	while (o < s->olen) {
		n = write(s->fd, s->out + o, s->olen - o);
		if (n <= 0)
			_exit(3);
		o += (size_t)n;
	}
	s->olen = 0;
}

static void
srv_reply(struct srv *s, const char *r)
{
	size_t n = strlen(r);

	if (s->olen + n > sizeof(s->out))
		srv_flush(s);
	memcpy(s->out + s->olen, r, n);
	s->olen += n;
}

/* srv_line - the next command line (without CRLF), or NULL at EOF. */
static char *
srv_line(struct srv *s, char *buf, size_t len)
{
	char *nl;
	size_t n;

	while ((nl = memchr(s->in + s->off, '\n', s->len - s->off)) == NULL) {
		if (s->olen > 0 && (s->nmail == 0 || s->nbdat >= s->hold) &&
		    !s->dotheld)
			srv_flush(s);
		if (srv_fill(s) == -1)
			return NULL;
	}
	n = (size_t)(nl - (s->in + s->off));
	if (n > 0 && nl[-1] == '\r')
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s->in + s->off, n);
	buf[n] = '\0';
	s->off = (size_t)(nl - s->in) + 1;
	return buf;
}

static int
srv_bytes(struct srv *s, size_t n)
{
	while (s->len - s->off < n)
		if (srv_fill(s) == -1)
			return -1;
	fprintf(s->ts, "BODY %zu\n", n);
	fwrite(s->in + s->off, 1, n, s->ts);
	fprintf(s->ts, "\nEND\n");
	s->off += n;
	return 0;
}

/* srv_dotted - read a dot-stuffed body, record it unstuffed. */
static int
srv_dotted(struct srv *s)
{
	char line[8192];
	char *body = NULL;
	size_t blen = 0;
	FILE *m = open_memstream(&body, &blen);

	for (;;) {
		if (srv_line(s, line, sizeof(line)) == NULL)
			return -1;
		if (strcmp(line, ".") == 0)
			break;
		fprintf(m, "%s\r\n", line[0] == '.' ? line + 1 : line);
	}
	fclose(m);
	fprintf(s->ts, "BODY %zu\n", blen);
	fwrite(body, 1, blen, s->ts);
	fprintf(s->ts, "\nEND\n");
	free(body);
	return 0;
}

/* hold_dots - the reply to dots 1..hold_dots-1 waits for the next DATA */
static int hold_dots;

static void
srv_run(int fd, const char *tspath, const char *greeting, handler_fn h,
    int hold)
{
	static struct srv s;
	char line[4096];
	const char *r;
	unsigned long n;

	s.fd = fd;
	s.hold = hold;
	if ((s.ts = fopen(tspath, "w")) == NULL)
		_exit(2);
	if (greeting != NULL) {
		srv_reply(&s, greeting);
		srv_flush(&s);
	}
	while (srv_line(&s, line, sizeof(line)) != NULL) {
		if (s.len - s.off > 0 && s.olen > 0)
			s.lockstep_violation++;
		fprintf(s.ts, "%s\n", line);
		if (strcasecmp(line, "DATA") == 0)
			s.dotheld = 0;
		if (strncasecmp(line, "MAIL", 4) == 0)
			s.nmail++;
		if (strncasecmp(line, "RCPT", 4) == 0)
			s.nrcpt++;
		if (strncasecmp(line, "BDAT ", 5) == 0) {
			n = strtoul(line + 5, NULL, 10);
			if (srv_bytes(&s, n) == -1)
				break;
			s.nbdat++;
		}
		r = h(&s, line);
		if (r != NULL && strcmp(r, "CLOSE") == 0)
			break;
		if (r != NULL)
			srv_reply(&s, r);
		if (strcasecmp(line, "DATA") == 0 && r != NULL &&
		    strncmp(r, "354", 3) == 0) {
			s.ndata++;
			srv_flush(&s);
			if (srv_dotted(&s) == -1)
				break;
			s.ndot++;
			fprintf(s.ts, ".\n");
			if ((r = h(&s, ".")) != NULL && strcmp(r, "CLOSE") == 0)
				break;
			if (r != NULL)
				srv_reply(&s, r);
			s.dotheld = s.ndot < hold_dots;
		}
		if (r == NULL)
			srv_flush(&s);
		if (strcasecmp(line, "QUIT") == 0)
			break;
	}
	if (s.olen > 0)
		srv_flush(&s);
	fprintf(s.ts, "VIOLATIONS %d\n", s.lockstep_violation);
	fclose(s.ts);
	_exit(0);
}

/* ---- the client side ---- */

static char tspath[] = "/tmp/unit-smtpc.XXXXXX";
static pid_t child;

static struct smtpc *
start(const char *greeting, handler_fn h, int hold, struct smtpc_opts *o)
{
	int sv[2];
	struct smtpc *c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(2);
	fflush(stdout);
	if ((child = fork()) == 0) {
		close(sv[0]);
		srv_run(sv[1], tspath, greeting, h, hold);
	}
	close(sv[1]);
	c = smtpc_fdopen(sv[0], "test[local]", o);
	return c;
}

/* finish - wait for the server, return its transcript. */
static char *
finish(void)
{
	FILE *f;
	static char buf[1 << 20];
	size_t n;
	int st;

	waitpid(child, &st, 0);
	if ((f = fopen(tspath, "r")) == NULL)
		return "";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

#define MAXM 8
struct feedstate {
	struct smtpc_msg m[MAXM];
	struct smtpc_reply res[MAXM][4];
	int	n, next, ndone, order_ok;
};

static struct smtpc_msg *
feed_next(void *arg)
{
	struct feedstate *f = arg;

	return f->next < f->n ? &f->m[f->next++] : NULL;
}

static void
feed_done(void *arg, struct smtpc_msg *m)
{
	struct feedstate *f = arg;

	if (m != &f->m[f->ndone])
		f->order_ok = 0;
	f->ndone++;
}

static void
feed_add(struct feedstate *f, const char *sender, const char *const *rcpts,
    int nrcpts, const char *data)
{
	struct smtpc_msg *m = &f->m[f->n];

	memset(m, 0, sizeof(*m));
	m->sender = sender;
	m->rcpts = rcpts;
	m->nrcpts = nrcpts;
	m->data = data;
	m->len = strlen(data);
	m->result = f->res[f->n];
	f->n++;
}

static enum result
run(struct smtpc *c, struct feedstate *f)
{
	struct smtpc_feed feed = { feed_next, feed_done, f };

	f->order_ok = 1;
	return smtpc_send(c, &feed);
}

static const char ehlo_full[] =
    "250-sink.test Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
    "250-8BITMIME\r\n250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n";

/* ---- handlers ---- */

static int mail_bad, rcpt_good;

static const char *
h_window(struct srv *s, const char *cmd)
{
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return ehlo_full;
	if (strncasecmp(cmd, "MAIL", 4) == 0) {
		mail_bad = 1;
		if (strstr(cmd, "<bad-sender@") != NULL)
			return "550 5.7.1 sender refused\r\n";
		if (strstr(cmd, "SIZE=") == NULL)
			return "555 5.5.4 want SIZE\r\n";
		mail_bad = 0;
		return "250 2.1.0 Ok\r\n";
	}
	if (strncasecmp(cmd, "RCPT", 4) == 0) {
		if (mail_bad)
			return "503 5.5.1 need MAIL\r\n";
		if (strstr(cmd, "<nouser@") != NULL)
			return "550 5.1.1 no such user\r\n";
		if (strstr(cmd, "<full@") != NULL)
			return "452 4.2.2 mailbox full\r\n";
		return "250 2.1.5 Ok\r\n";
	}
	if (strncasecmp(cmd, "BDAT", 4) == 0) {
		/* message 4 (bad sender) and 5 (no valid rcpt) fail */
		if (s->nbdat == 4)
			return "503 5.5.1 no valid MAIL\r\n";
		if (s->nbdat == 5)
			return "554 5.5.1 no valid recipients\r\n";
		return "250-2.0.0 Ok: queued\r\n250 2.0.0 as ABC\r\n";
	}
	if (strcasecmp(cmd, "RSET") == 0)
		return "250 2.0.0 Ok\r\n";
	if (strcasecmp(cmd, "QUIT") == 0)
		return "221 2.0.0 Bye\r\n";
	return "502 5.5.2 what\r\n";
}

static const char *
h_data(struct srv *s, const char *cmd)
{
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return "250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
	if (strncasecmp(cmd, "MAIL", 4) == 0) {
		rcpt_good = 0;
		return "250 2.1.0 Ok\r\n";
	}
	if (strncasecmp(cmd, "RCPT", 4) == 0) {
		if (strstr(cmd, "<nouser@") != NULL)
			return "550 5.1.1 no such user\r\n";
		if (strstr(cmd, "<full@") != NULL)
			return "452 4.2.2 mailbox full\r\n";
		rcpt_good++;
		return "250 2.1.5 Ok\r\n";
	}
	if (strcasecmp(cmd, "DATA") == 0)
		return rcpt_good == 0 ?
		    "554 5.5.1 no valid recipients\r\n" : "354 go ahead\r\n";
	if (strcmp(cmd, ".") == 0)
		return s->ndot == 3 ? "552 5.3.4 too big\r\n" :
		    "250 2.0.0 queued\r\n";
	if (strcasecmp(cmd, "RSET") == 0)
		return "250 2.0.0 Ok\r\n";
	if (strcasecmp(cmd, "QUIT") == 0)
		return "221 2.0.0 Bye\r\n";
	return "502 5.5.2 what\r\n";
}

static const char *
h_plain(struct srv *s, const char *cmd)
{
	(void)s;
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return "502 5.5.2 no ESMTP here\r\n";
	if (strncasecmp(cmd, "HELO", 4) == 0)
		return "250 old.test\r\n";
	if (strncasecmp(cmd, "MAIL", 4) == 0)
		return strstr(cmd, "SIZE") || strstr(cmd, "BODY") ?
		    "501 no parameters please\r\n" : "250 ok\r\n";
	if (strncasecmp(cmd, "RCPT", 4) == 0)
		return strstr(cmd, "<nouser@") ? "550 no such user\r\n" :
		    "250 ok\r\n";
	if (strcasecmp(cmd, "DATA") == 0)
		return "354 go\r\n";
	if (strcmp(cmd, ".") == 0)
		return "250 ok\r\n";
	if (strcasecmp(cmd, "RSET") == 0)
		return "250 ok\r\n";
	if (strcasecmp(cmd, "QUIT") == 0)
		return "221 bye\r\n";
	return "500 what\r\n";
}

static const char *
h_lmtp(struct srv *s, const char *cmd)
{
	(void)s;
	if (strncasecmp(cmd, "LHLO", 4) == 0)
		return "250-lmtp.test\r\n250 ENHANCEDSTATUSCODES\r\n";
	if (strncasecmp(cmd, "MAIL", 4) == 0)
		return "250 2.1.0 ok\r\n";
	if (strncasecmp(cmd, "RCPT", 4) == 0)
		return strstr(cmd, "<nouser@") ? "550 5.1.1 no such user\r\n" :
		    "250 2.1.5 ok\r\n";
	if (strcasecmp(cmd, "DATA") == 0)
		return "354 go\r\n";
	if (strcmp(cmd, ".") == 0)	/* a, c accepted at RCPT; c over quota */
		return "250 2.0.0 a delivered\r\n452 4.2.2 c over quota\r\n";
	if (strcasecmp(cmd, "QUIT") == 0)
		return "221 2.0.0 bye\r\n";
	return "500 5.5.1 what\r\n";
}

static const char *
h_etrn(struct srv *s, const char *cmd)
{
	(void)s;
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return "250-hub.test\r\n250-AUTH PLAIN cram-md5\r\n"
		    "250-ETRN\r\n250 SIZE\r\n";
	if (strcasecmp(cmd, "ETRN acme.example") == 0)
		return "253 OK, 3 pending messages for node acme.example "
		    "started\r\n";
	if (strcasecmp(cmd, "ETRN #long") == 0) {
		static char big[SMTPC_LINES_MAX * 8 + 64];
		size_t o = 0;
		int i;

		for (i = 0; i < SMTPC_LINES_MAX + 1; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o,
			    "250-x\r\n");
		snprintf(big + o, sizeof(big) - o, "250 end\r\n");
		return big;
	}
	if (strcasecmp(cmd, "QUIT") == 0)
		return "221 bye\r\n";
	return "459 4.7.1 not allowed\r\n";
}

static const char *
h_multiline(struct srv *s, const char *cmd)
{
	(void)s;
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return "250 hub.test\r\n";
	if (strcasecmp(cmd, "NOOP") == 0)
		return "250-first\tline\r\n250-second \x01 line\r\n"
		    "250 2.0.0 third\r\n";
	if (strcasecmp(cmd, "VRFY x") == 0)
		return "252-mixed\r\n253 codes\r\n";
	return "500 what\r\n";
}

static const char *
h_longline(struct srv *s, const char *cmd)
{
	static char big[SMTPC_LINE_MAX + 100];

	(void)s;
	(void)cmd;

	memset(big, 'x', sizeof(big) - 3);
	memcpy(big, "250 ", 4);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	return big;
}

static const char *
h_silent(struct srv *s, const char *cmd)
{
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return "250-slow.test\r\n250 PIPELINING\r\n";
	if (s->ndot == 0 && (strncasecmp(cmd, "MAIL", 4) == 0 ||
	    strncasecmp(cmd, "RCPT", 4) == 0))
		return "250 ok\r\n";
	if (strcasecmp(cmd, "DATA") == 0 && s->ndot == 0)
		return "354 go\r\n";
	return NULL;			/* never answers after the first dot */
}

static const char *
h_421(struct srv *s, const char *cmd)
{
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return ehlo_full;
	if (strncasecmp(cmd, "MAIL", 4) == 0)
		return s->nmail == 2 ? "421 4.3.2 shutting down\r\n" :
		    "250 ok\r\n";
	if (strncasecmp(cmd, "RCPT", 4) == 0)
		return s->nmail == 2 ? "CLOSE" : "250 ok\r\n";
	if (strncasecmp(cmd, "BDAT", 4) == 0)
		return "250 2.0.0 ok\r\n";
	if (strcasecmp(cmd, "RSET") == 0)
		return "250 ok\r\n";
	return "221 bye\r\n";
}

static const char *
h_drop(struct srv *s, const char *cmd)
{
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return ehlo_full;
	if (strncasecmp(cmd, "BDAT", 4) == 0 && s->nbdat == 2)
		return "CLOSE";
	if (strncasecmp(cmd, "BDAT", 4) == 0)
		return "250 2.0.0 ok\r\n";
	return "250 ok\r\n";
}

/*
 * h_pipe - DATA without CHUNKING.  pipe_fail picks the trouble:
 * 'M' MAIL of message 2 refused, 'R' every RCPT of message 2 refused,
 * 'D' the connection drops after the dot of message 1 (unanswered),
 * '4' 421 in reply to the dot of message 2, then the connection closes.
 */
static int pipe_fail, pipe_mail_bad, pipe_rcpt_good, pipe_closing;

static const char *
h_pipe(struct srv *s, const char *cmd)
{
	if (pipe_closing)
		return "CLOSE";
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return "250-sink.test\r\n250-PIPELINING\r\n250 SIZE\r\n";
	if (strncasecmp(cmd, "MAIL", 4) == 0) {
		pipe_rcpt_good = 0;
		pipe_mail_bad = pipe_fail == 'M' && s->nmail == 2;
		return pipe_mail_bad ? "550 5.7.1 sender refused\r\n" :
		    "250 2.1.0 Ok\r\n";
	}
	if (strncasecmp(cmd, "RCPT", 4) == 0) {
		if (pipe_mail_bad)
			return "503 5.5.1 need MAIL\r\n";
		if (pipe_fail == 'R' && s->nmail == 2)
			return "550 5.1.1 no such user\r\n";
		pipe_rcpt_good++;
		return "250 2.1.5 Ok\r\n";
	}
	if (strcasecmp(cmd, "DATA") == 0)
		return pipe_mail_bad ? "503 5.5.1 need MAIL\r\n" :
		    pipe_rcpt_good == 0 ? "554 5.5.1 no valid recipients\r\n" :
		    "354 go ahead\r\n";
	if (strcmp(cmd, ".") == 0) {
		if (pipe_fail == 'D')
			return "CLOSE";
		if (pipe_fail == '4' && s->ndot == 2) {
			pipe_closing = 1;
			return "421 4.3.2 shutting down\r\n";
		}
		return "250 2.0.0 queued\r\n";
	}
	if (strcasecmp(cmd, "RSET") == 0)
		return "250 2.0.0 Ok\r\n";
	if (strcasecmp(cmd, "QUIT") == 0)
		return "221 2.0.0 Bye\r\n";
	return "502 5.5.2 what\r\n";
}

/* ---- tests ---- */

static const char *const r_ab[] = { "a@acme.example", "b@acme.example" };
static const char *const r_nouser[] = { "a@acme.example",
	"nouser@acme.example", "full@acme.example" };
static const char *const r_allbad[] = { "nouser@acme.example",
	"nouser@acme.example" };
static const char *const r_a[] = { "a@acme.example" };

static void
test_window(void)
{
	struct smtpc_opts o;
	struct smtpc_reply r;
	struct feedstate f;
	struct smtpc *c;
	const char *ts;
	char want[256];

	smtpc_opts_default(&o);
	memset(&f, 0, sizeof(f));
	c = start("220 sink.test ESMTP\r\n", h_window, 6, &o);
	ok(smtpc_greeting(c, &r) == RS_OK && r.code == 220, "greeting");
	ok(smtpc_hello(c, "hub.test", &r) == RS_OK, "EHLO");
	is_int(smtpc_ext(c), SMTPC_EXT_ESMTP | SMTPC_EXT_PIPELINING |
	    SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME | SMTPC_EXT_CHUNKING |
	    SMTPC_EXT_ENHANCED, "extensions parsed");
	is_int(smtpc_size_max(c), 10240000, "SIZE limit parsed");
	feed_add(&f, "s@example.org", r_ab, 2, "Subject: one\r\n\r\nbody\r\n");
	feed_add(&f, "s@example.org", r_nouser, 3,
	    "Subject: two\r\n\r\n.dot line\r\n");
	feed_add(&f, "", r_a, 1, "Subject: three\r\n\r\nno final crlf");
	feed_add(&f, "bad-sender@example.org", r_ab, 2, "Subject: four\r\n");
	feed_add(&f, "s@example.org", r_allbad, 2, "Subject: five\r\n");
	feed_add(&f, "s@example.org", r_a, 1, "");
	f.m[0].body_8bit = 1;
	ok(run(c, &f) == RS_OK, "window of six sent (server held replies)");
	is_int(f.ndone, 6, "six done callbacks");
	ok(f.order_ok, "done in order");
	is_int(f.res[0][0].code, 250, "msg1 a: 250");
	is_str(f.res[0][1].text, "250 2.0.0 Ok: queued 2.0.0 as ABC",
	    "msg1 b: multi-line final reply joined");
	is_str(f.res[0][1].status, "2.0.0", "enhanced status kept");
	is_int(f.res[1][0].code, 250, "msg2 a: 250");
	is_int(f.res[1][1].code, 550, "msg2 nouser: 550");
	is_str(f.res[1][1].status, "5.1.1", "msg2 nouser: 5.1.1");
	is_int(f.res[1][2].code, 452, "msg2 full: 452");
	is_int(f.res[2][0].code, 250, "msg3 null sender: 250");
	is_int(f.res[3][0].code, 550, "msg4 bad sender: MAIL reply for a");
	is_str(f.res[3][1].text, "550 5.7.1 sender refused",
	    "msg4 bad sender: MAIL reply for b");
	is_int(f.res[4][0].code, 550, "msg5 all rcpts bad: rcpt reply");
	is_int(f.res[5][0].code, 250, "msg6 empty message: 250");
	smtpc_quit(c);
	ts = finish();
	ok(strstr(ts, "MAIL FROM:<s@example.org> SIZE=22 BODY=8BITMIME\n") !=
	    NULL, "SIZE and BODY=8BITMIME on MAIL");
	ok(strstr(ts, "MAIL FROM:<> SIZE=") != NULL, "null sender");
	snprintf(want, sizeof(want), "BDAT %zu LAST\nBODY %zu\n%s\nEND\n",
	    f.m[1].len, f.m[1].len, f.m[1].data);
	ok(strstr(ts, want) != NULL, "BDAT octets not stuffed");
	ok(strstr(ts, "BODY 31\nSubject: three\r\n\r\nno final crlf\nEND") !=
	    NULL, "BDAT sends the octets as they are");
	ok(strstr(ts, "BDAT 0 LAST\nBODY 0\n") != NULL, "BDAT 0 LAST");
	is_int(count(ts, "RSET\n"), 5, "RSET between pipelined messages");
	ok(strstr(ts, "QUIT\n") != NULL, "QUIT sent");
}

static void
test_data(void)
{
	struct smtpc_reply r;
	struct feedstate f;
	struct smtpc *c;
	const char *ts;
	char want[256];

	memset(&f, 0, sizeof(f));
	c = start("220 sink.test\r\n", h_data, 0, NULL);
	smtpc_greeting(c, &r);
	smtpc_hello(c, "hub.test", &r);
	is_int(smtpc_ext(c), SMTPC_EXT_ESMTP | SMTPC_EXT_PIPELINING |
	    SMTPC_EXT_8BITMIME, "PIPELINING without CHUNKING");
	feed_add(&f, "s@example.org", r_nouser, 3,
	    "Subject: x\r\n\r\n.leading dot\r\n..two\r\nend\r\n.\r\n");
	feed_add(&f, "s@example.org", r_allbad, 2, "Subject: y\r\n\r\nz\r\n");
	feed_add(&f, "s@example.org", r_a, 1, "Subject: z\r\n\r\nno crlf");
	feed_add(&f, "s@example.org", r_a, 1, "Subject: w\r\n\r\nbig\r\n");
	ok(run(c, &f) == RS_OK, "DATA mode");
	is_int(f.ndone, 4, "four done");
	is_int(f.res[0][0].code, 250, "msg1 a delivered");
	is_int(f.res[0][1].code, 550, "msg1 nouser 550");
	is_int(f.res[0][2].code, 452, "msg1 full 452");
	is_int(f.res[1][0].code, 550, "msg2 all bad: rcpt replies");
	is_int(f.res[2][0].code, 250, "msg3 delivered");
	is_int(f.res[3][0].code, 552, "msg4 refused after the dot");
	is_str(f.res[3][0].status, "5.3.4", "msg4 status 5.3.4");
	smtpc_quit(c);
	ts = finish();
	snprintf(want, sizeof(want), "BODY %zu\n%s\nEND", f.m[0].len,
	    f.m[0].data);
	ok(strstr(ts, want) != NULL, "dot-stuffing round trip");
	snprintf(want, sizeof(want), "BODY %zu\n%s\r\n\nEND",
	    f.m[2].len + 2, f.m[2].data);
	ok(strstr(ts, want) != NULL, "CRLF added before the dot");
	is_int(count(ts, "RSET\n"), 1, "RSET after the refused DATA");
}

/* pipe_start - a DATA-mode session; dots held until the next DATA. */
static struct smtpc *
pipe_start(int fail, int hold, struct feedstate *f, int nmsgs)
{
	static const char *const bodies[] = { "Subject: 1\r\n\r\none\r\n",
		"Subject: 2\r\n\r\n.two\r\n", "Subject: 3\r\n\r\nthree\r\n",
		"Subject: 4\r\n\r\nfour\r\n" };
	struct smtpc_opts o;
	struct smtpc_reply r;
	struct smtpc *c;
	int i;

	smtpc_opts_default(&o);
	o.to.dot = 3000;		/* a lock-step client fails, not hangs */
	pipe_fail = fail;
	pipe_closing = 0;
	hold_dots = hold;
	memset(f, 0, sizeof(*f));
	for (i = 0; i < nmsgs; i++)
		feed_add(f, "s@example.org", r_ab, 2, bodies[i]);
	c = start("220 sink.test\r\n", h_pipe, 0, &o);
	hold_dots = 0;
	smtpc_greeting(c, &r);
	smtpc_hello(c, "hub.test", &r);
	return c;
}

static void
test_pipe(void)
{
	struct feedstate f;
	struct smtpc *c;
	const char *ts;
	char want[256];

	/* the reply to dot k only comes after MAIL/RCPT/DATA of k+1 */
	c = pipe_start(0, 4, &f, 4);
	ok(run(c, &f) == RS_OK, "pipelined DATA: dot replies held by the "
	    "server until the next DATA");
	is_int(f.ndone, 4, "four done");
	ok(f.order_ok, "done in order");
	ok(f.res[0][0].code == 250 && f.res[1][1].code == 250 &&
	    f.res[2][0].code == 250 && f.res[3][1].code == 250,
	    "all delivered: %s", f.res[3][1].text);
	is_str(f.res[1][0].text, "250 2.0.0 queued", "result is the dot reply");
	smtpc_quit(c);
	ts = finish();
	ok(strstr(ts, ".\nMAIL FROM:<s@example.org> SIZE=20\nRCPT TO:"
	    "<a@acme.example>\nRCPT TO:<b@acme.example>\nDATA\n") != NULL,
	    "MAIL/RCPT/DATA right behind the dot");
	snprintf(want, sizeof(want), "BODY %zu\n%s\nEND", f.m[1].len,
	    f.m[1].data);
	ok(strstr(ts, want) != NULL, "dot-stuffing round trip");
	is_int(count(ts, "RSET\n"), 0, "no RSET");

	/* message 2's MAIL refused after message 1's dot was accepted */
	c = pipe_start('M', 2, &f, 3);
	ok(run(c, &f) == RS_OK, "MAIL of message 2 refused");
	is_int(f.ndone, 3, "three done");
	ok(f.order_ok, "done in order");
	is_int(f.res[0][1].code, 250, "message 1 delivered");
	ok(f.res[1][0].code == 550 && f.res[1][1].code == 550 &&
	    strcmp(f.res[1][1].text, "550 5.7.1 sender refused") == 0,
	    "message 2: the MAIL reply for each rcpt (%s)", f.res[1][1].text);
	is_int(f.res[2][0].code, 250, "message 3 delivered");
	smtpc_quit(c);
	ts = finish();
	is_int(count(ts, "BODY "), 2, "no content for message 2");
	is_int(count(ts, "RSET\n"), 0, "no RSET after a refused MAIL");

	/* every RCPT of message 2 refused: DATA 554, no content */
	c = pipe_start('R', 2, &f, 3);
	ok(run(c, &f) == RS_OK, "all RCPTs of message 2 refused");
	is_int(f.ndone, 3, "three done");
	ok(f.order_ok, "done in order");
	ok(f.res[1][0].code == 550 && f.res[1][1].code == 550,
	    "message 2: the RCPT replies");
	ok(f.res[0][0].code == 250 && f.res[2][1].code == 250,
	    "messages 1 and 3 delivered");
	smtpc_quit(c);
	ts = finish();
	is_int(count(ts, "BODY "), 2, "no content for message 2");
	ok(strstr(ts, "DATA\nRSET\nMAIL FROM") != NULL,
	    "RSET before the MAIL after the refused DATA");
	is_int(count(ts, "RSET\n"), 1, "one RSET");

	/* the connection drops after message 1's dot */
	c = pipe_start('D', 0, &f, 3);
	ok(run(c, &f) == RS_TEMP, "connection lost after the dot");
	is_int(f.ndone, f.next, "every message handed out is done");
	is_int(f.next, 2, "message 2's group went behind the dot");
	ok(f.order_ok, "done in order");
	ok(f.res[0][0].code == 0 && f.res[0][1].code == 0 &&
	    strstr(f.res[0][0].text, "end of data") != NULL,
	    "message 1 temporary: %s", f.res[0][0].text);
	ok(f.res[1][0].code == 0 && f.res[1][1].code == 0,
	    "message 2 temporary: %s", f.res[1][0].text);
	ok(f.m[0].data_sent, "message 1: its data went out");
	ok(!f.m[1].data_sent, "message 2: no data went out");
	smtpc_close(c);
	finish();

	/* 421 in reply to the dot of message 2, message 3 in flight */
	c = pipe_start('4', 0, &f, 4);
	ok(run(c, &f) == RS_TEMP, "421 mid-stream");
	is_int(f.ndone, f.next, "every message handed out is done");
	is_int(f.next, 3, "message 4 not handed out");
	ok(f.order_ok, "done in order");
	is_int(f.res[0][1].code, 250, "message 1 delivered");
	ok(f.res[1][0].code == 421 && f.res[1][1].code == 421,
	    "message 2: the 421");
	ok(f.res[2][0].code == 421 && f.res[2][1].code == 421 &&
	    smtpc_class(&f.res[2][1]) == RS_TEMP, "message 3: 421, temporary");
	ok(!smtpc_usable(c), "connection not usable");
	smtpc_close(c);
	finish();
}

/* test_check - smtpc_check sees a 421 or a close on an idle session. */
static void
test_check(void)
{
	struct smtpc_reply r;
	struct smtpc *c;
	int sv[2], i;

	for (i = 0; i < 2; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			exit(2);
		c = smtpc_fdopen(sv[0], "test[local]", NULL);
		if (write(sv[1], "220 idle.test\r\n", 15) != 15)
			exit(2);
		ok(smtpc_greeting(c, &r) == RS_OK, "greeting");
		ok(smtpc_check(c), "idle and quiet: usable");
		if (i == 0 && write(sv[1], "421 4.4.2 idle\r\n", 16) != 16)
			exit(2);
		close(sv[1]);
		ok(!smtpc_check(c), i == 0 ? "421 while idle: not usable" :
		    "closed while idle: not usable");
		ok(!smtpc_usable(c), "and smtpc_usable agrees");
		smtpc_close(c);
	}
}

/* test_release - the socket outlives the engine only when nothing is lost. */
static void
test_release(void)
{
	struct smtpc_reply r;
	struct smtpc *c;
	char buf[16];
	int sv[2], fd;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(2);
	c = smtpc_fdopen(sv[0], "test[local]", NULL);
	if (write(sv[1], "220 turn.test\r\n", 15) != 15)
		exit(2);
	smtpc_greeting(c, &r);
	fd = smtpc_release(c);
	ok(fd == sv[0], "released: the same socket");
	ok(write(sv[1], "EHLO x\r\n", 8) == 8 && read(fd, buf, 8) == 8 &&
	    memcmp(buf, "EHLO x\r\n", 8) == 0, "and it still works");
	close(fd);
	close(sv[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(2);
	c = smtpc_fdopen(sv[0], "test[local]", NULL);
	if (write(sv[1], "220 a\r\n220 b\r\n", 14) != 14)
		exit(2);
	smtpc_greeting(c, &r);
	is_int(smtpc_release(c), -1, "octets after the reply: not released");
	close(sv[1]);
	ok(smtpc_release(NULL) == -1, "NULL: -1");
}

static void
test_plain(void)
{
	struct smtpc_reply r;
	struct feedstate f;
	struct smtpc *c;
	const char *ts;

	memset(&f, 0, sizeof(f));
	c = start("220 old.test\r\n", h_plain, 0, NULL);
	smtpc_greeting(c, &r);
	ok(smtpc_hello(c, "hub.test", &r) == RS_OK, "HELO after EHLO 502");
	is_int(smtpc_ext(c), 0, "no extensions");
	feed_add(&f, "s@example.org", r_nouser, 3, "Subject: p\r\n\r\n.x\r\n");
	feed_add(&f, "s@example.org", r_allbad, 2, "Subject: q\r\n\r\n");
	feed_add(&f, "s@example.org", r_a, 1, "Subject: r\r\n\r\n");
	f.m[0].body_8bit = 1;
	ok(run(c, &f) == RS_OK, "lock-step delivery");
	is_int(f.res[0][0].code, 250, "a delivered");
	is_int(f.res[0][1].code, 550, "nouser refused");
	is_str(f.res[0][1].status, "5.0.0", "status derived from 550");
	is_int(f.res[1][0].code, 550, "all bad: no DATA");
	is_int(f.res[2][0].code, 250, "third delivered");
	smtpc_quit(c);
	ts = finish();
	ok(strstr(ts, "VIOLATIONS 0\n") != NULL,
	    "never a command before the previous reply");
	is_int(count(ts, "DATA\n"), 2, "DATA only for messages with a rcpt");
	is_int(count(ts, "RSET\n"), 1, "RSET after all rcpts failed");
}

static int dsn_offer;

static const char *
h_dsn(struct srv *s, const char *cmd)
{
	(void)s;
	if (strncasecmp(cmd, "EHLO", 4) == 0)
		return dsn_offer ? "250-dsn.test\r\n250-PIPELINING\r\n"
		    "250 DSN\r\n" : "250-plain.test\r\n250 PIPELINING\r\n";
	if (strncasecmp(cmd, "MAIL", 4) == 0 || strncasecmp(cmd, "RCPT", 4) == 0)
		return strlen(cmd) > 2400 ? "500 5.5.2 too long\r\n" :
		    "250 2.1.0 Ok\r\n";
	if (strcasecmp(cmd, "DATA") == 0)
		return "354 go ahead\r\n";
	if (strcmp(cmd, ".") == 0)
		return "250 2.0.0 queued\r\n";
	if (strcasecmp(cmd, "QUIT") == 0)
		return "221 2.0.0 Bye\r\n";
	return "502 5.5.2 what\r\n";
}

/* test_dsn - DSN parameters on MAIL and RCPT only when DSN is offered. */
static void
test_dsn(void)
{
	static const char *const r2[] = { "a@acme.example", "b@acme.example" };
	static char longp[2100];
	const char *params[2] = { " NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;A+2Ba@acme.example", NULL };
	struct smtpc_reply r;
	struct feedstate f;
	struct smtpc *c;
	const char *ts;

	for (dsn_offer = 1; dsn_offer >= 0; dsn_offer--) {
		memset(&f, 0, sizeof(f));
		c = start("220 dsn.test\r\n", h_dsn, 0, NULL);
		smtpc_greeting(c, &r);
		smtpc_hello(c, "hub.test", &r);
		feed_add(&f, "s@example.org", r2, 2, "Subject: d\r\n\r\nd\r\n");
		f.m[0].dsn_mail = " RET=HDRS ENVID=E+2B1";
		f.m[0].dsn_rcpt = params;
		ok(run(c, &f) == RS_OK && f.res[0][0].code == 250 &&
		    f.res[0][1].code == 250, "%s: delivered",
		    dsn_offer ? "DSN" : "no DSN");
		smtpc_quit(c);
		ts = finish();
		if (dsn_offer) {
			ok(strstr(ts, "MAIL FROM:<s@example.org> RET=HDRS "
			    "ENVID=E+2B1\n") != NULL, "DSN: RET and ENVID on MAIL");
			ok(strstr(ts, "RCPT TO:<a@acme.example> NOTIFY=SUCCESS,"
			    "FAILURE ORCPT=rfc822;A+2Ba@acme.example\n") != NULL,
			    "DSN: NOTIFY and ORCPT on RCPT");
			ok(strstr(ts, "RCPT TO:<b@acme.example>\n") != NULL,
			    "DSN: a recipient without parameters stays bare");
		} else {
			ok(strstr(ts, "MAIL FROM:<s@example.org>\n") != NULL &&
			    strstr(ts, "RCPT TO:<a@acme.example>\n") != NULL,
			    "no DSN: MAIL and RCPT bare");
			ok(strstr(ts, "NOTIFY") == NULL && strstr(ts, "ENVID") ==
			    NULL, "no DSN: no parameter sent at all");
		}
	}
	memset(longp, 'x', sizeof(longp) - 1);
	memcpy(longp, " ORCPT=rfc822;", 14);
	params[0] = longp;
	dsn_offer = 1;
	memset(&f, 0, sizeof(f));
	c = start("220 dsn.test\r\n", h_dsn, 0, NULL);
	smtpc_greeting(c, &r);
	smtpc_hello(c, "hub.test", &r);
	feed_add(&f, "s@example.org", r2, 2, "Subject: d\r\n\r\nd\r\n");
	f.m[0].dsn_rcpt = params;
	ok(run(c, &f) == RS_OK && f.res[0][0].code == 250,
	    "parameters over 2048 octets are left off, not a broken session");
	smtpc_quit(c);
	ts = finish();
	ok(strstr(ts, "RCPT TO:<a@acme.example>\n") != NULL, "... bare RCPT");
}

static void
test_lmtp(void)
{
	static const char *const r3[] = { "a@acme.example",
		"nouser@acme.example", "c@acme.example" };
	struct smtpc_opts o;
	struct smtpc_reply r;
	struct feedstate f;
	struct smtpc *c;

	smtpc_opts_default(&o);
	o.lmtp = 1;
	memset(&f, 0, sizeof(f));
	c = start("220 lmtp.test LMTP\r\n", h_lmtp, 0, &o);
	smtpc_greeting(c, &r);
	ok(smtpc_hello(c, "hub.test", &r) == RS_OK, "LHLO");
	ok(smtpc_ext(c) & SMTPC_EXT_PIPELINING, "LMTP implies PIPELINING");
	feed_add(&f, "s@example.org", r3, 3, "Subject: l\r\n\r\nx\r\n");
	ok(run(c, &f) == RS_OK, "LMTP delivery");
	is_str(f.res[0][0].text, "250 2.0.0 a delivered", "a: its own reply");
	is_int(f.res[0][1].code, 550, "nouser: RCPT reply");
	is_str(f.res[0][2].text, "452 4.2.2 c over quota", "c: its own reply");
	smtpc_quit(c);
	ok(strstr(finish(), "LHLO hub.test\n") != NULL, "LHLO sent");
}

static void
test_cmds(void)
{
	struct smtpc_reply r;
	struct smtpc *c;

	c = start("220-hub.test\r\n220 ready\r\n", h_etrn, 0, NULL);
	ok(smtpc_greeting(c, &r) == RS_OK, "multi-line greeting");
	smtpc_hello(c, "leaf.test", &r);
	ok(smtpc_ext(c) & SMTPC_EXT_ETRN, "ETRN offered");
	ok(smtpc_ext(c) & SMTPC_EXT_AUTH_CRAM, "AUTH CRAM-MD5 offered");
	ok(smtpc_cmd(c, 5000, &r, "ETRN %s", "acme.example") == RS_OK &&
	    r.code == 253, "ETRN 253");
	is_str(r.text, "253 OK, 3 pending messages for node acme.example "
	    "started", "ETRN reply text");
	ok(smtpc_cmd(c, 5000, &r, "ETRN @other") == RS_TEMP && r.code == 459,
	    "ETRN 459 is temporary");
	ok(smtpc_cmd(c, 5000, &r, "ETRN #long") == RS_TEMP && r.code == 0,
	    "reply over 100 lines refused");
	ok(!smtpc_usable(c), "connection dropped after protocol error");
	ok(smtpc_cmd(c, 5000, &r, "NOOP") == RS_TEMP && r.code == 0,
	    "command after failure");
	smtpc_close(c);
	finish();

	c = start("220 hub.test\r\n", h_multiline, 0, NULL);
	smtpc_greeting(c, &r);
	smtpc_hello(c, "leaf.test", &r);
	smtpc_cmd(c, 5000, &r, "NOOP");
	is_str(r.text, "250 first line second ? line 2.0.0 third",
	    "lines joined, controls replaced");
	ok(smtpc_cmd(c, 5000, &r, "VRFY x") == RS_TEMP && r.code == 0,
	    "mixed codes refused");
	smtpc_close(c);
	finish();

	c = start("220 hub.test\r\n", h_longline, 0, NULL);
	smtpc_greeting(c, &r);
	ok(smtpc_hello(c, "leaf.test", &r) == RS_TEMP && r.code == 0,
	    "overlong reply line refused");
	smtpc_close(c);
	finish();

	c = start("554 go away\r\n", h_etrn, 0, NULL);
	ok(smtpc_greeting(c, &r) == RS_PERM && r.code == 554,
	    "554 greeting");
	smtpc_close(c);
	finish();
}

static void
test_failures(void)
{
	struct smtpc_opts o;
	struct smtpc_reply r;
	struct feedstate f;
	struct smtpc *c;

	smtpc_opts_default(&o);
	o.to.dot = 300;
	memset(&f, 0, sizeof(f));
	c = start("220 slow.test\r\n", h_silent, 0, &o);
	smtpc_greeting(c, &r);
	smtpc_hello(c, "hub.test", &r);
	feed_add(&f, "s@example.org", r_ab, 2, "Subject: t\r\n\r\n");
	feed_add(&f, "s@example.org", r_a, 1, "Subject: u\r\n\r\n");
	ok(run(c, &f) == RS_TEMP, "timeout after the dot");
	is_int(f.ndone, 2, "both messages in flight are done");
	ok(f.res[0][0].code == 0 && strstr(f.res[0][0].text, "timeout") &&
	    strstr(f.res[0][0].text, "end of data"), "timeout text: %s",
	    f.res[0][0].text);
	is_str(f.res[0][0].status, "4.4.2", "local failure is 4.4.2");
	ok(f.res[1][0].code == 0 && strstr(f.res[1][0].text, "MAIL FROM"),
	    "the group behind the dot: %s", f.res[1][0].text);
	is_int(f.next, 2, "no message handed out after the failure");
	smtpc_close(c);
	kill(child, SIGTERM);
	finish();

	smtpc_opts_default(&o);
	memset(&f, 0, sizeof(f));
	c = start("220 x\r\n", h_421, 0, &o);
	smtpc_greeting(c, &r);
	smtpc_hello(c, "hub.test", &r);
	feed_add(&f, "s@example.org", r_a, 1, "Subject: 1\r\n\r\n");
	feed_add(&f, "s@example.org", r_ab, 2, "Subject: 2\r\n\r\n");
	feed_add(&f, "s@example.org", r_a, 1, "Subject: 3\r\n\r\n");
	ok(run(c, &f) == RS_TEMP, "421 ends the session");
	is_int(f.ndone, 3, "three done");
	is_int(f.res[0][0].code, 250, "first delivered");
	is_int(f.res[1][1].code, 421, "second: 421");
	is_int(f.res[2][0].code, 421, "third: 421");
	smtpc_close(c);
	finish();

	memset(&f, 0, sizeof(f));
	c = start("220 x\r\n", h_drop, 0, &o);
	smtpc_greeting(c, &r);
	smtpc_hello(c, "hub.test", &r);
	feed_add(&f, "s@example.org", r_a, 1, "Subject: 1\r\n\r\n");
	feed_add(&f, "s@example.org", r_a, 1, "Subject: 2\r\n\r\n");
	feed_add(&f, "s@example.org", r_a, 1, "Subject: 3\r\n\r\n");
	ok(run(c, &f) == RS_TEMP, "dropped connection");
	is_int(f.ndone, 3, "three done");
	is_int(f.res[0][0].code, 250, "first delivered");
	ok(f.res[1][0].code == 0 && strstr(f.res[1][0].text,
	    "lost connection"), "second: lost connection (%s)",
	    f.res[1][0].text);
	is_int(f.res[2][0].code, 0, "third: lost");
	smtpc_close(c);
	finish();
}

static void
test_connect(void)
{
	struct sockaddr_in sin;
	struct smtpc_reply r;
	struct smtpc *c;
	socklen_t sl = sizeof(sin);
	char where[64];
	int lfd, fd;

	ok(smtpc_connect("[::1", 25, NULL, &c, &r) == RS_PERM,
	    "malformed address refused");
	ok(smtpc_connect("host:99999", 25, NULL, &c, &r) == RS_PERM,
	    "bad port refused");
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(lfd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(lfd, (struct sockaddr *)&sin, &sl);
	close(lfd);	/* now nothing listens on that port */
	snprintf(where, sizeof(where), "127.0.0.1:%d", ntohs(sin.sin_port));
	ok(smtpc_connect(where, 25, NULL, &c, &r) == RS_TEMP &&
	    strstr(r.text, "refused") != NULL, "refused: %s", r.text);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = 0;
	bind(lfd, (struct sockaddr *)&sin, sizeof(sin));
	listen(lfd, 1);
	sl = sizeof(sin);
	getsockname(lfd, (struct sockaddr *)&sin, &sl);
	snprintf(where, sizeof(where), "localhost:%d", ntohs(sin.sin_port));
	fflush(stdout);
	if ((child = fork()) == 0) {
		fd = accept(lfd, NULL, NULL);
		if (write(fd, "220 tcp.test\r\n", 14) != 14)
			_exit(1);
		sleep(1);
		_exit(0);
	}
	close(lfd);
	ok(smtpc_connect(where, 25, NULL, &c, &r) == RS_OK, "TCP connect");
	ok(c != NULL && strncmp(smtpc_relay(c), "localhost[", 10) == 0,
	    "relay %s", c ? smtpc_relay(c) : "");
	ok(c != NULL && smtpc_greeting(c, &r) == RS_OK, "TCP greeting");
	smtpc_close(c);
	waitpid(child, NULL, 0);
}

int
main(void)
{
	int fd;

	signal(SIGPIPE, SIG_IGN);
	if ((fd = mkstemp(tspath)) == -1)
		return 2;
	close(fd);
	test_window();
	test_data();
	test_pipe();
	test_plain();
	test_check();
	test_release();
	test_lmtp();
	test_dsn();
	test_cmds();
	test_failures();
	test_connect();
	unlink(tspath);
	return done_testing();
}
