// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_param_test: per-CPU data structures updated by several threads
 * at once, some with rseq critical sections (falling back to cpu_opv
 * after repeated aborts) and some with cpu_opv alone, on any CPU. The
 * final contents must account for every operation: that is only the
 * case if a cpu_opv vector is atomic with respect to the rseq critical
 * sections and other vectors of its CPU.
 *
 * Without arguments every test runs in every mode, in TAP form:
 *   tests: counter, spinlock, list (push/pop), buffer (push/pop);
 *   modes: rseq (rseq, cpu_opv after 3 aborts in a row or, for one
 *          operation in 8 at random, at once), mix (even
 *          threads as rseq, odd ones cpu_opv only on random CPUs),
 *          opv (cpu_opv only: no thread uses rseq).
 * Options: -t threads (default 4), -r loops per thread (default 2000),
 *          -T test, -m mode to run one combination.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cpu-op.h"
#include "rseq.h"

#define MAX_CPUS	256
#define LIST_NODES	64	/* per CPU at start, at most */
#define BUF_CAP		(LIST_NODES * 4)
#define ABORTS_BEFORE_OPV 3

enum mode { MODE_RSEQ, MODE_MIX, MODE_OPV, NR_MODES };
static const char *const mode_names[] = { "rseq", "mix", "opv" };

struct node {
	struct node *next;
	intptr_t value;
};

struct percpu {
	intptr_t count;
	intptr_t lock;
	intptr_t locked_count;
	struct node *head;
	intptr_t offset;
	struct node *array[BUF_CAP];
};

static struct percpu pc[MAX_CPUS];
static int nr_cpus, per_cpu_nodes, opt_threads = 4, opt_loops = 2000;
static enum mode cur_mode;
static void (*cur_body)(int use_rseq, unsigned int *seed);
static long fallbacks;

static int pick_cpu(unsigned int *seed)
{
	return rand_r(seed) % nr_cpus;
}

/*
 * One operation in FORCE_ONE_IN of an rseq thread goes straight to
 * cpu_opv, as if its critical section could not make progress, so that
 * the fallback runs even when sections rarely abort.
 */
#define FORCE_ONE_IN 8

static int start_aborts(unsigned int *seed)
{
	return rand_r(seed) % FORCE_ONE_IN ? 0 : ABORTS_BEFORE_OPV;
}

static void fallback(void)
{
	__atomic_fetch_add(&fallbacks, 1, __ATOMIC_RELAXED);
}

static void die(const char *what, int ret)
{
	ksft_exit_fail_msg("%s: cpu_opv returned %d (%s)\n", what, ret,
			   ret < 0 ? strerror(errno) : "compare");
}

/*
 * Whether this attempt goes through cpu_opv: always for a thread without
 * rseq, and for an rseq thread once ABORTS_BEFORE_OPV attempts in a row
 * aborted, counting its switch to cpu_opv once per operation.
 */
static int use_opv(int use_rseq, int *aborts)
{
	if (!use_rseq)
		return 1;
	if (*aborts < ABORTS_BEFORE_OPV)
		return 0;
	if ((*aborts)++ == ABORTS_BEFORE_OPV)
		fallback();
	return 1;
}

/* Whether a cpu_opv call made its update (0: a compare failed, retry). */
static int opv_done(const char *what, int ret)
{
	if (ret < 0)
		die(what, ret);
	return !ret;
}

/* counter: add 1 to a per-CPU counter. */
static void counter_body(int use_rseq, unsigned int *seed)
{
	int aborts = start_aborts(seed), cpu, ret;

	while (!use_opv(use_rseq, &aborts)) {
		cpu = rseq_cpu_start();
		if (!rseq_addv(RSEQ_MO_RELAXED, RSEQ_PERCPU_CPU_ID,
			       &pc[cpu].count, 1, cpu))
			return;
		aborts++;
	}
	cpu = use_rseq ? rseq_cpu_start() : pick_cpu(seed);
	ret = cpu_op_addv(&pc[cpu].count, 1, cpu);
	if (ret)
		die("counter", ret);
}

