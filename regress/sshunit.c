/*
 * sshunit.c - unit tests of ssh/ that need no server: fingerprints,
 * ~ expansion, bundle names, the order of outcomes.  Run by
 * regress/53-ssh-unit.t; prints TAP.
 */
#include <stdlib.h>
#include <string.h>

#include "ssh.h"
#include "tap.h"

int
main(void)
{
	/* SHA-256 of the empty string */
	static const unsigned char h[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
		0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
		0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
	};
	char buf[256];

	ssh_fingerprint(h, buf, sizeof(buf));
	is_str(buf, "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
	    "fingerprint: unpadded base64 of SHA-256, as OpenSSH prints it");

	setenv("HOME", "/home/leaf", 1);
	ok(ssh_path_expand("~/.ssh/known_hosts", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "/home/leaf/.ssh/known_hosts") == 0, "~/ is $HOME");
	ok(ssh_path_expand("~", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "/home/leaf") == 0, "~ alone is $HOME");
	ok(ssh_path_expand("~root/k", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "/root/k") == 0, "~root/ is root's home");
	ok(ssh_path_expand("~no-such-user-here/k", buf, sizeof(buf)) == -1,
	    "~unknown is an error");
	ok(ssh_path_expand("/etc/k", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "/etc/k") == 0, "other paths are kept");
	ok(ssh_path_expand("/etc/k", buf, 4) == -1, "too long is an error");

	ok(ssh_name_is_bundle("660e1c665e311.00000195.00000000.acme.bsmtp.gz"),
	    "a bundle name");
	ok(ssh_name_is_bundle("660e1c665e311.00000195.00000000.acme.bsmtp"),
	    "a plain bundle name");
	ok(!ssh_name_is_bundle("notes.bsmtp.gz"), "not the bundle shape");
	ok(!ssh_name_is_bundle("660e1c665e311.00000195.00000000.acme.txt"),
	    "wrong suffix");
	ok(!ssh_name_is_bundle("660e1c665e311.00000195.00000000.../x.bsmtp"),
	    "a slash");
	ok(!ssh_name_is_bundle("660e1c665e311.00000195.00000000..bsmtp"),
	    "empty label");

	{
		struct ssh_entry v[2];

		memset(v, 0, sizeof(v));
		strcpy(v[0].name, "660e1c665e311.00000195.00000000.acme.bsmtp");
		strcpy(v[1].name, "660e1c665e312.00000195.00000000.acme.bsmtp");
		ok(ssh_entry_listed(v, 2, v[1].name), "listed: found");
		ok(!ssh_entry_listed(v, 2, "660e1c665e313.00000195.00000000."
		    "acme.bsmtp"), "listed: not found");
		ok(!ssh_entry_listed(NULL, 0, v[0].name),
		    "an empty listing (NULL, 0) lists nothing");
	}

	is_int(fetch_rc_worse(FETCH_OK, FETCH_TEMP), FETCH_TEMP,
	    "try later over ok");
	is_int(fetch_rc_worse(FETCH_DATAERR, FETCH_TEMP), FETCH_DATAERR,
	    "damage over try later");
	is_int(fetch_rc_worse(FETCH_REFUSED, FETCH_CONFIG), FETCH_REFUSED,
	    "refusal over everything");
	is_int(fetch_rc_worse(FETCH_CONFIG, FETCH_IOERR), FETCH_CONFIG,
	    "config over local disk");
	return done_testing();
}
