// SPDX-License-Identifier: GPL-2.0

#include <linux/sched.h>
#include <linux/types.h>
#include <linux/uaccess.h>

bool rust_helper_access_ok(const void __user *ptr, unsigned long len)
{
	return access_ok(ptr, len);
}

unsigned long rust_helper_task_size(void)
{
	return TASK_SIZE;
}

int rust_helper_get_user_u32(u32 *val, const u32 __user *ptr)
{
	return get_user(*val, ptr);
}

int rust_helper_put_user_u32(u32 val, u32 __user *ptr)
{
	return put_user(val, ptr);
}

/* 32-bit architectures do not all have 8-byte get_user()/put_user(). */
int rust_helper_get_user_u64(u64 *val, const u64 __user *ptr)
{
	if (IS_ENABLED(CONFIG_64BIT))
		return get_user(*val, ptr);
	return copy_from_user(val, ptr, sizeof(*val)) ? -EFAULT : 0;
}

int rust_helper_put_user_u64(u64 val, u64 __user *ptr)
{
	if (IS_ENABLED(CONFIG_64BIT))
		return put_user(val, ptr);
	return copy_to_user(ptr, &val, sizeof(val)) ? -EFAULT : 0;
}