/* spinlock: a per-CPU lock taken by compare-and-store. */
static void spinlock_body(int use_rseq, unsigned int *seed)
{
	int aborts = start_aborts(seed), cpu, ret;

	for (;;) {
		if (!use_opv(use_rseq, &aborts)) {
			cpu = rseq_cpu_start();
			ret = rseq_cmpeqv_storev(RSEQ_MO_RELAXED,
						 RSEQ_PERCPU_CPU_ID,
						 &pc[cpu].lock, 0, 1, cpu);
			if (!ret)
				break;
			if (ret < 0)
				aborts++;
			continue;
		}
		cpu = use_rseq ? rseq_cpu_start() : pick_cpu(seed);
		ret = cpu_op_cmpeqv_storev(&pc[cpu].lock, 0, 1, cpu);
		if (opv_done("spinlock", ret))
			break;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	pc[cpu].locked_count++;
	__atomic_store_n(&pc[cpu].lock, 0, __ATOMIC_RELEASE);
}

/* list: pop a node from one CPU's list, push it on another's. */
static struct node *list_pop(int use_rseq, unsigned int *seed)
{
	int aborts = start_aborts(seed), cpu, ret;

	for (;;) {
		struct node *h, *n;
		struct cpu_op ops[3];

		if (!use_opv(use_rseq, &aborts)) {
			intptr_t load;

			cpu = rseq_cpu_start();
			ret = rseq_cmpnev_storeoffp_load(RSEQ_MO_RELAXED,
							 RSEQ_PERCPU_CPU_ID,
							 (intptr_t *)&pc[cpu].head,
							 0,
							 offsetof(struct node, next),
							 &load, cpu);
			if (!ret)
				return (struct node *)load;
			if (ret < 0)
				aborts++;
			else
				return NULL;	/* empty */
			continue;
		}
		cpu = use_rseq ? rseq_cpu_start() : pick_cpu(seed);
		h = __atomic_load_n(&pc[cpu].head, __ATOMIC_RELAXED);
		if (!h)
			return NULL;
		n = __atomic_load_n(&h->next, __ATOMIC_RELAXED);
		/* h still the head, and still followed by n: unlink it. */
		cpu_op_compare(&ops[0], 1, &pc[cpu].head, &h, sizeof(h));
		cpu_op_compare(&ops[1], 1, &h->next, &n, sizeof(n));
		cpu_op_memcpy(&ops[2], 0, &pc[cpu].head, &n, sizeof(n));
		if (opv_done("list pop", cpu_opv(ops, 3, cpu, 0)))
			return h;
	}
}

static void list_push(struct node *node, int use_rseq, unsigned int *seed)
{
	int aborts = start_aborts(seed), cpu, ret;

	for (;;) {
		struct node *expect;

		if (!use_opv(use_rseq, &aborts)) {
			cpu = rseq_cpu_start();
			expect = __atomic_load_n(&pc[cpu].head, __ATOMIC_RELAXED);
			node->next = expect;
			ret = rseq_cmpeqv_storev(RSEQ_MO_RELAXED,
						 RSEQ_PERCPU_CPU_ID,
						 (intptr_t *)&pc[cpu].head,
						 (intptr_t)expect,
						 (intptr_t)node, cpu);
			if (!ret)
				return;
			if (ret < 0)
				aborts++;
			continue;
		}
		cpu = use_rseq ? rseq_cpu_start() : pick_cpu(seed);
		expect = __atomic_load_n(&pc[cpu].head, __ATOMIC_RELAXED);
		node->next = expect;
		ret = cpu_op_cmpeqv_storev((intptr_t *)&pc[cpu].head,
					   (intptr_t)expect, (intptr_t)node, cpu);
		if (opv_done("list push", ret))
			return;
	}
}

static void list_body(int use_rseq, unsigned int *seed)
{
	struct node *node = list_pop(use_rseq, seed);

	if (node)
		list_push(node, use_rseq, seed);
}

/* buffer: a per-CPU array with an offset; pop then push a node. */
static struct node *buffer_pop(int use_rseq, unsigned int *seed)
{
	int aborts = start_aborts(seed), cpu, ret;

	for (;;) {
		struct cpu_op ops[3];
		intptr_t off, newoff;
		struct node *node;

		cpu = use_rseq ? rseq_cpu_start() : pick_cpu(seed);
		off = __atomic_load_n(&pc[cpu].offset, __ATOMIC_RELAXED);
		if (off == 0)
			return NULL;
		node = __atomic_load_n(&pc[cpu].array[off - 1],
				       __ATOMIC_RELAXED);
		newoff = off - 1;
		if (!use_opv(use_rseq, &aborts)) {
			ret = rseq_cmpeqv_cmpeqv_storev(RSEQ_MO_RELAXED,
							RSEQ_PERCPU_CPU_ID,
							&pc[cpu].offset, off,
							(intptr_t *)&pc[cpu].array[off - 1],
							(intptr_t)node, newoff,
							cpu);
			if (!ret)
				return node;
			if (ret < 0)
				aborts++;
			continue;
		}
		cpu_op_compare(&ops[0], 1, &pc[cpu].offset, &off, sizeof(off));
		cpu_op_compare(&ops[1], 1, &pc[cpu].array[off - 1], &node,
			       sizeof(node));
		cpu_op_memcpy(&ops[2], 0, &pc[cpu].offset, &newoff,
			      sizeof(newoff));
		if (opv_done("buffer pop", cpu_opv(ops, 3, cpu, 0)))
			return node;
	}
}

static void buffer_push(struct node *node, int use_rseq, unsigned int *seed)
{
	int aborts = start_aborts(seed), cpu, ret;

	for (;;) {
		struct cpu_op ops[3];
		intptr_t off, newoff;

		cpu = use_rseq ? rseq_cpu_start() : pick_cpu(seed);
		off = __atomic_load_n(&pc[cpu].offset, __ATOMIC_RELAXED);
		if (off == BUF_CAP)
			continue;	/* full here: try elsewhere */
		newoff = off + 1;
		if (!use_opv(use_rseq, &aborts)) {
			ret = rseq_cmpeqv_trystorev_storev(RSEQ_MO_RELAXED,
							   RSEQ_PERCPU_CPU_ID,
							   &pc[cpu].offset, off,
							   (intptr_t *)&pc[cpu].array[off],
							   (intptr_t)node,
							   newoff, cpu);
			if (!ret)
				return;
			if (ret < 0)
				aborts++;
			continue;
		}
		cpu_op_compare(&ops[0], 1, &pc[cpu].offset, &off, sizeof(off));
		cpu_op_memcpy(&ops[1], 0, &pc[cpu].array[off], &node,
			      sizeof(node));
		cpu_op_memcpy(&ops[2], 1, &pc[cpu].offset, &newoff,
			      sizeof(newoff));
		if (opv_done("buffer push", cpu_opv(ops, 3, cpu, 0)))
			return;
	}
}

static void buffer_body(int use_rseq, unsigned int *seed)
{
	struct node *node = buffer_pop(use_rseq, seed);

	if (node)
		buffer_push(node, use_rseq, seed);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	int use_rseq = cur_mode == MODE_RSEQ ||
		       (cur_mode == MODE_MIX && !(id & 1));
	unsigned int seed = (unsigned int)id * 7919 + 1;
	int i;

	if (use_rseq && rseq_register_current_thread())
		ksft_exit_fail_msg("rseq registration: %s\n", strerror(errno));
	for (i = 0; i < opt_loops; i++)
		cur_body(use_rseq, &seed);
	if (use_rseq && rseq_unregister_current_thread())
		ksft_exit_fail_msg("rseq unregistration: %s\n",
				   strerror(errno));
	return NULL;
}

static struct node *nodes;

static void reset(void)
{
	int cpu, i;

	memset(pc, 0, sizeof(pc));
	for (cpu = 0; cpu < nr_cpus; cpu++) {
		for (i = 0; i < per_cpu_nodes; i++) {
			struct node *n = &nodes[cpu * per_cpu_nodes + i];

			n->value = cpu * per_cpu_nodes + i + 1;
			n->next = pc[cpu].head;
			pc[cpu].head = n;
		}
		for (i = 0; i < per_cpu_nodes; i++)
			pc[cpu].array[i] = &nodes[cpu * per_cpu_nodes + i];
		pc[cpu].offset = per_cpu_nodes;
	}
}

/* What the structures hold: count/value sum over every CPU. */
static void totals(const char *test, long *count, long *sum)
{
	int cpu, i;

	*count = *sum = 0;
	for (cpu = 0; cpu < nr_cpus; cpu++) {
		if (!strcmp(test, "counter")) {
			*count += pc[cpu].count;
		} else if (!strcmp(test, "spinlock")) {
			*count += pc[cpu].locked_count;
		} else if (!strcmp(test, "list")) {
			struct node *n;

			for (n = pc[cpu].head; n && *count <= nr_cpus * per_cpu_nodes;
			     n = n->next) {
				(*count)++;
				*sum += n->value;
			}
		} else {
			for (i = 0; i < pc[cpu].offset && i < BUF_CAP; i++) {
				(*count)++;
				*sum += pc[cpu].array[i]->value;
			}
		}
	}
}

static const struct {
	const char *name;
	void (*body)(int use_rseq, unsigned int *seed);
} tests[] = {
	{ "counter", counter_body },
	{ "spinlock", spinlock_body },
	{ "list", list_body },
	{ "buffer", buffer_body },
};

#define NR_TESTS ARRAY_SIZE(tests)

static void run_one(unsigned int t, enum mode m)
{
	pthread_t th[opt_threads];
	long count, sum, want_count, want_sum;
	long n = (long)nr_cpus * per_cpu_nodes;
	int i;

	reset();
	cur_body = tests[t].body;
	cur_mode = m;
	fallbacks = 0;
	for (i = 0; i < opt_threads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(long)i))
			ksft_exit_fail_msg("pthread_create\n");
	for (i = 0; i < opt_threads; i++)
		pthread_join(th[i], NULL);
	totals(tests[t].name, &count, &sum);
	if (t < 2) {
		want_count = (long)opt_threads * opt_loops;
		want_sum = 0;
	} else {
		want_count = n;
		want_sum = n * (n + 1) / 2;
	}
	ksft_test_result(count == want_count && sum == want_sum,
			 "%s, %s: %d threads x %d loops: count %ld (want %ld), sum %ld (want %ld), %ld cpu_opv fallbacks\n",
			 tests[t].name, mode_names[m], opt_threads, opt_loops,
			 count, want_count, sum, want_sum, fallbacks);
}

