/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_CPU_OPV_H
#define _LINUX_CPU_OPV_H

#include <asm/page.h>
#include <linux/types.h>
#include <uapi/linux/cpu_opv.h>

/*
 * The vmalloc space, in pages, that all cpu_opv() calls together may hold
 * for their kernel aliases of user pages. The largest vector needs 32
 * aliases of two pages, each with a guard page and, where the data cache
 * aliases with a four-page SHMLBA, three pages of room for the colour:
 * 192 pages.
 */
#define CPU_OPV_VMAP_BUDGET_PAGES	256
#define CPU_OPV_VMAP_BUDGET		(CPU_OPV_VMAP_BUDGET_PAGES * PAGE_SIZE)

long do_cpu_opv(unsigned long ops, int opcnt, int cpu, int flags);
int cpu_opv_budget_reserve(unsigned long bytes);
void cpu_opv_budget_release(unsigned long bytes);
void cpu_opv_alias_account(long bytes);
int cpu_opv_offline_lock(void);
void cpu_opv_offline_unlock(void);
bool cpu_opv_force_vmap(void);
void cpu_opv_restart_rseq(void);

#endif /* _LINUX_CPU_OPV_H */
