/*
 * tls.h - the hub's TLS contexts (tls.c, OpenSSL 3 or LibreSSL): the
 * server's, made once per session process from bridge.conf's tls
 * section, before the chroot and the drop, and used by STARTTLS
 * (smtp_io.c sio_starttls); the client's, for STARTTLS towards a
 * customer's server (smtpc.h smtpc_starttls).
 *
 * Invariants: TLS 1.2 is the lowest version ever taken; no
 * renegotiation, no compression; the server's cipher order wins; a key
 * that does not match its certificate is refused at load.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

#include "conf.h"

/* TLS 1.2's ciphers without tls { ciphers }: forward secret, AEAD */
#define TLS_CIPHERS_DEFAULT \
	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"

/*
 * tls_server_new - the context for c's tls section (cert chain, key,
 * ciphers, protocols); NULL with why in err.  Reads the key file: call
 * while it is readable (as root, before the drop).
 */
void   *tls_server_new(const struct bridge_conf *c, char *err, size_t len);
void	tls_server_free(void *ctx);
/*
 * tls_client_new - a client context (the flush's STARTTLS, etrn(1)):
 * TLS 1.2 at least, no compression or renegotiation; peers are
 * verified against the CA certificates in cafile, or the system's
 * store when it is NULL, when the connection asks (smtpc_starttls).
 * NULL with why in err.
 */
void   *tls_client_new(const char *cafile, char *err, size_t len);
void	tls_client_free(void *ctx);
/*
 * tls_read_some - SSL_read of ssl (an SSL *) on a non-blocking socket
 * into buf: the octets read, 0 at the peer's close (close_notify or a
 * bare end of file), TLS_AGAIN when nothing is there yet (or only a
 * signal came), -1 on an error (why in err, len octets).
 */
#define TLS_AGAIN	(-2)
int	tls_read_some(void *ssl, void *buf, size_t n, char *err, size_t len);
/* tls_error - OpenSSL's last error, or what, into buf; buf. */
const char *tls_error(const char *what, char *buf, size_t len);

#endif
