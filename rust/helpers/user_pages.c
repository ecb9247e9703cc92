// SPDX-License-Identifier: GPL-2.0

#include <linux/mm.h>
#include <linux/secretmem.h>
#include <linux/userfaultfd_k.h>

int rust_helper_mmap_read_lock_killable(struct mm_struct *mm)
{
	return mmap_read_lock_killable(mm);
}

bool rust_helper_mmap_read_trylock(struct mm_struct *mm)
{
	return mmap_read_trylock(mm);
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
