/*
 * lookupd.h - bridged's lookup process (lookupd.c), started by the
 * master as "bridged -x lookup -c CONFIG" with its socket on
 * descriptor 3.
 */
#ifndef LOOKUPD_H
#define LOOKUPD_H

/* lookup_main - read conf_path and serve until stopped. */
void	lookup_main(const char *conf_path) __attribute__((noreturn));

#endif
