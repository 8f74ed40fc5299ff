/*
 * verdict.c - recipient verdict tokens (verdict.h): HMAC-SHA-256 from
 * OpenSSL over "serial NUL customer NUL rcpt", cut to VERDICT_LEN.
 *
 * Invariants: the customer and recipient are length-delimited by
 * their NULs, so no two different pairs give the same input; a
 * failure to compute is never a match.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "verdict.h"

#define VERDICT_INPUT	1024	/* serial, customer, recipient */

int
verdict_key_new(unsigned char key[VERDICT_KEY])
{
	return RAND_bytes(key, VERDICT_KEY) == 1 ? 0 : -1;
}

int
verdict_make(const unsigned char key[VERDICT_KEY], uint32_t serial,
    const char *customer, const char *rcpt, unsigned char tok[VERDICT_LEN])
{
	unsigned char mac[EVP_MAX_MD_SIZE], buf[VERDICT_INPUT];
	size_t cl = strlen(customer) + 1, rl = strlen(rcpt) + 1;
	unsigned int len = 0;

	if (4 + cl + rl > sizeof(buf))
		return -1;
	buf[0] = (unsigned char)(serial >> 24);
	buf[1] = (unsigned char)(serial >> 16);
	buf[2] = (unsigned char)(serial >> 8);
	buf[3] = (unsigned char)serial;
	memcpy(buf + 4, customer, cl);
	memcpy(buf + 4 + cl, rcpt, rl);
	if (HMAC(EVP_sha256(), key, VERDICT_KEY, buf, 4 + cl + rl, mac,
	    &len) == NULL || len < VERDICT_LEN)
		return -1;
	memcpy(tok, mac, VERDICT_LEN);
	return 0;
}

int
verdict_check(const unsigned char key[VERDICT_KEY], uint32_t serial,
    const char *customer, const char *rcpt,
    const unsigned char tok[VERDICT_LEN])
{
	unsigned char want[VERDICT_LEN];

	if (verdict_make(key, serial, customer, rcpt, want) == -1)
		return 0;
	return CRYPTO_memcmp(want, tok, VERDICT_LEN) == 0;
}
