/*
 * fetch.c - the libssh2 side of bridge-fetch: connect with a deadline,
 * handshake, strict host key check, public key authentication, then
 * SFTP: list the outbox, download one bundle (resuming from a partial
 * file), remove it.  Reads are large (about 1 MiB) so that libssh2
 * keeps several 30000-octet requests in flight: on a long link the
 * window, not the bandwidth, would otherwise set the pace.  Round
 * trips are what a long link costs, so a download stops at the size
 * the listing gave (no read only to hear EOF) and its CLOSE rides on
 * the next request's round trip.
 *
 * Errors are classified once, here: anything the network did is
 * FETCH_TEMP and leaves the connection marked dead (no more requests,
 * no polite disconnect that could hang); refusals and bad settings are
 * reported as such and never retried.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>
#include <libssh2_sftp.h>

#include "bundle.h"
#include "log.h"
#include "ssh.h"
#include "util.h"

#define DIRENT_MAX	1024		/* a remote name, with NUL */

struct ssh_conn {
	int	sock;
	LIBSSH2_SESSION *s;
	LIBSSH2_SFTP *sftp;
	LIBSSH2_SFTP_HANDLE *closing;	/* CLOSE sent, its reply not read */
	int	dead;			/* the network failed: stop talking */
	char	dir[512];
	char	where[300];		/* user@host:port, for messages */
};

static int libssh2_ready;

