/*
 * tls.c - the TLS contexts (tls.h): the server's of bridged's sessions
 * (the certificate chain and key of bridge.conf's tls section, the
 * protocol range and ciphers, the options every server of ours gets)
 * and the client's of the flush and etrn(1) (the CA store).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"
#include "tls.h"

const char *
tls_error(const char *what, char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	char ebuf[256];

	if (e == 0) {
		strlcpy_(buf, what, len);
		return buf;
	}
	ERR_error_string_n(e, ebuf, sizeof(ebuf));
	snprintf(buf, len, "%s: %s", what, ebuf);
	ERR_clear_error();
	return buf;
}

/*
 * ctx_new - a context of method with what every one of ours has: no
 * compression, no renegotiation, TLS 1.2 at least; NULL (err) when
 * OpenSSL cannot make it.
 */
static SSL_CTX *
ctx_new(const SSL_METHOD *method, char *err, size_t len)
{
	SSL_CTX *ctx;

	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	if ((ctx = SSL_CTX_new(method)) == NULL) {
		tls_error("TLS context", err, len);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_error("tls protocols", err, len);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int
version(int v)
{
	return v >= 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

void *
tls_server_new(const struct bridge_conf *c, char *err, size_t len)
{
	SSL_CTX *ctx;
	char what[600];

	if (c->tls.cert == NULL || c->tls.key == NULL) {
		strlcpy_(err, "no tls section (cert and key)", len);
		return NULL;
	}
	if ((ctx = ctx_new(TLS_server_method(), err, len)) == NULL)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_min_proto_version(ctx, version(c->tls.proto_min))
	    != 1 || SSL_CTX_set_max_proto_version(ctx,
	    version(c->tls.proto_max)) != 1) {
		tls_error("tls protocols", err, len);
		goto bad;
	}
	if (SSL_CTX_set_cipher_list(ctx, c->tls.ciphers != NULL ?
	    c->tls.ciphers : TLS_CIPHERS_DEFAULT) != 1) {
		snprintf(what, sizeof(what), "tls ciphers \"%s\"",
		    c->tls.ciphers != NULL ? c->tls.ciphers :
		    TLS_CIPHERS_DEFAULT);
		tls_error(what, err, len);
		goto bad;
	}
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"bridged",
	    7);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls.cert) != 1) {
		snprintf(what, sizeof(what), "tls cert %s", c->tls.cert);
		tls_error(what, err, len);
		goto bad;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls.key, SSL_FILETYPE_PEM)
	    != 1 && ERR_GET_REASON(ERR_peek_last_error()) !=
	    X509_R_KEY_VALUES_MISMATCH) {
		snprintf(what, sizeof(what), "tls key %s", c->tls.key);
		tls_error(what, err, len);
		goto bad;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "tls key %s does not match the "
		    "certificate %s", c->tls.key, c->tls.cert);
		ERR_clear_error();
		strlcpy_(err, what, len);
		goto bad;
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_server_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

void *
tls_client_new(const char *cafile, char *err, size_t len)
{
	SSL_CTX *ctx;
	char what[600];

	if ((ctx = ctx_new(TLS_client_method(), err, len)) == NULL)
		return NULL;
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (cafile != NULL ? SSL_CTX_load_verify_locations(ctx, cafile, NULL)
	    != 1 : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(what, sizeof(what), "CA certificates %s",
		    cafile != NULL ? cafile : "(the system's)");
		tls_error(what, err, len);
		goto bad;
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_client_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

int
tls_read_some(void *ssl, void *buf, size_t n, char *err, size_t len)
{
	int k, e;

	ERR_clear_error();
	if ((k = SSL_read(ssl, buf, n > INT_MAX ? INT_MAX : (int)n)) > 0)
		return k;
	e = SSL_get_error(ssl, k);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
	    (e == SSL_ERROR_SYSCALL && k == -1 && errno == EINTR))
		return TLS_AGAIN;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && k == 0)) {
		ERR_clear_error();
		return 0;
	}
	tls_error("TLS", err, len);
	return -1;
}
