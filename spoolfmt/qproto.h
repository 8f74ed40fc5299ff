/*
 * qproto.h - what a session and bridged's master say to the queue
 * process (qserv.c serves it, qclient.c speaks it), one conf/chan.h
 * message each.  Strings are chan_put_str (absent = NULL); u32/u64 in
 * host order.
 *
 * master -> queue
 *   QM_CLIENT   fd: the queue's end of a new session's socket pair;
 *               u32 serial, str peer (numeric address, or "" for a
 *               local socket).  The peer is the kernel's (accept),
 *               never what the session says.
 *   QM_CONFIG   u32 first, u32 last, str spool, u64 max_size, u64
 *               min_free (a commit with less room is refused), the
 *               VERDICT_KEY bytes of the lookup's verdicts (verdict.h),
 *               u32 k, k times str customer name and u64 quota (queued
 *               octets; 0: none): the list comes in as many
 *               messages as it takes (first starts it, last applies
 *               it); at start before anything else, and again after a
 *               reload.
 *   QM_USAGE    fd: the usage table (etrn/usage.c) for the list just
 *               sent, after each whole QM_CONFIG list: quotas are
 *               checked against it at each commit, and each committed
 *               copy is counted in it.
 * queue -> master
 *   QM_READY    u32 pid: recovery is done, sessions may start.
 *
 * queue -> session, unasked
 *   QM_TICKET   str id: the queue id the session's next new message
 *               gets; one comes when the session is handed over and a
 *               new one with every QM_OPEN of a new message, so that
 *               opening waits for nothing and the id is still the
 *               queue's choice.
 *
 * session -> queue (a session has at most one envelope pending and a
 * few entries open; only COMMIT is answered)
 *   QM_OPEN     u32 entry (the session's number for it, 1 to
 *               QP_OPEN_MAX, not in use), u32 src (0: a new message;
 *               else an open entry whose message octets the new one
 *               copies: another customer's copy of the same message),
 *               str id (a new message: the ticket; a copy: absent),
 *               then the envelope: str customer, u32 body_8bit, str
 *               protocol, str client ("name [addr]": addr must be the
 *               peer's), str helo, str sender, str envid, u32 ret, u32
 *               nrcpts; then u32 k and k recipients: str addr, u32
 *               notify, str orcpt, and the VERDICT_LEN bytes of the
 *               lookup's token for it (verdict.h): without the right
 *               one for this session, customer and address the
 *               session is cut off.  A failure to open (an unknown
 *               customer, a full disk) is the answer to its commit.
 *   QM_RCPT     u32 k and k recipients, when they did not all fit into
 *               the QM_OPEN; the entry is opened when nrcpts have come.
 *   QM_DATA     header id = entry; the payload is message octets.
 *   QM_COMMIT   u32 all, u32 n, n times u32 entry, then u32 len and
 *               the last len message octets of the first entry
 *   QM_ABORT    u32 entry
 * queue -> session
 *   QM_COMMITTED u32 n, n times: u32 result, str error
 *
 * Anything else, or any message out of order, closes the session's
 * socket: its open entries are removed (logged), and the session
 * answers 451 to its client.
 */
#ifndef QPROTO_H
#define QPROTO_H

enum qmsg {
	QM_CLIENT = 1,
	QM_READY,
	QM_OPEN,
	QM_RCPT,
	QM_DATA,
	QM_COMMIT,
	QM_ABORT,
	QM_TICKET,
	QM_COMMITTED,
	QM_CONFIG,
	QM_USAGE
};

#define QP_OPEN_MAX	128	/* entries open at once per session */
#define QP_RCPTS_MAX	100000	/* recipients of one envelope */
#define QP_ERR		256	/* error text, NUL included */
#define QP_PROTO	16	/* protocol name, NUL included */
#define QP_CLIENT	400	/* "name [addr]", NUL included */
#define QP_HELO		300

#endif