/* tcp_connect - a connected blocking socket, or -1 with err filled. */
static int
tcp_connect(const char *host, int port, long timeout, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	struct pollfd pfd;
	char sport[16];
	socklen_t sl;
	int fd = -1, rc, soerr, fl, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(sport, sizeof(sport), "%d", port);
	if ((rc = getaddrinfo(host, sport, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
		    gai_strerror(rc));
		return -1;
	}
	snprintf(err, errlen, "cannot connect to %s port %d", host, port);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if ((rc = connect(fd, ai->ai_addr, ai->ai_addrlen)) == 0)
			errno = 0;
		else if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			rc = poll(&pfd, 1, (int)(timeout * 1000));
			sl = sizeof(soerr);
			if (rc == 0)
				errno = ETIMEDOUT;
			else if (rc > 0 && getsockopt(fd, SOL_SOCKET,
			    SO_ERROR, &soerr, &sl) == 0)
				errno = soerr;
		}
		if (errno == 0) {
			/* SFTP requests are small: never wait for an ACK */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			fl = fcntl(fd, F_GETFL);
			if (fl != -1 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)
			    != -1)
				break;
		}
		snprintf(err, errlen, "cannot connect to %s port %d: %s",
		    host, port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* net_error - is this libssh2 error the network's doing? */
static int
net_error(int e)
{
	switch (e) {
	case LIBSSH2_ERROR_SOCKET_NONE:
	case LIBSSH2_ERROR_BANNER_RECV:
	case LIBSSH2_ERROR_BANNER_SEND:
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_TIMEOUT:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
	case LIBSSH2_ERROR_SOCKET_TIMEOUT:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_CHANNEL_CLOSED:
	case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
	case LIBSSH2_ERROR_BAD_SOCKET:
	case LIBSSH2_ERROR_INVALID_MAC:
	case LIBSSH2_ERROR_DECRYPT:
	case LIBSSH2_ERROR_PROTO:
		return 1;
	}
	return 0;
}

static const char *
fx_text(unsigned long fx)
{
	switch (fx) {
	case LIBSSH2_FX_NO_SUCH_FILE:
	case LIBSSH2_FX_NO_SUCH_PATH:
		return "no such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED:
		return "permission denied";
	case LIBSSH2_FX_NOT_A_DIRECTORY:
		return "not a directory";
	case LIBSSH2_FX_OP_UNSUPPORTED:
		return "operation not supported";
	case LIBSSH2_FX_FAILURE:
		return "failure";
	}
	return "SFTP error";
}

/*
 * conn_error - classify the session's last error, with what we were
 * doing as the message's start.  SFTP status codes say whether the hub
 * refused (permission), lacks the thing (config) or failed (try later).
 */
static enum fetch_rc
conn_error(struct ssh_conn *c, const char *what, char *err, size_t errlen)
{
	char *msg = NULL;
	unsigned long fx;
	int e;

	e = libssh2_session_last_error(c->s, &msg, NULL, 0);
	if (e == LIBSSH2_ERROR_SFTP_PROTOCOL && c->sftp != NULL) {
		fx = libssh2_sftp_last_error(c->sftp);
		snprintf(err, errlen, "%s: %s", what, fx_text(fx));
		if (fx == LIBSSH2_FX_PERMISSION_DENIED)
			return FETCH_REFUSED;
		if (fx == LIBSSH2_FX_NO_SUCH_FILE ||
		    fx == LIBSSH2_FX_NO_SUCH_PATH ||
		    fx == LIBSSH2_FX_NOT_A_DIRECTORY)
			return FETCH_CONFIG;
		return FETCH_TEMP;
	}
	snprintf(err, errlen, "%s: %s", what,
	    msg != NULL && *msg != '\0' ? msg : "connection failed");
	if (net_error(e) || e == 0)
		c->dead = 1;
	return FETCH_TEMP;
}

/* lost - the connection failed earlier: say so without touching it. */
static enum fetch_rc
lost(const struct ssh_conn *c, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: the connection was lost", c->where);
	return FETCH_TEMP;
}

/* conn_auth - public key authentication with the identity file. */
static enum fetch_rc
conn_auth(struct ssh_conn *c, const struct ssh_target *t, char *err,
    size_t errlen)
{
	char key[1024], pub[1100];
	const char *pubp = NULL;
	char *msg = NULL;
	int rc;

	if (ssh_path_expand(t->identity, key, sizeof(key)) == -1 ||
	    path_build(pub, sizeof(pub), "%s.pub", key) == -1) {
		snprintf(err, errlen, "bad identity path %s", t->identity);
		return FETCH_CONFIG;
	}
	if (access(key, R_OK) == -1) {
		snprintf(err, errlen, "cannot read identity %s: %s", key,
		    strerror(errno));
		return FETCH_CONFIG;
	}
	if (access(pub, R_OK) == 0)
		pubp = pub;
	rc = libssh2_userauth_publickey_fromfile_ex(c->s, t->user,
	    (unsigned)strlen(t->user), pubp, key, NULL);
	if (rc == 0)
		return FETCH_OK;
	libssh2_session_last_error(c->s, &msg, NULL, 0);
	if (rc == LIBSSH2_ERROR_FILE) {
		snprintf(err, errlen, "cannot use identity %s (an "
		    "unencrypted ed25519 or ecdsa key is needed): %s", key,
		    msg != NULL ? msg : "");
		return FETCH_CONFIG;
	}
	if (net_error(rc)) {
		c->dead = 1;
		snprintf(err, errlen, "%s: authentication: %s", c->where,
		    msg != NULL ? msg : "connection lost");
		return FETCH_TEMP;
	}
	snprintf(err, errlen, "%s: the hub refused the key %s "
	    "(is its public half in the user's authorized_keys?)",
	    c->where, pubp != NULL ? pubp : key);
	return FETCH_REFUSED;
}

/* conn_session - handshake, host key, authentication, SFTP. */
static enum fetch_rc
conn_session(struct ssh_conn *c, const struct ssh_target *t, char *err,
    size_t errlen)
{
	enum fetch_rc rc;
	char *msg = NULL;
	int e;

	if ((c->s = libssh2_session_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return FETCH_TEMP;
	}
	libssh2_session_set_blocking(c->s, 1);
	libssh2_session_set_timeout(c->s, t->io_timeout * 1000);
	libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY,
	    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
	    "ecdsa-sha2-nistp521,ssh-rsa");
	libssh2_session_method_pref(c->s, LIBSSH2_METHOD_CRYPT_CS,
	    "aes128-ctr,aes256-ctr,aes192-ctr");
	libssh2_session_method_pref(c->s, LIBSSH2_METHOD_CRYPT_SC,
	    "aes128-ctr,aes256-ctr,aes192-ctr");
	if ((e = libssh2_session_handshake(c->s, c->sock)) != 0) {
		libssh2_session_last_error(c->s, &msg, NULL, 0);
		snprintf(err, errlen, "%s: SSH handshake failed: %s",
		    c->where, msg != NULL ? msg : "");
		c->dead = 1;
		return net_error(e) ? FETCH_TEMP : FETCH_REFUSED;
	}
	rc = ssh_hostkey_verify(c->s, t->host, t->port, t->known_hosts,
	    t->accept_new, err, errlen);
	if (rc != FETCH_OK)
		return rc;
	if ((rc = conn_auth(c, t, err, errlen)) != FETCH_OK)
		return rc;
	libssh2_keepalive_config(c->s, 1, (unsigned)t->keepalive);
	if ((c->sftp = libssh2_sftp_init(c->s)) == NULL)
		return conn_error(c, "starting SFTP", err, errlen);
	return FETCH_OK;
}

enum fetch_rc
ssh_connect(const struct ssh_target *t, struct ssh_conn **cp, char *err,
    size_t errlen)
{
	struct ssh_conn *c;
	enum fetch_rc rc;

	*cp = NULL;
	if (!libssh2_ready) {
		if (libssh2_init(0) != 0) {
			snprintf(err, errlen, "libssh2_init failed");
			return FETCH_TEMP;
		}
		libssh2_ready = 1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return FETCH_TEMP;
	}
	if (strlcpy_(c->dir, t->dir, sizeof(c->dir)) >= sizeof(c->dir)) {
		free(c);
		snprintf(err, errlen, "remote directory name too long");
		return FETCH_CONFIG;
	}
	snprintf(c->where, sizeof(c->where), "%s@%s:%d", t->user, t->host,
	    t->port);
	if ((c->sock = tcp_connect(t->host, t->port, t->connect_timeout, err,
	    errlen)) == -1) {
		free(c);
		return FETCH_TEMP;
	}
	if ((rc = conn_session(c, t, err, errlen)) != FETCH_OK) {
		c->dead = 1;
		ssh_close(c);
		return rc;
	}
	*cp = c;
	return FETCH_OK;
}

/*
 * close_start - send CLOSE for h without waiting for the reply: the
 * next request's round trip brings it (the server answers in order),
 * and close_finish reads it then.  libssh2 keeps each request's state
 * apart (a handle's close, an open, an unlink), and never interleaves
 * a half-sent packet with another, so the two may overlap.
 */
static void
close_start(struct ssh_conn *c, LIBSSH2_SFTP_HANDLE *h)
{
	int rc;

	libssh2_session_set_blocking(c->s, 0);
	rc = libssh2_sftp_close(h);
	libssh2_session_set_blocking(c->s, 1);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		c->closing = h;
}

/* close_finish - the pending CLOSE's reply (an error is of no matter). */
static void
close_finish(struct ssh_conn *c)
{
	if (c->closing != NULL && !c->dead)
		libssh2_sftp_close(c->closing);
	c->closing = NULL;
}

void
ssh_close(struct ssh_conn *c)
{
	if (c == NULL)
		return;
	close_finish(c);
	if (!c->dead && c->sftp != NULL)
		libssh2_sftp_shutdown(c->sftp);
	if (c->s != NULL) {
		if (!c->dead)
			libssh2_session_disconnect(c->s, "bridge-fetch done");
		libssh2_session_free(c->s);
	}
	close(c->sock);
	free(c);
}

int
ssh_name_is_bundle(const char *name)
{
	return bundle_name_is_valid(name);
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ssh_entry *)a)->name,
	    ((const struct ssh_entry *)b)->name);
}

