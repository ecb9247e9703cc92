// SPDX-License-Identifier: GPL-2.0
/*
 * glibc registers an rseq area in every thread it starts and answers
 * sched_getcpu() from its cpu_id field. Move threads from CPU to CPU with
 * sched_setaffinity() and check that sched_getcpu() agrees with the
 * getcpu system call, and with the CPU the thread was pinned to, every
 * time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../kselftest.h"

#define THREADS	8
#define ROUNDS	50

struct result {
	int index;
	int moves;
	int mismatches;
	char first[128];
};

static int ncpus;
static cpu_set_t online;

static int nth_online_cpu(int n)
{
	int cpu, seen = 0;

	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &online) && seen++ == n)
			return cpu;
	}
	return -1;
}

static void *worker(void *arg)
{
	struct result *r = arg;
	int i;

	/* Threads start on different CPUs and visit every online one. */
	for (i = 0; i < ROUNDS * ncpus; i++) {
		int want = nth_online_cpu((i + r->index) % ncpus);
		unsigned int sys_cpu;
		int rseq_cpu;
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(want, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			snprintf(r->first, sizeof(r->first), "sched_setaffinity(%d): %s",
				 want, strerror(errno));
			r->mismatches++;
			break;
		}
		rseq_cpu = sched_getcpu();
		if (syscall(__NR_getcpu, &sys_cpu, NULL, NULL)) {
			snprintf(r->first, sizeof(r->first), "getcpu: %s", strerror(errno));
			r->mismatches++;
			break;
		}
		r->moves++;
		if (rseq_cpu != want || (int)sys_cpu != want) {
			if (!r->mismatches++)
				snprintf(r->first, sizeof(r->first),
					 "pinned to %d: sched_getcpu %d, getcpu %u",
					 want, rseq_cpu, sys_cpu);
		}
	}
	return NULL;
}

int main(void)
{
	static struct result results[THREADS];
	pthread_t threads[THREADS];
	int i, moves = 0, bad = 0;

	ksft_print_header();
	if (__rseq_size == 0)
		ksft_exit_skip("glibc did not register rseq (glibc < 2.35 or rseq disabled)\n");
	if (sched_getaffinity(0, sizeof(online), &online))
		ksft_exit_fail_msg("sched_getaffinity: %s\n", strerror(errno));
	ncpus = CPU_COUNT(&online);
	if (ncpus < 2)
		ksft_exit_skip("needs at least 2 CPUs, have %d\n", ncpus);
	ksft_set_plan(THREADS + 1);
	for (i = 0; i < THREADS; i++) {
		results[i].index = i;
		if (pthread_create(&threads[i], NULL, worker, &results[i]))
			ksft_exit_fail_msg("pthread_create failed\n");
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		moves += results[i].moves;
		bad += results[i].mismatches;
		ksft_test_result(results[i].mismatches == 0 && results[i].moves == ROUNDS * ncpus,
				 "thread %d: %d moves, %d mismatches%s%s\n", i,
				 results[i].moves, results[i].mismatches,
				 results[i].mismatches ? ": first " : "", results[i].first);
	}
	ksft_test_result(bad == 0, "%d threads over %d CPUs: %d moves in all\n",
			 THREADS, ncpus, moves);
	ksft_finished();
}
