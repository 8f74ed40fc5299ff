/*
 * outbox.h - the hub's outbox for a customer that pulls over SSH,
 * laid out for OpenSSH's internal-sftp in a ChrootDirectory (see
 * etc/sshd_config.bridge and bridge-fetch(8)):
 *
 *   <chroot>/                 root:root 0755   like every component above
 *   <chroot>/<user>/          root:root 0755   the user's ChrootDirectory
 *   <chroot>/<user>/outbox/   <bridge>:<user's group> 0770
 *   <spool>/outbox/<customer> symlink to <chroot>/<user>/outbox
 *
 * sshd insists that every component of a chroot path is owned by root
 * and writable by nobody else; the spool belongs to the bridge user,
 * so the chroot lives beside it (on the same filesystem: bundles are
 * renamed into the outbox) and the spool's outbox entry is a symlink.
 * The bundler keeps publishing into <spool>/outbox/<customer>/.
 *
 * Inside, the user's group may list, read and remove; the bridge user
 * owns the directory and writes the bundles.  Bundles must be
 * OUTBOX_BUNDLE_MODE: the user reads them as "other", and the 0770
 * directory keeps every other account out.  What the user could also
 * do with the directory's write bit (create, rename) is refused by
 * internal-sftp's request allowlist in the Match block.
 */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <stdio.h>

#define OUTBOX_BUNDLE_MODE	0644
#define OUTBOX_DIR_MODE		0770
#define OUTBOX_CHROOT_MODE	0755

struct outbox_spec {
	const char *spool;		/* bridge.conf spool, absolute */
	const char *chroot;		/* where the chroots live, absolute */
	const char *customer;		/* name_is_safe() */
	const char *user;		/* the customer's SSH account */
	const char *bridge_user;	/* the account bridged runs as */
};

/*
 * outbox_prepare - as root: create what is missing and correct owners
 * and modes of the chroot, the outbox and its bundles; an empty
 * <spool>/outbox/<customer> directory is replaced by the symlink.
 * What it cannot or must not correct (a component above <chroot>, a
 * non-empty directory, a symlink elsewhere, another filesystem, unknown
 * accounts) is printed to errs, one line each.  Returns the number of
 * such problems: 0 means sshd and the bundler will both be content.
 */
int	outbox_prepare(const struct outbox_spec *s, FILE *errs);
/* outbox_check - the same checks, changing nothing. */
int	outbox_check(const struct outbox_spec *s, FILE *errs);

#endif
