// SPDX-License-Identifier: GPL-2.0

#include <linux/cacheinfo.h>
#include <linux/shm.h>
#include <asm/shmparam.h>

unsigned long rust_helper_vmap_colour_span(void)
{
	return cpu_dcache_is_aliasing() ? SHMLBA : PAGE_SIZE;
}
