/*
 * knownhosts.c - strict host key checking for bridge-fetch: the hub's
 * key must be listed for that host in an OpenSSH known_hosts file.
 * Unknown keys are recorded only on request (-A), changed keys never:
 * a changed key is refused until the operator edits the file.  A line
 * libssh2 cannot parse (@cert-authority, key types it lacks) is skipped
 * with a warning instead of failing the whole file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh2.h>

#include "log.h"
#include "ssh.h"
#include "util.h"

#define KH_LINE_MAX	8192

/* One host key type as libssh2 reports it and as people know it. */
static const struct {
	int	hostkey;		/* LIBSSH2_HOSTKEY_TYPE_* */
	int	known;			/* LIBSSH2_KNOWNHOST_KEY_* */
	const char *name;
} key_types[] = {
	{ LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa" },
	{ LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256,
	    "ecdsa-sha2-nistp256" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384,
	    "ecdsa-sha2-nistp384" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521,
	    "ecdsa-sha2-nistp521" },
	{ LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519,
	    "ssh-ed25519" },
};

int
ssh_path_expand(const char *in, char *buf, size_t len)
{
	const char *home, *rest;
	struct passwd *pw;
	char user[64];
	size_t n;

	if (in[0] != '~')
		return strlcpy_(buf, in, len) < len ? 0 : -1;
	rest = strchr(in, '/');
	n = rest != NULL ? (size_t)(rest - in - 1) : strlen(in + 1);
	if (rest == NULL)
		rest = "";
	if (n == 0) {
		home = getenv("HOME");
		if ((home == NULL || *home == '\0') &&
		    (pw = getpwuid(getuid())) != NULL)
			home = pw->pw_dir;
	} else {
		if (n >= sizeof(user))
			return -1;
		memcpy(user, in + 1, n);
		user[n] = '\0';
		pw = getpwnam(user);
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || *home == '\0')
		return -1;
	return path_build(buf, len, "%s%s", home, rest);
}

void
ssh_fingerprint(const unsigned char *h, char *buf, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[64];
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i < 32; i += 3) {
		v = (unsigned)h[i] << 16;
		if (i + 1 < 32)
			v |= (unsigned)h[i + 1] << 8;
		if (i + 2 < 32)
			v |= h[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		if (i + 1 < 32)
			out[o++] = b64[(v >> 6) & 63];
		if (i + 2 < 32)
			out[o++] = b64[v & 63];
	}
	out[o] = '\0';
	snprintf(buf, len, "SHA256:%s", out);
}

/* kh_load - every line libssh2 understands; ENOENT is an empty file. */
static int
kh_load(LIBSSH2_KNOWNHOSTS *kh, const char *path, char *err, size_t errlen)
{
	char line[KH_LINE_MAX];
	unsigned long lineno = 0;
	size_t n;
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read known hosts file %s: %s",
		    path, strerror(errno));
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		n = strlen(line);
		if (n > 0 && line[n - 1] != '\n' && !feof(fp)) {
			log_warnx("%s:%lu: line too long, ignored", path,
			    lineno);
			while (fgets(line, sizeof(line), fp) != NULL &&
			    line[strlen(line) - 1] != '\n')
				;
			continue;
		}
		while (n > 0 && isspace((unsigned char)line[n - 1]))
			line[--n] = '\0';
		if (n == 0 || line[strspn(line, " \t")] == '#')
			continue;
		if (libssh2_knownhost_readline(kh, line, n,
		    LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0)
			log_warnx("%s:%lu: entry not understood, ignored",
			    path, lineno);
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "reading %s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

/* kh_entry_name - the name known_hosts uses: host, or [host]:port. */
static void
kh_entry_name(const char *host, int port, char *buf, size_t len)
{
	size_t i;

	if (port == 22)
		snprintf(buf, len, "%s", host);
	else
		snprintf(buf, len, "[%s]:%d", host, port);
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
}

/* kh_append - record the session's key for host at the end of path. */
static int
kh_append(LIBSSH2_KNOWNHOSTS *kh, const char *path, const char *entry,
    const char *key, size_t keylen, int known, char *err, size_t errlen)
{
	struct libssh2_knownhost *store;
	char line[KH_LINE_MAX], last;
	size_t outlen;
	off_t end;
	int fd, rc;

	if (libssh2_knownhost_addc(kh, entry, NULL, key, keylen,
	    "added by bridge-fetch", strlen("added by bridge-fetch"),
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	    known, &store) != 0 ||
	    libssh2_knownhost_writeline(kh, store, line, sizeof(line) - 1,
	    &outlen, LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
		snprintf(err, errlen, "cannot format a known_hosts entry "
		    "for %s", entry);
		return -1;
	}
	if (outlen == 0 || line[outlen - 1] != '\n')
		line[outlen++] = '\n';
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1) {
		snprintf(err, errlen, "cannot record the host key in %s: %s",
		    path, strerror(errno));
		return -1;
	}
	rc = 0;
	if ((end = lseek(fd, 0, SEEK_END)) > 0 &&
	    pread(fd, &last, 1, end - 1) == 1 && last != '\n')
		rc = io_write_all(fd, "\n", 1);
	if (rc == 0)
		rc = io_write_all(fd, line, outlen);
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) == -1)
		rc = -1;
	if (rc != 0) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

enum fetch_rc
ssh_hostkey_verify(void *session, const char *host, int port,
    const char *known_hosts, int accept_new, char *err, size_t errlen)
{
	LIBSSH2_SESSION *s = session;
	LIBSSH2_KNOWNHOSTS *kh;
	const char *key, *hash, *tname = "unknown";
	char path[1024], fp[64], entry[300];
	size_t keylen, i;
	int type, known = LIBSSH2_KNOWNHOST_KEY_UNKNOWN, rc, rc0;
	enum fetch_rc ret;

	if (ssh_path_expand(known_hosts, path, sizeof(path)) == -1) {
		snprintf(err, errlen, "cannot expand known hosts path %s",
		    known_hosts);
		return FETCH_CONFIG;
	}
	if ((key = libssh2_session_hostkey(s, &keylen, &type)) == NULL ||
	    (hash = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256)) ==
	    NULL) {
		snprintf(err, errlen, "the hub sent no usable host key");
		return FETCH_REFUSED;
	}
	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (key_types[i].hostkey == type) {
			known = key_types[i].known;
			tname = key_types[i].name;
		}
	ssh_fingerprint((const unsigned char *)hash, fp, sizeof(fp));
	kh_entry_name(host, port, entry, sizeof(entry));
	if ((kh = libssh2_knownhost_init(s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return FETCH_CONFIG;
	}
	if (kh_load(kh, path, err, errlen) == -1) {
		libssh2_knownhost_free(kh);
		return FETCH_CONFIG;
	}
	rc = known == LIBSSH2_KNOWNHOST_KEY_UNKNOWN ?
	    LIBSSH2_KNOWNHOST_CHECK_FAILURE :
	    libssh2_knownhost_checkp(kh, host, port, key, keylen,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	    known, NULL);
	/* Key type 0 compares against every key recorded for the host. */
	rc0 = rc != LIBSSH2_KNOWNHOST_CHECK_NOTFOUND ? rc :
	    libssh2_knownhost_checkp(kh, host, port, key, keylen,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW, NULL);
	ret = FETCH_REFUSED;
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
		ret = FETCH_OK;
	} else if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ||
	    rc0 == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
		snprintf(err, errlen, "HOST KEY FOR %s HAS CHANGED: the hub "
		    "offered %s key %s, which does not match %s.  Someone "
		    "may be intercepting the connection.  If the hub's "
		    "operator confirms this fingerprint, remove the old "
		    "entry (ssh-keygen -R '%s' -f %s) and run again with -A",
		    entry, tname, fp, path, entry, path);
	} else if (rc == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND) {
		if (accept_new) {
			ret = kh_append(kh, path, entry, key, keylen, known,
			    err, errlen) == 0 ? FETCH_OK : FETCH_CONFIG;
			if (ret == FETCH_OK)
				log_info("recorded %s key %s for %s in %s",
				    tname, fp, entry, path);
		} else {
			snprintf(err, errlen, "host key for %s is not known: "
			    "the hub offered %s key %s.  Check this "
			    "fingerprint with the hub's operator (ssh-keygen "
			    "-lf on its host key), then run again with -A to "
			    "record it in %s", entry, tname, fp, path);
		}
	} else {
		snprintf(err, errlen, "cannot check the %s host key %s of %s "
		    "against %s", tname, fp, entry, path);
	}
	libssh2_knownhost_free(kh);
	return ret;
}
