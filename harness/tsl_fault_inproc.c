/*
 * tsl_fault_inproc.c - installs the fault engine into the core's table of
 * system calls (tsl__sys), so a server in this process runs with faults:
 * works under ASan, TSan and Valgrind alike.  Install before starting
 * servers and uninstall after stopping them.
 */
#include "tsl_fault.h"

int
tsl_fault_install(const char *plan, char *err, size_t errlen)
{
    if (tsl_fault_init(plan, &tsl__sys_libc, TSL_FAULT_INPROC, err,
                       errlen) < 0)
        return -1;
    tsl__sys_set(tsl_fault_ops());
    return 0;
}

void
tsl_fault_uninstall(void)
{
    tsl__sys_set(NULL);
    tsl_fault_fini();
}
