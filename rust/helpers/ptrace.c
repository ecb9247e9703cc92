// SPDX-License-Identifier: GPL-2.0

#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>

unsigned long rust_helper_instruction_pointer(struct pt_regs *regs)
{
	return instruction_pointer(regs);
}

void rust_helper_instruction_pointer_set(struct pt_regs *regs,
					 unsigned long val)
{
	instruction_pointer_set(regs, val);
}

unsigned long rust_helper_current_user_instruction_pointer(void)
{
	return instruction_pointer(task_pt_regs(current));
}