enum fetch_rc
ssh_list(struct ssh_conn *c, struct ssh_entry **ep, size_t *np, char *err,
    size_t errlen)
{
	LIBSSH2_SFTP_HANDLE *h;
	LIBSSH2_SFTP_ATTRIBUTES a;
	struct ssh_entry *v = NULL, *nv;
	size_t n = 0, cap = 0;
	char name[DIRENT_MAX], what[1024];
	enum fetch_rc rc = FETCH_OK;
	int len;

	*ep = NULL;
	*np = 0;
	if (c->dead)
		return lost(c, err, errlen);
	snprintf(what, sizeof(what), "%s: listing %s", c->where, c->dir);
	if ((h = libssh2_sftp_opendir(c->sftp, c->dir)) == NULL)
		return conn_error(c, what, err, errlen);
	close_finish(c);
	while ((len = libssh2_sftp_readdir_ex(h, name, sizeof(name), NULL, 0,
	    &a)) > 0) {
		if (!ssh_name_is_bundle(name) ||
		    (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) == 0 ||
		    !LIBSSH2_SFTP_S_ISREG(a.permissions) || n >= SSH_LIST_MAX)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				snprintf(err, errlen, "out of memory");
				rc = FETCH_TEMP;
				break;
			}
			v = nv;
		}
		strlcpy_(v[n].name, name, sizeof(v[n].name));
		v[n].size = (a.flags & LIBSSH2_SFTP_ATTR_SIZE) ? a.filesize : 0;
		n++;
	}
	if (len < 0 && rc == FETCH_OK)
		rc = conn_error(c, what, err, errlen);
	if (!c->dead)
		libssh2_sftp_closedir(h);
	if (rc != FETCH_OK) {
		free(v);
		return rc;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), entry_cmp);
	*ep = v;
	*np = n;
	return FETCH_OK;
}

