/*
 * sessiond.h - a session process of bridged (sessiond.c), started by
 * the master as "bridged -x session -c CONFIG" with its socket on
 * descriptor 3 (pool.h).
 */
#ifndef SESSIOND_H
#define SESSIOND_H

/* session_main - serve connections one by one until told to stop. */
void	session_main(const char *conf_path) __attribute__((noreturn));

#endif
