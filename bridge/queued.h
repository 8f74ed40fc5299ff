/*
 * queued.h - bridged's queue process (queued.c), started by the master
 * as "bridged -x queue" with its socket on descriptor 3.
 */
#ifndef QUEUED_H
#define QUEUED_H

/* queue_main - serve until stopped; restarted: skip the recovery. */
void	queue_main(int restarted) __attribute__((noreturn));

#endif