int main(int argc, char **argv)
{
	const char *only_test = NULL, *only_mode = NULL;
	unsigned int t;
	int c, m;

	while ((c = getopt(argc, argv, "t:r:T:m:")) != -1) {
		switch (c) {
		case 't':
			opt_threads = atoi(optarg);
			break;
		case 'r':
			opt_loops = atoi(optarg);
			break;
		case 'T':
			only_test = optarg;
			break;
		case 'm':
			only_mode = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-t threads] [-r loops] %s\n",
				argv[0], "[-T test] [-m rseq|mix|opv]");
			return KSFT_FAIL;
		}
	}
	if (opt_threads < 1 || opt_loops < 1)
		return KSFT_FAIL;
	ksft_print_header();
	nr_cpus = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (nr_cpus > MAX_CPUS)
		nr_cpus = MAX_CPUS;
	cpu_op_require();
	if (rseq_register_current_thread())
		ksft_exit_skip("rseq is not available: %s\n", strerror(errno));
	/* Every node fits in any one CPU's buffer: a push always succeeds. */
	per_cpu_nodes = BUF_CAP / nr_cpus < LIST_NODES ? BUF_CAP / nr_cpus :
							 LIST_NODES;
	nodes = calloc(nr_cpus * per_cpu_nodes, sizeof(*nodes));
	if (!nodes)
		ksft_exit_fail_msg("calloc\n");
	ksft_set_plan((only_test ? 1 : NR_TESTS) * (only_mode ? 1 : NR_MODES));
	for (t = 0; t < NR_TESTS; t++) {
		if (only_test && strcmp(only_test, tests[t].name))
			continue;
		for (m = 0; m < NR_MODES; m++) {
			if (only_mode && strcmp(only_mode, mode_names[m]))
				continue;
			run_one(t, m);
		}
	}
	ksft_finished();
}
