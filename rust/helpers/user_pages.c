// SPDX-License-Identifier: GPL-2.0

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/secretmem.h>
#include <linux/userfaultfd_k.h>

bool rust_helper_PageHighMem(const struct page *page)
{
	return PageHighMem(page);
}

void *rust_helper_lowmem_page_address(const struct page *page)
{
	return lowmem_page_address(page);
}

int rust_helper_mmap_read_lock_killable(struct mm_struct *mm)
{
	return mmap_read_lock_killable(mm);
}

void rust_helper_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

bool rust_helper_userfaultfd_armed(struct vm_area_struct *vma)
{
	return userfaultfd_armed(vma);
}

bool rust_helper_vma_is_secretmem(struct vm_area_struct *vma)
{
	return vma_is_secretmem(vma);
}

bool rust_helper_vma_is_fsdax(struct vm_area_struct *vma)
{
	return vma_is_fsdax(vma);
}
