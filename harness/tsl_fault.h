/*
 * tsl_fault.h - the fault engine: decides, per connection and per call,
 * what goes wrong, and does it.
 *
 * The engine wraps a table of real calls (struct tsl_sys_ops: libc for
 * LD_PRELOAD, or the core's default table in process) and returns a table
 * of faulty ones.  Connections are the sockets returned by accept, numbered
 * in accept order from 1.  Every random choice comes from a generator
 * seeded from (plan seed, connection number, direction), so the same plan
 * and seed make the same choices for the same connection whatever the
 * thread timing.  One engine per process.
 */
#ifndef TSL_FAULT_H
#define TSL_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "tsl_fault_plan.h"
#include "tsl_sys.h"

/* Parses plan and arms the engine over `real`; 0, or -1 with err. */
int tsl_fault_init(const char *plan, const struct tsl_sys_ops *real,
                   char *err, size_t errlen);
/* Forgets every connection and frees the engine's buffers. */
void tsl_fault_fini(void);
/* The faulty table (valid after tsl_fault_init). */
const struct tsl_sys_ops *tsl_fault_ops(void);
/* The canonical plan text, for failure messages and replay lines. */
const char *tsl_fault_plan_text(void);
/* Socket calls seen so far (what fail=K counts). */
uint64_t tsl_fault_calls(void);
/* Connections accepted so far. */
uint32_t tsl_fault_conns(void);
/* Is fd a tracked connection? (for preload wrappers) */
int tsl_fault_tracked(int fd);

/* In process: installs the engine into the core (tsl__sys) with plan;
 * uninstall puts libc back and frees the engine. */
int tsl_fault_install(const char *plan, char *err, size_t errlen);
void tsl_fault_uninstall(void);

#endif
