// SPDX-License-Identifier: GPL-2.0

#include <linux/highmem.h>
#include <linux/mm.h>

/*
 * The permanent kernel address of @page, or NULL for a highmem page,
 * which has none.
 */
void *rust_helper_page_lowmem_address(struct page *page)
{
	return PageHighMem(page) ? NULL : page_address(page);
}
