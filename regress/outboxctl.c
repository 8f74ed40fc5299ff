/*
 * outboxctl.c - test helper: run outbox_prepare or outbox_check
 * (ssh/outbox.c) on one customer's SSH outbox and print the problems.
 *
 * usage: outboxctl prepare|check spool chroot customer user bridge-user
 * Exit 0 when no problem is left, 1 otherwise, 64 on usage errors.
 */
#include <stdio.h>
#include <string.h>

#include "outbox.h"

int
main(int argc, char **argv)
{
	struct outbox_spec s;
	int n;

	if (argc != 7 || (strcmp(argv[1], "prepare") != 0 &&
	    strcmp(argv[1], "check") != 0)) {
		fprintf(stderr, "usage: outboxctl prepare|check spool chroot "
		    "customer user bridge-user\n");
		return 64;
	}
	s.spool = argv[2];
	s.chroot = argv[3];
	s.customer = argv[4];
	s.user = argv[5];
	s.bridge_user = argv[6];
	n = strcmp(argv[1], "prepare") == 0 ? outbox_prepare(&s, stdout) :
	    outbox_check(&s, stdout);
	return n == 0 ? 0 : 1;
}
