// SPDX-License-Identifier: GPL-2.0
/*
 * Counters of the work rseq does for the threads that register it, shown
 * in debugfs as rseq/stats (CONFIG_RSEQ_STATS). They let a benchmark tell
 * how often the kernel touched user memory for rseq, and why, without
 * relying on timings.
 */

#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/percpu.h>
#include <linux/rseq.h>
#include <linux/seq_file.h>

struct rseq_stats {
	unsigned long count[RSEQ_NR_STATS];
};

static DEFINE_PER_CPU(struct rseq_stats, rseq_stats);

static const char * const rseq_stat_names[RSEQ_NR_STATS] = {
	[RSEQ_STAT_SCHED_OUT]	= "sched_out",
	[RSEQ_STAT_PEEK_HIT]	= "peek_hit",
	[RSEQ_STAT_SCHED_IN]	= "sched_in_moved",
	[RSEQ_STAT_RESUME]	= "resume",
	[RSEQ_STAT_SIGNAL]	= "signal",
	[RSEQ_STAT_IDS]		= "ids",
	[RSEQ_STAT_CS]		= "cs",
	[RSEQ_STAT_CLEAR]	= "clear",
	[RSEQ_STAT_FIXUP]	= "fixup",
	[RSEQ_STAT_REGISTER]	= "register",
};

/**
 * rseq_stat_inc() - Count one occurrence of @stat on this CPU.
 * @stat: What happened.
 *
 * Safe to call from any context, the scheduler's included.
 */
void rseq_stat_inc(enum rseq_stat stat)
{
	if (stat < RSEQ_NR_STATS)
		this_cpu_inc(rseq_stats.count[stat]);
}

static int rseq_stats_show(struct seq_file *m, void *unused)
{
	unsigned long sum;
	int i, cpu;

	for (i = 0; i < RSEQ_NR_STATS; i++) {
		sum = 0;
		for_each_possible_cpu(cpu)
			sum += per_cpu(rseq_stats.count[i], cpu);
		seq_printf(m, "%s %lu\n", rseq_stat_names[i], sum);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rseq_stats);

static int __init rseq_stats_init(void)
{
	struct dentry *dir = debugfs_create_dir("rseq", NULL);

	debugfs_create_file("stats", 0400, dir, NULL, &rseq_stats_fops);
	return 0;
}
late_initcall(rseq_stats_init);
