// SPDX-License-Identifier: GPL-2.0

#include <linux/cacheinfo.h>
#include <linux/shm.h>
#include <linux/vmalloc.h>
#include <asm/shmparam.h>

bool rust_helper_cpu_dcache_is_aliasing(void)
{
	return cpu_dcache_is_aliasing();
}

unsigned long rust_helper_shmlba(void)
{
	return SHMLBA;
}

pgprot_t rust_helper_page_kernel(void)
{
	return PAGE_KERNEL;
}

pgprot_t rust_helper_page_kernel_ro(void)
{
	return PAGE_KERNEL_RO;
}
