// SPDX-License-Identifier: GPL-2.0

#include <linux/cacheinfo.h>
#include <linux/shm.h>
#include <linux/vmalloc.h>
#include <asm/shmparam.h>

unsigned long rust_helper_vmap_colour_span(void)
{
	return cpu_dcache_is_aliasing() ? SHMLBA : PAGE_SIZE;
}

/*
 * The protection of a kernel alias of user pages: writable only for
 * pages pinned for writing.
 */
pgprot_t rust_helper_vmap_kernel_prot(bool writable)
{
	return writable ? PAGE_KERNEL : PAGE_KERNEL_RO;
}
