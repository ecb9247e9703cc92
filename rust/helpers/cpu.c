// SPDX-License-Identifier: GPL-2.0

#include <linux/cpuhplock.h>
#include <linux/cpumask.h>
#include <linux/smp.h>
#include <linux/topology.h>

unsigned int rust_helper_raw_smp_processor_id(void)
{
	return raw_smp_processor_id();
}

/*
 * nr_cpu_ids is a variable on SMP and a constant on UP; a distinct name
 * keeps the helper from clashing with the variable's binding.
 */
unsigned int rust_helper_cpu_nr_ids(void)
{
	return nr_cpu_ids;
}

bool rust_helper_cpu_online(unsigned int cpu)
{
	return cpu_online(cpu);
}

bool rust_helper_cpumask_test_cpu(int cpu, const struct cpumask *cpumask)
{
	return cpumask_test_cpu(cpu, cpumask);
}

bool rust_helper_cpu_possible(unsigned int cpu)
{
	return cpu_possible(cpu);
}

int rust_helper_cpu_to_node(int cpu)
{
	return cpu_to_node(cpu);
}

unsigned int rust_helper_num_online_cpus(void)
{
	return num_online_cpus();
}

/*
 * cpus_read_lock() and cpus_read_unlock() are functions with
 * CONFIG_HOTPLUG_CPU and empty inlines without it: these wrappers exist
 * in both cases, under names of their own so that their bindings do not
 * clash with those of the functions.
 */
void rust_helper_cpu_hotplug_read_lock(void)
{
	cpus_read_lock();
}

void rust_helper_cpu_hotplug_read_unlock(void)
{
	cpus_read_unlock();
}
