// SPDX-License-Identifier: GPL-2.0

#include <asm/barrier.h>

void rust_helper_smp_mb(void)
{
	/* Callers document what the barrier orders and pairs with. */
	smp_mb();
}