/* pace - sleep until got octets since started fit under rate. */
static void
pace(uint64_t got, double started, uint64_t rate)
{
	double due = (double)got / (double)rate, now = time_mono() - started;
	struct timespec ts;

	if (due <= now)
		return;
	due -= now;
	ts.tv_sec = (time_t)due;
	ts.tv_nsec = (long)((due - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* read_size - the buffer for one read: large, or a fraction of rate. */
static size_t
read_size(const struct ssh_opts *o)
{
	size_t n = o->bufsize ? o->bufsize : SSH_BUF_DEFAULT;

	if (o->rate > 0 && o->rate / 4 < n)
		n = (size_t)(o->rate / 4);
	n -= n % SSH_BUF_MIN;
	return n < SSH_BUF_MIN ? SSH_BUF_MIN : n;
}

/* part_open - open the partial file; *off is where to resume. */
static int
part_open(const char *part, uint64_t size, uint64_t *off, char *err,
    size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", part, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	*off = (uint64_t)st.st_size;
	if (size > 0 && *off > size) {
		log_warnx("%s is larger than the hub's copy, starting again",
		    part);
		if (ftruncate(fd, 0) == -1) {
			snprintf(err, errlen, "%s: %s", part, strerror(errno));
			close(fd);
			return -1;
		}
		*off = 0;
	}
	if (lseek(fd, (off_t)*off, SEEK_SET) == -1) {
		snprintf(err, errlen, "%s: %s", part, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * xfer_loop - read h into fd to EOF or, when want is not 0, until want
 * octets came (a bundle does not change once published, and the read
 * that would only say EOF costs a round trip), pacing and reporting.
 */
static enum fetch_rc
xfer_loop(struct ssh_conn *c, LIBSSH2_SFTP_HANDLE *h, int fd,
    uint64_t want, const struct ssh_opts *o, struct ssh_xfer *x,
    const char *what, char *err, size_t errlen)
{
	size_t bufsize = read_size(o), ask;
	char *buf;
	ssize_t n;
	enum fetch_rc rc = FETCH_OK;

	if ((buf = malloc(bufsize)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return FETCH_TEMP;
	}
	while (want == 0 || x->got < want) {
		ask = want == 0 || want - x->got > bufsize ? bufsize :
		    (size_t)(want - x->got);
		n = libssh2_sftp_read(h, buf, ask);
		if (n == 0)
			break;
		if (n < 0) {
			rc = conn_error(c, what, err, errlen);
			break;
		}
		if (io_write_all(fd, buf, (size_t)n) == -1) {
			snprintf(err, errlen, "writing the partial file of "
			    "%s: %s", x->name, strerror(errno));
			rc = FETCH_IOERR;
			break;
		}
		x->got += (uint64_t)n;
		if (o->progress != NULL)
			o->progress(x, 0, o->progress_arg);
		if (o->rate > 0)
			pace(x->got, x->started, o->rate);
	}
	free(buf);
	return rc;
}

enum fetch_rc
ssh_download(struct ssh_conn *c, const struct ssh_entry *e, const char *part,
    const struct ssh_opts *o, struct ssh_xfer *x, char *err, size_t errlen)
{
	LIBSSH2_SFTP_HANDLE *h;
	char path[700], what[1100];
	enum fetch_rc rc;
	uint64_t off;
	int fd;

	memset(x, 0, sizeof(*x));
	x->name = e->name;
	x->size = e->size;
	x->started = time_mono();
	if (c->dead)
		return lost(c, err, errlen);
	if ((fd = part_open(part, e->size, &off, err, errlen)) == -1)
		return FETCH_IOERR;
	x->offset = off;
	if (e->size > 0 && off == e->size) {
		close(fd);
		return FETCH_OK;
	}
	if (path_build(path, sizeof(path), "%s/%s", c->dir, e->name) == -1) {
		close(fd);
		snprintf(err, errlen, "remote path too long");
		return FETCH_CONFIG;
	}
	snprintf(what, sizeof(what), "%s: reading %s", c->where, path);
	h = libssh2_sftp_open_ex(c->sftp, path, (unsigned)strlen(path),
	    LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE);
	if (h == NULL) {
		close(fd);
		return conn_error(c, what, err, errlen);
	}
	close_finish(c);
	if (off > 0)
		libssh2_sftp_seek64(h, off);
	rc = xfer_loop(c, h, fd, e->size > 0 ? e->size - off : 0, o, x, what,
	    err, errlen);
	if (!c->dead)
		close_start(c, h);
	x->net = time_mono() - x->started;
	if (fsync(fd) == -1 && rc == FETCH_OK) {
		snprintf(err, errlen, "%s: %s", part, strerror(errno));
		rc = FETCH_IOERR;
	}
	if (close(fd) == -1 && rc == FETCH_OK) {
		snprintf(err, errlen, "%s: %s", part, strerror(errno));
		rc = FETCH_IOERR;
	}
	if (o->progress != NULL)
		o->progress(x, 1, o->progress_arg);
	if (rc == FETCH_OK && e->size > 0 && off + x->got != e->size) {
		snprintf(err, errlen, "%s: got %llu octets of %llu", what,
		    (unsigned long long)(off + x->got),
		    (unsigned long long)e->size);
		rc = FETCH_TEMP;
	}
	return rc;
}

enum fetch_rc
ssh_remove(struct ssh_conn *c, const char *name, char *err, size_t errlen)
{
	char path[700], what[1100];
	int rc;

	if (c->dead)
		return lost(c, err, errlen);
	if (path_build(path, sizeof(path), "%s/%s", c->dir, name) == -1) {
		snprintf(err, errlen, "remote path too long");
		return FETCH_CONFIG;
	}
	rc = libssh2_sftp_unlink_ex(c->sftp, path, (unsigned)strlen(path));
	close_finish(c);
	if (rc == 0)
		return FETCH_OK;
	if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_SFTP_PROTOCOL &&
	    libssh2_sftp_last_error(c->sftp) == LIBSSH2_FX_NO_SUCH_FILE)
		return FETCH_OK;
	snprintf(what, sizeof(what), "%s: removing %s", c->where, path);
	return conn_error(c, what, err, errlen);
}

int
ssh_keepalive(struct ssh_conn *c)
{
	int next = 0;

	if (c->dead || libssh2_keepalive_send(c->s, &next) != 0)
		return 60;
	return next > 0 ? next : 1;
}

int
ssh_alive(const struct ssh_conn *c)
{
	return !c->dead;
}
