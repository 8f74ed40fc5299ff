/*
 * verdict.h - the lookup process's word that a recipient may be
 * queued for a customer, in a form the queue process can check
 * without asking anyone: a MAC (HMAC-SHA-256, cut to VERDICT_LEN
 * bytes) over the session's serial, the customer and the recipient,
 * under a key bridged's master makes at start and gives to both
 * processes.  A session carries the token from its RCPT verdict to
 * the queue with the recipient; without the right one the queue
 * cuts the session off.
 *
 * Invariants: the key never reaches a session; tokens are compared
 * in constant time; a token binds one session, so a session cannot
 * reuse another's verdicts.
 */
#ifndef VERDICT_H
#define VERDICT_H

#include <stddef.h>
#include <stdint.h>

#define VERDICT_KEY	32	/* key bytes */
#define VERDICT_LEN	16	/* token bytes */

/* verdict_key_new - a fresh random key; 0 or -1. */
int	verdict_key_new(unsigned char key[VERDICT_KEY]);
/* verdict_make - the token for (serial, customer, rcpt); 0 or -1. */
int	verdict_make(const unsigned char key[VERDICT_KEY], uint32_t serial,
	    const char *customer, const char *rcpt,
	    unsigned char tok[VERDICT_LEN]);
/* verdict_check - 1 when tok is the token for them, else 0. */
int	verdict_check(const unsigned char key[VERDICT_KEY], uint32_t serial,
	    const char *customer, const char *rcpt,
	    const unsigned char tok[VERDICT_LEN]);

#endif
