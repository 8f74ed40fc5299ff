/*
 * lproto.h - what a session and bridged's master say to the lookup
 * process (lookup.c decides, lookupd.c serves, lclient.c asks), one
 * conf/chan.h message each.  Strings are chan_put_str (absent =
 * NULL); u32/u64 in host order.
 *
 * master -> lookup
 *   LM_CLIENT   fd: the lookup's end of a new session's socket pair;
 *               u32 serial (the same the queue process is told), u32
 *               kind (LOOKUP_SMTP...), str peer: the numeric address
 *               accept() gave, "unix", or "uid N" (SO_PEERCRED).
 *   LM_KEY      the VERDICT_KEY bytes of the recipient verdicts.
 *   LM_USAGE    fd: the per-customer usage table (usage_fd), after
 *               the key and again after each reload.
 *   LM_RELOAD   read the configuration again (the master did, and it
 *               was good).
 * lookup -> master
 *   LM_READY    the configuration is read: sessions may come.
 *   LM_FLUSH    no longer sent (the flushes come with LM_COUNT); a
 *               session that sends it is cut off.
 *   LM_COUNT    u32 serial (the session's), str its peer address, u32
 *               n, n times str customer and str domain (absent: the
 *               first route key): an ETRN the lookup authorised for
 *               that session; the master, which can read the spool (the
 *               lookup user cannot), counts each customer's queue,
 *               checks the request again and runs a flush for each
 *               that has mail.
 * master -> lookup
 *   LM_COUNTED  u32 serial, u32 n, n times u64 messages waiting (all
 *               ones: not counted, refused): the answer to LM_COUNT,
 *               which the lookup turns into the ETRN's reply.
 *   LM_TURN     fd: an ODMR client whose ATRN it allowed; str
 *               customer, str address (the master's), str name: a
 *               delivery worker answers it and delivers (odmr_turn).
 *
 * lookup -> session, first of all, unasked
 *   LM_NAME     str name: the client's name, the reverse DNS name the
 *               lookup process found for the peer address (resolve.h),
 *               "localhost" on a unix socket, "unknown" when there is
 *               none, sent as soon as it is known.  The chrooted
 *               session cannot resolve; it reads this before its
 *               greeting, and sends nothing before.
 * session -> lookup; a notice, not answered
 *   LM_MAIL     u64 declared size (SIZE=, 0 if none): starts a
 *               transaction; its size limit and free space are
 *               checked here and a refusal (552 5.3.4, 452 4.3.1) is
 *               each of its RCPTs' reply.
 *   LM_TLS      (empty) the session is under TLS now (STARTTLS):
 *               AUTH PLAIN and LOGIN may be taken from here on.
 * session -> lookup; each is answered with one LM_REPLY
 *   LM_RCPT     str address (local@domain), str shown (as written):
 *               route, recipient list, size and quota; the reply names
 *               the customer and carries its verdict token.
 *   LM_AUTH     str the AUTH command's argument (mechanism and any
 *               initial response): a 334 with the base64 challenge,
 *               or the verdict, or a refusal.
 *   LM_ANSWER   str the client's answer line to the 334 ("" when it
 *               was malformed): the verdict, or the next 334 (LOGIN's
 *               "Password:").
 *   LM_ETRN     str the ETRN command's argument: authorised against
 *               the peer address of LM_CLIENT and the session's AUTH,
 *               counted and flushed by the master (LM_COUNT), the
 *               reply when its LM_COUNTED has come.
 *   LM_ATRN     fd: the client's connection; str the ATRN command's
 *               argument.  When the session's AUTH may release the
 *               domains, the connection goes to the master (LM_TURN)
 *               and the reply is 250 with close set: the session must
 *               write nothing more.
 * lookup -> session
 *   LM_REPLY    u32 code, str status, str text (no code or status),
 *               u32 close (the session must end after it), u32
 *               delay (seconds the session waits before sending it, at
 *               most AUTH_DELAY_MAX: a failed AUTH), str
 *               customer, then the VERDICT_LEN token bytes (an
 *               accepted LM_RCPT) or none.
 *
 * A message of another type, or one that does not parse, cuts the
 * session off (logged); it answers 451/454 to its client from then on.
 */
#ifndef LPROTO_H
#define LPROTO_H

enum lmsg {
	LM_CLIENT = 1,
	LM_KEY,
	LM_USAGE,
	LM_RELOAD,
	LM_READY,
	LM_FLUSH,
	LM_NAME,
	LM_MAIL,
	LM_RCPT,
	LM_AUTH,
	LM_ANSWER,
	LM_ETRN,
	LM_ATRN,
	LM_REPLY,
	LM_TURN,
	LM_COUNT,
	LM_COUNTED,
	LM_TLS
};

#endif
