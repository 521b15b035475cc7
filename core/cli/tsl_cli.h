/*
 * tsl_cli.h - the CLI's command handlers: a set of named servers driven
 * by parsed commands (tsl_cli_parse.h).  Used by tslsh and its tests.
 */
#ifndef TSL_CLI_H
#define TSL_CLI_H

#include <stddef.h>
#include <stdio.h>

struct tsl_cli;

/* Receives one event line (no newline), from any server thread. */
typedef void tsl_cli_event_fn(const char *line, void *arg);

struct tsl_cli *tsl_cli_create(tsl_cli_event_fn *ev, void *arg);
/* Stops every running server gracefully (its clients are disconnected
 * with reason shutdown, their events emitted), writing "server NAME
 * stopped" to out after each; the servers stay until tsl_cli_destroy(). */
void tsl_cli_stop_all(struct tsl_cli *cli, FILE *out);
/* Aborts every server, frees everything. */
void tsl_cli_destroy(struct tsl_cli *cli);

/* Runs one line, writing results to out: every command that changes
 * something says what it changed.  A migration waits (at most 10 s) for
 * the client to arrive, to say so.  Returns 0, 1 for `exit`, or -1 with a
 * one-line message in err.  One thread at a time. */
int tsl_cli_exec(struct tsl_cli *cli, const char *line, FILE *out, char *err,
                 size_t errlen);

/* Completes server names for <name> positions: emit each name starting
 * with prefix. */
void tsl_cli_names(struct tsl_cli *cli, const char *prefix,
                   void (*emit)(const char *name, void *arg), void *arg);

#endif
