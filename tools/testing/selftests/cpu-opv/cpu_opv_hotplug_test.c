// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_hotplug_test: per-CPU counters and lists updated at once by
 * cpu_opv() vectors and by rseq critical sections while CPUs go offline
 * and online in a loop.
 *
 * Threads, for -d seconds:
 * - hotplug: takes a random CPU offline or back online through
 *   /sys/devices/system/cpu/cpuN/online, over and over; one CPU (the
 *   anchor, the first one without an online file or else the first online
 *   one) always stays online. It keeps, per CPU, a generation count that
 *   is odd while it changes the CPU's state, so that the other threads
 *   can tell whether a target CPU was online, offline or changing during
 *   one of their calls.
 * - cpu_opv workers (-o): increment the counter of a random CPU (online,
 *   offline or on its way) with CPU_ADD_OP, pop the head of its list
 *   (compare head, compare head->next, store) and push a node held from
 *   an earlier pop (compare head, store). One vector in 4 starts with a
 *   compare of constant bytes across a page boundary, which the kernel
 *   reaches in two pieces, one per page; and the hotplug thread switches
 *   <debugfs>/cpu_opv/force_vmap at every CPU state change where it can,
 *   so that half of the time every operand goes through a vmalloc alias,
 *   the path of kernels whose data cache aliases.
 * - rseq workers (-r): the same updates on the CPU they run on, with the
 *   critical sections of the rseq selftests' library (the increments both
 *   as an add and as a compare-and-store); after 3 aborts or failed
 *   compares in a row, and for one operation in 8 at once, they issue the
 *   update as a cpu_opv vector for the CPU their critical section was
 *   for, which may have gone offline meanwhile.
 * - affinity: pins itself to {X} or {anchor, X} for a CPU X the storm
 *   toggles and increments counters of random CPUs with cpu_opv. cpu_opv
 *   must refuse (EINVAL) exactly the CPUs outside its mask. When X goes
 *   offline, the scheduler widens the mask {X} to every possible CPU (the
 *   fallback of select_fallback_rq(), which prints "no longer affine");
 *   the mask {anchor, X} keeps the offline X and does not change in the
 *   root cpuset, whose tasks the kernel leaves alone on hotplug. The
 *   widening is checked against sched_getaffinity() before and after the
 *   call.
 * - membarrier: MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ fences, to every
 *   CPU or, with MEMBARRIER_CMD_FLAG_CPU, to a random CPU that may be
 *   offline (that is a no-op returning 0); each aborts the rseq critical
 *   sections running there.
 *
 * Every thread records each successful update (per target CPU for the
 * counters, per node for the lists) and every errno. At the end, with
 * every CPU back online, each counter must equal the increments recorded
 * for its CPU, and the lists must hold every node whose pushes, plus its
 * initial placement, outnumber its pops (by exactly one), once, on the
 * list of the CPU it was last pushed to, without cycles, while the nodes
 * threads still hold are on no list. An errno is legitimate only where
 * the documentation says so: EINVAL from cpu_opv for a CPU outside the
 * caller's mask (and, outside the root cpuset, for a CPU that went
 * offline), EINVAL from sched_setaffinity() for a mask whose only CPU is
 * offline, EBUSY from the hotplug files. cpu_opv's EAGAIN without
 * expect_fault is documented for operand pages that keep going away
 * (reclaim, migration, writeback, KSM, fork()), none of which happens to
 * this test's touched anonymous memory; EFAULT, ENOMEM and EINTR have no
 * cause here either. Any other errno, a wrong return value, a thread
 * that does not stop within 60 s, or a CPU that cannot be brought back
 * online fails the test.
 *
 * The test runs in a child process; the parent brings every CPU the test
 * found online back online whatever happens to the child (the child does
 * so itself on every exit path it can catch: exit, SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, crashes).
 *
 * Options: -d seconds (default 60, or $CPU_OPV_HOTPLUG_SECONDS),
 * -o cpu_opv workers (2), -r rseq workers (2), -p longest pause between
 * two transitions in ms (20), -D iterations of a delay loop inside the
 * rseq critical sections, between compare and commit (100), -s seed
 * (time).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/membarrier.h>

/*
 * A delay loop inside the rseq critical sections, between their compare
 * and their commit (injection point 4 of the library's list push and
 * compare-and-store sections): a window where a cpu_opv vector for the
 * thread's CPU, a migration off a dying CPU or a membarrier fence must
 * abort the section. Without it, under QEMU TCG, which takes interrupts
 * only between translation blocks, the few instructions between compare
 * and commit are almost never interrupted. x86-64 and arm64 only.
 */
int hp_inject_delay;

#define HP_INJECT_1 ""
#define HP_INJECT_2 ""
#define HP_INJECT_3 ""
#define HP_INJECT_5 ""
#define HP_INJECT_6 ""
#define HP_INJECT_7 ""
#define HP_INJECT_8 ""
#define HP_INJECT_9 ""
/*
 * The loop uses the register each section clobbers and no longer needs
 * at point 4: rax (x86-64, it held the descriptor's address) and x15
 * (arm64, the library's scratch register).
 */
#if defined(__x86_64__)
#define HP_INJECT_4						\
	"movl hp_inject_delay(%%rip), %%eax\n\t"		\
	"testl %%eax, %%eax\n\t"				\
	"jz 333f\n\t"						\
	"222:\n\t"						\
	"decl %%eax\n\t"					\
	"jnz 222b\n\t"						\
	"333:\n\t"
#define RSEQ_INJECT_ASM(n) HP_INJECT_##n
#elif defined(__aarch64__)
#define HP_INJECT_4						\
	"	adrp	x15, hp_inject_delay\n"			\
	"	ldr	w15, [x15, #:lo12:hp_inject_delay]\n"	\
	"	cbz	w15, 333f\n"					\
	"222:\n"							\
	"	sub	w15, w15, #1\n"				\
	"	cbnz	w15, 222b\n"					\
	"333:\n"
#define RSEQ_INJECT_ASM(n) HP_INJECT_##n
#endif

#include "../kselftest.h"
#include "cpu-op.h"
#include "rseq.h"

#define MAX_CPUS		256
#define NODES_PER_CPU		16
#define STASH_MAX		4
#define ABORTS_BEFORE_OPV	3
#define FORCE_OPV_ONE_IN	8
#define DEFAULT_SECONDS		60
#define STOP_GRACE_SECONDS	60
#define ERRNO_SLOTS		160
#define MAX_REPORTS		30
#define NR_POINTS		9

#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

struct node {
	struct node *next;
	intptr_t id;		/* index + 1, never changes */
	intptr_t home;		/* the CPU whose list it was last pushed on */
};

/* Padded so that two CPUs' data share no cache line. */
struct percpu {
	intptr_t count;
	struct node *head;
	char pad[128 - 2 * sizeof(intptr_t)];
};

static struct percpu pc[MAX_CPUS];
static struct node *nodes;
static long *node_push, *node_pop;
static int nr_nodes;

/* The CPUs: ids below nr_cpu_ids, those possible, those the storm toggles. */
static int nr_cpu_ids;
static int possible[MAX_CPUS], nr_possible;
static int storm[MAX_CPUS], nr_storm;
static char is_storm[MAX_CPUS], init_online[MAX_CPUS], has_file[MAX_CPUS];
static char allowed0[MAX_CPUS];
static int anchor = -1;
static int strict_affinity;

static int opt_seconds = DEFAULT_SECONDS, opt_opv = 2, opt_rseq = 2;
static int opt_pause_ms = 20, opt_delay = 100;
static unsigned int opt_seed;

static int stop, stop_signal;

/*
 * Per CPU, what the hotplug thread last made of it: a generation count,
 * odd while it changes the state, and whether it is online.
 */
static unsigned long hp_gen[MAX_CPUS];
static int hp_online[MAX_CPUS];
static int hp_busy;
static long hp_off_done, hp_on_done, hp_failed;
static int hp_nr_offline, hp_max_offline;
static double hp_ms_total;

enum { ST_ONLINE, ST_OFFLINE, ST_CHANGING };
static const char *const st_names[] = { "online", "offline", "changing" };

struct snap {
	unsigned long gen;
	int online;
};

static void snap(int cpu, struct snap *s)
{
	s->gen = __atomic_load_n(&hp_gen[cpu], __ATOMIC_SEQ_CST);
	s->online = __atomic_load_n(&hp_online[cpu], __ATOMIC_SEQ_CST);
}

/* The state of @cpu throughout the time since snap(). */
static int judge(int cpu, const struct snap *s)
{
	if ((s->gen & 1) ||
	    __atomic_load_n(&hp_gen[cpu], __ATOMIC_SEQ_CST) != s->gen)
		return ST_CHANGING;
	return s->online ? ST_ONLINE : ST_OFFLINE;
}

/* Errors, by what returned them, errno and whether it is legitimate. */
enum kind {
	K_OPV, K_OPV_AFF, K_SETAFF, K_GETAFF, K_MEMBARRIER, K_OFFLINE,
	K_ONLINE, NR_KINDS
};

static const char *const kind_names[] = {
	"cpu_opv (mask of every CPU)", "cpu_opv (pinned thread)",
	"sched_setaffinity", "sched_getaffinity",
	"membarrier", "offlining", "onlining",
};

static long errtab[NR_KINDS][ERRNO_SLOTS][2];
static long bad_results, aff_mismatch, corruption;
static int nr_reports;

/* A message from any thread, as one write, at most MAX_REPORTS of them. */
static __printf(1, 2) void report(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (__atomic_fetch_add(&nr_reports, 1, __ATOMIC_RELAXED) >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# %s", buf);
	fflush(stdout);
}

static void record_err(enum kind k, int err, int legit, int cpu,
		       const char *what)
{
	int slot = err > 0 && err < ERRNO_SLOTS ? err : 0;

	__atomic_fetch_add(&errtab[k][slot][!!legit], 1, __ATOMIC_RELAXED);
	if (!legit)
		report("unexpected: %s: %s on CPU %d: %s (%d)\n",
		       kind_names[k], what, cpu, cpu_op_errname(err), err);
}

static void bad_result(long *counter, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	report("wrong result: %s\n", buf);
}

static int stopping(void)
{
	return LOAD(stop);
}

/*
 * CPU @cpu's hotplug state, usable from a signal handler (as is
 * cpu_op_set_online()): 1 online, 0 offline, -errno.
 */
static int read_online(int cpu)
{
	char path[64], c = 0;
	int fd, n;

	cpu_op_online_path(cpu, path, sizeof(path));
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, &c, 1);
	close(fd);
	if (n != 1)
		return -EIO;
	return c == '1';
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Brings every CPU the test may have taken offline back online; returns
 * how many stay offline. Only async-signal-safe calls: it also runs from
 * signal handlers and in the parent after the child died.
 */
static int restore_cpus(const char *cpus_mask)
{
	int cpu, left = 0, i;

	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	/* Let a transition in progress end: a later one is not started. */
	for (i = 0; i < 3000 && __atomic_load_n(&hp_busy, __ATOMIC_SEQ_CST);
	     i++)
		nap_ms(10);
	for (cpu = 0; cpu < nr_cpu_ids; cpu++) {
		if (!cpus_mask[cpu])
			continue;
		for (i = 0; i < 500 && read_online(cpu) == 0; i++) {
			if (cpu_op_set_online(cpu, 1) == -EBUSY)
				nap_ms(10);
		}
		if (read_online(cpu) == 0)
			left++;
	}
	return left;
}

static void say(const char *s)
{
	ssize_t n = write(STDOUT_FILENO, s, strlen(s));

	(void)n;
}

/* Whether the hotplug thread switches force_vmap (it could write it). */
static int vmap_toggle;

static void restore_at_exit(void)
{
	if (restore_cpus(is_storm))
		say("# some CPUs stay offline\n");
	if (vmap_toggle && cpu_op_force_vmap(0))
		say("# could not switch " CPU_OP_FORCE_VMAP " off\n");
}

static double stop_signal_at;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_stop_signal(int sig)
{
	/*
	 * A signal to the process group reaches this process twice, once
	 * forwarded by the parent: only a later one means hurry.
	 */
	int first = __atomic_load_n(&stop_signal, __ATOMIC_RELAXED);

	if (first && now_s() - stop_signal_at > 1.0) {
		say("# second signal: bringing CPUs online, exiting\n");
		restore_cpus(is_storm);
		_exit(KSFT_FAIL);
	}
	if (first)
		return;
	__atomic_store_n(&stop_signal, sig, __ATOMIC_RELAXED);
	stop_signal_at = now_s();
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	/* If the threads do not stop, give up on them. */
	alarm(STOP_GRACE_SECONDS + 30);
}

static void on_alarm(int sig)
{
	say("# threads did not stop after a signal: bringing CPUs online, exiting\n");
	restore_cpus(is_storm);
	_exit(KSFT_FAIL);
}

static void on_crash(int sig)
{
	say("# crashed: bringing CPUs online\n");
	restore_cpus(is_storm);
	/* SA_RESETHAND: the default action now, and it is not blocked. */
	raise(sig);
}

static void set_handler(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static const int crash_signals[] = {
	SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP
};

/* The threads. */
enum wtype { W_OPV, W_RSEQ, W_AFF, W_MB, W_HOTPLUG };
static const char *const wtype_names[] = {
	"cpu_opv worker", "rseq worker", "affinity thread",
	"membarrier thread", "hotplug thread",
};

struct stats {
	long add_opv, add_rseq, add_fallback;
	long pop_opv, pop_rseq, pop_fallback, pop_empty;
	long push_opv, push_rseq, push_fallback;
	long opv_cmpfail, rseq_abort, rseq_cmpfail;
	long opv_state[3];	/* successful vectors by target state */
	long opv_cross;		/* vectors with the page-crossing operand */
	long einval_expected;
	long aff_single, aff_pair, aff_setfail, aff_widened;
	long mb_all, mb_cpu, mb_cpu_offline;
};

struct worker {
	int id;
	enum wtype type;
	pthread_t th;
	pid_t tid;
	unsigned int seed;
	int done;
	long nops;
	const char *doing;
	int doing_cpu;
	int nstash;
	struct node *stash[STASH_MAX];
	struct stats s;
	long adds[MAX_CPUS];
};

static struct worker *workers;
static int nr_workers;

static void doing(struct worker *w, const char *what, int cpu)
{
	STORE(w->doing, what);
	STORE(w->doing_cpu, cpu);
}

static void tick(struct worker *w)
{
	STORE(w->nops, w->nops + 1);
}

static int pick_target(struct worker *w)
{
	if (nr_storm && rand_r(&w->seed) % 2)
		return storm[rand_r(&w->seed) % nr_storm];
	return possible[rand_r(&w->seed) % nr_possible];
}

static int valid_node(const struct node *n)
{
	uintptr_t off = (uintptr_t)n - (uintptr_t)nodes;

	return (uintptr_t)n >= (uintptr_t)nodes &&
	       off < (uintptr_t)nr_nodes * sizeof(*n) &&
	       off % sizeof(*n) == 0;
}

static void stash_put(struct worker *w, struct node *n)
{
	w->stash[w->nstash++] = n;
}

static struct node *stash_take(struct worker *w)
{
	int i = rand_r(&w->seed) % w->nstash;
	struct node *n = w->stash[i];

	w->stash[i] = w->stash[--w->nstash];
	return n;
}

static void accounted(long *per_node, struct node *n)
{
	__atomic_fetch_add(&per_node[n - nodes], 1, __ATOMIC_RELAXED);
}

/*
 * 16 constant bytes across a page boundary, and a copy of them: a vector
 * that compares them (always equal) makes the kernel reach that operand
 * in two pieces (or through one alias of both pages with force_vmap).
 */
#define CROSS_LEN	16
static char *cross;
static char cross_ref[CROSS_LEN];

static void init_cross(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *buf;
	int i;

	if (posix_memalign((void **)&buf, page, 2 * page))
		ksft_exit_fail_msg("posix_memalign\n");
	cross = buf + page - CROSS_LEN / 2;
	for (i = 0; i < CROSS_LEN; i++) {
		cross[i] = 0x5a ^ i;
		cross_ref[i] = cross[i];
	}
}

/* One vector in 4 starts with the page-crossing compare; returns 0 or 1. */
static int add_cross(struct worker *w, struct cpu_op *ops)
{
	if (rand_r(&w->seed) % 4)
		return 0;
	cpu_op_compare(&ops[0], 1, cross, cross_ref, CROSS_LEN);
	w->s.opv_cross++;
	return 1;
}

/* Whether EINVAL is legitimate for @cpu from a thread whose mask is all. */
static int einval_ok_all(int cpu)
{
	return !strict_affinity &&
	       (is_storm[cpu] || !init_online[cpu] || !allowed0[cpu]);
}

/*
 * One vector from a thread whose mask holds every possible CPU, its first
 * @skip operations the page-crossing compare: 0, the failed compare
 * counted after those (at most @max_cmp), or -1 after recording the
 * error.
 */
static int opv_call(struct worker *w, struct cpu_op *ops, int n, int skip,
		    int cpu, int max_cmp, const char *what)
{
	struct snap s;
	int ret, err;

	doing(w, what, cpu);
	snap(cpu, &s);
	ret = cpu_opv(ops, n, cpu, 0);
	err = errno;
	if (ret == 0) {
		w->s.opv_state[judge(cpu, &s)]++;
		return 0;
	}
	if (ret > skip && ret <= skip + max_cmp) {
		w->s.opv_cmpfail++;
		return ret - skip;
	}
	if (ret > 0) {
		bad_result(&bad_results, "cpu_opv %s on CPU %d returned %d\n",
			   what, cpu, ret);
		return -1;
	}
	{
		char buf[80];

		snprintf(buf, sizeof(buf), "%s, target %s", what,
			 st_names[judge(cpu, &s)]);
		record_err(K_OPV, err, err == EINVAL && einval_ok_all(cpu),
			   cpu, buf);
	}
	return -1;
}

static void opv_add(struct worker *w, int cpu, long *counter)
{
	struct cpu_op ops[2];
	int k = add_cross(w, ops);

	cpu_op_add(&ops[k], 0, &pc[cpu].count, 1, sizeof(intptr_t));
	if (!opv_call(w, ops, k + 1, k, cpu, 0, "add")) {
		w->adds[cpu]++;
		(*counter)++;
	}
}

static struct node *opv_pop(struct worker *w, int cpu, long *counter)
{
	while (!stopping()) {
		struct node *h = LOAD(pc[cpu].head), *n;
		struct cpu_op ops[4];
		int ret, k;

		if (!h) {
			w->s.pop_empty++;
			return NULL;
		}
		if (!valid_node(h)) {
			bad_result(&corruption, "CPU %d list head %p is no node\n",
				   cpu, (void *)h);
			return NULL;
		}
		n = LOAD(h->next);
		/* h still the head and still followed by n: unlink it. */
		k = add_cross(w, ops);
		cpu_op_compare(&ops[k], 1, &pc[cpu].head, &h, sizeof(h));
		cpu_op_compare(&ops[k + 1], 1, &h->next, &n, sizeof(n));
		cpu_op_memcpy(&ops[k + 2], 0, &pc[cpu].head, &n, sizeof(n));
		ret = opv_call(w, ops, k + 3, k, cpu, 2, "list pop");
		if (ret < 0)
			return NULL;
		if (!ret) {
			accounted(node_pop, h);
			(*counter)++;
			return h;
		}
	}
	return NULL;
}

/* 0 when pushed; the node stays the caller's otherwise. */
static int opv_push(struct worker *w, int cpu, struct node *node,
		    long *counter)
{
	while (!stopping()) {
		struct node *expect = LOAD(pc[cpu].head);
		struct cpu_op ops[3];
		int ret, k;

		STORE(node->next, expect);
		STORE(node->home, cpu);
		k = add_cross(w, ops);
		cpu_op_compare(&ops[k], 1, &pc[cpu].head, &expect,
			       sizeof(expect));
		cpu_op_memcpy(&ops[k + 1], 0, &pc[cpu].head, &node,
			      sizeof(node));
		ret = opv_call(w, ops, k + 2, k, cpu, 1, "list push");
		if (ret < 0)
			return -1;
		if (!ret) {
			accounted(node_push, node);
			(*counter)++;
			return 0;
		}
	}
	return -1;
}

static void *opv_worker(struct worker *w)
{
	while (!stopping()) {
		int cpu = pick_target(w), r = rand_r(&w->seed) % 4;
		struct node *n;

		if (r < 2) {
			opv_add(w, cpu, &w->s.add_opv);
		} else if (!w->nstash || (r == 2 && w->nstash < STASH_MAX)) {
			n = opv_pop(w, cpu, &w->s.pop_opv);
			if (n)
				stash_put(w, n);
		} else {
			n = stash_take(w);
			if (opv_push(w, cpu, n, &w->s.push_opv))
				stash_put(w, n);
		}
		tick(w);
	}
	return NULL;
}

/* The CPU an rseq critical section starts on, or -1. */
static int rseq_cpu(struct worker *w)
{
	unsigned int cpu = rseq_cpu_start();

	if (cpu >= (unsigned int)nr_cpu_ids) {
		bad_result(&bad_results, "rseq cpu_id_start %u, not a CPU\n",
			   cpu);
		return -1;
	}
	return cpu;
}

static int start_aborts(struct worker *w)
{
	return rand_r(&w->seed) % FORCE_OPV_ONE_IN ? 0 : ABORTS_BEFORE_OPV;
}

/*
 * One attempt at incrementing @cpu's counter in an rseq critical section:
 * 0 done, 1 the compare failed, -1 aborted.
 */
typedef int (*rseq_add_fn)(int cpu);

/*
 * As a compare-and-store section: read the counter, then store it plus
 * one if it did not change, with the delay in between. A vector for this
 * CPU landing in the delay must abort the section; otherwise the store
 * undoes its increment.
 */
static int rseq_cas_add_once(int cpu)
{
	intptr_t c = LOAD(pc[cpu].count);

	return rseq_cmpeqv_storev(RSEQ_MO_RELAXED, RSEQ_PERCPU_CPU_ID,
				  &pc[cpu].count, c, c + 1, cpu);
}

/* As an add section. */
static int rseq_add_once(int cpu)
{
	return rseq_addv(RSEQ_MO_RELAXED, RSEQ_PERCPU_CPU_ID, &pc[cpu].count,
			 1, cpu);
}

/*
 * Retries @attempt (@what) on the current CPU until it succeeds; after
 * ABORTS_BEFORE_OPV failures, or at once for one call in
 * FORCE_OPV_ONE_IN, increments with cpu_opv instead.
 */
static void rseq_add(struct worker *w, const char *what, rseq_add_fn attempt)
{
	int aborts = start_aborts(w), cpu, ret;

	for (;;) {
		cpu = rseq_cpu(w);
		if (cpu < 0)
			return;
		if (aborts >= ABORTS_BEFORE_OPV) {
			opv_add(w, cpu, &w->s.add_fallback);
			return;
		}
		doing(w, what, cpu);
		ret = attempt(cpu);
		if (!ret) {
			w->adds[cpu]++;
			w->s.add_rseq++;
			return;
		}
		aborts++;
		if (ret > 0)
			w->s.rseq_cmpfail++;
		else
			w->s.rseq_abort++;
	}
}

static struct node *rseq_pop(struct worker *w)
{
	int aborts = start_aborts(w), cpu, ret;
	intptr_t load;

	for (;;) {
		cpu = rseq_cpu(w);
		if (cpu < 0)
			return NULL;
		if (aborts >= ABORTS_BEFORE_OPV)
			return opv_pop(w, cpu, &w->s.pop_fallback);
		doing(w, "rseq list pop", cpu);
		ret = rseq_cmpnev_storeoffp_load(RSEQ_MO_RELAXED,
						 RSEQ_PERCPU_CPU_ID,
						 (intptr_t *)&pc[cpu].head, 0,
						 offsetof(struct node, next),
						 &load, cpu);
		if (ret > 0) {
			w->s.pop_empty++;
			return NULL;
		}
		if (!ret) {
			struct node *n = (struct node *)load;

			if (!valid_node(n)) {
				bad_result(&corruption,
					   "rseq popped %p from CPU %d: no node\n",
					   (void *)n, cpu);
				return NULL;
			}
			accounted(node_pop, n);
			w->s.pop_rseq++;
			return n;
		}
		aborts++;
		w->s.rseq_abort++;
	}
}

static int rseq_push(struct worker *w, struct node *node)
{
	int aborts = start_aborts(w), cpu, ret;

	while (!stopping()) {
		struct node *expect;

		cpu = rseq_cpu(w);
		if (cpu < 0)
			return -1;
		if (aborts >= ABORTS_BEFORE_OPV)
			return opv_push(w, cpu, node, &w->s.push_fallback);
		doing(w, "rseq list push", cpu);
		expect = LOAD(pc[cpu].head);
		STORE(node->next, expect);
		STORE(node->home, cpu);
		ret = rseq_cmpeqv_storev(RSEQ_MO_RELAXED, RSEQ_PERCPU_CPU_ID,
					 (intptr_t *)&pc[cpu].head,
					 (intptr_t)expect, (intptr_t)node, cpu);
		if (!ret) {
			accounted(node_push, node);
			w->s.push_rseq++;
			return 0;
		}
		/* A changed head counts too, for progress. */
		aborts++;
		if (ret > 0)
			w->s.rseq_cmpfail++;
		else
			w->s.rseq_abort++;
	}
	return -1;
}

static void *rseq_worker(struct worker *w)
{
	if (rseq_register_current_thread()) {
		bad_result(&bad_results, "rseq registration: %s\n",
			   strerror(errno));
		return NULL;
	}
	while (!stopping()) {
		int r = rand_r(&w->seed) % 4;
		struct node *n;

		if (r == 0) {
			rseq_add(w, "rseq add", rseq_add_once);
		} else if (r == 1) {
			rseq_add(w, "rseq compare-and-store add",
				 rseq_cas_add_once);
		} else if (!w->nstash || (r == 2 && w->nstash < STASH_MAX)) {
			n = rseq_pop(w);
			if (n)
				stash_put(w, n);
		} else {
			n = stash_take(w);
			if (rseq_push(w, n))
				stash_put(w, n);
		}
		tick(w);
	}
	if (rseq_unregister_current_thread())
		bad_result(&bad_results, "rseq unregistration: %s\n",
			   strerror(errno));
	return NULL;
}

/* Whether sched_getaffinity() shows a CPU other than @x; -1 on error. */
static int mask_beyond(struct worker *w, int x)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set)) {
		record_err(K_GETAFF, errno, 0, x, "own mask");
		return -1;
	}
	for (cpu = 0; cpu < nr_cpu_ids; cpu++)
		if (cpu != x && CPU_ISSET(cpu, &set))
			return 1;
	return 0;
}

enum { M_ALL, M_PAIR, M_SINGLE };

/*
 * The affinity thread: cpu_opv must take exactly the CPUs of its mask,
 * as it changes by sched_setaffinity() and by the hotplug fallback.
 */
static void *aff_worker(struct worker *w)
{
	int mode = M_ALL, x = -1, left = 0, widened = 0;

	while (!stopping()) {
		int t, ret, err, before = 0, after = 0, ok_einval, ok_done;
		struct cpu_op op;
		struct snap st;

		if (--left <= 0) {
			int nx = storm[rand_r(&w->seed) % nr_storm];
			int single = rand_r(&w->seed) % 2;
			struct snap s;
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(nx, &set);
			if (!single)
				CPU_SET(anchor, &set);
			doing(w, single ? "pin to {X}" : "pin to {anchor, X}",
			      nx);
			snap(nx, &s);
			if (sched_setaffinity(0, sizeof(set), &set)) {
				err = errno;
				/* Only a mask of offline CPUs is refused. */
				record_err(K_SETAFF, err,
					   single && err == EINVAL &&
					   judge(nx, &s) != ST_ONLINE,
					   nx, single ? "{X}" : "{anchor, X}");
				w->s.aff_setfail++;
			} else {
				mode = single ? M_SINGLE : M_PAIR;
				x = nx;
				widened = 0;
				if (single)
					w->s.aff_single++;
				else
					w->s.aff_pair++;
			}
			left = 16 + rand_r(&w->seed) % 48;
		}
		t = pick_target(w);
		if (mode == M_SINGLE && t != x) {
			before = mask_beyond(w, x);
			if (before < 0)
				continue;
		}
		cpu_op_add(&op, 0, &pc[t].count, 1, sizeof(intptr_t));
		doing(w, "pinned add", t);
		snap(t, &st);
		ret = cpu_opv(&op, 1, t, 0);
		err = errno;
		if (mode == M_SINGLE && t != x) {
			after = mask_beyond(w, x);
			if (after < 0)
				after = 1;	/* unknown: accept success */
		}
		switch (mode) {
		case M_ALL:
			ok_einval = einval_ok_all(t);
			ok_done = 1;
			break;
		case M_PAIR:
			ok_done = t == anchor || t == x;
			ok_einval = !ok_done || einval_ok_all(t);
			break;
		default:
			if (t == x) {
				/* {X} or, after the fallback, every CPU. */
				ok_done = 1;
				ok_einval = einval_ok_all(t);
			} else {
				/* Refused while {X}, taken once widened. */
				ok_einval = !before || einval_ok_all(t);
				ok_done = after;
			}
			break;
		}
		if (ret == 0) {
			w->adds[t]++;
			w->s.add_opv++;
			w->s.opv_state[judge(t, &st)]++;
			if (!ok_done)
				bad_result(&aff_mismatch,
					   "%s mask (X %d, anchor %d, widened after: %d): cpu_opv ran a vector for CPU %d\n",
					   mode == M_PAIR ? "{anchor, X}" : "{X}",
					   x, anchor, after, t);
		} else if (ret > 0) {
			bad_result(&bad_results, "cpu_opv add returned %d\n",
				   ret);
		} else {
			if (err == EINVAL && ok_einval)
				w->s.einval_expected++;
			else if (err == EINVAL && mode != M_ALL)
				/* The mask had the CPU: a wrong refusal. */
				bad_result(&aff_mismatch,
					   "%s mask with CPU %d (X %d, anchor %d, mask widened before: %d): EINVAL\n",
					   mode == M_PAIR ? "{anchor, X}" : "{X}",
					   t, x, anchor, before);
			record_err(K_OPV_AFF, err, err == EINVAL && ok_einval,
				   t, "add");
		}
		if (mode == M_SINGLE && t != x && after && !widened) {
			widened = 1;
			w->s.aff_widened++;
		}
		tick(w);
	}
	return NULL;
}

static int sys_membarrier(int cmd, unsigned int flags, int cpu_id)
{
	return syscall(__NR_membarrier, cmd, flags, cpu_id);
}

static void *mb_worker(struct worker *w)
{
	while (!stopping()) {
		int cpu = -1, ret, err;
		struct snap s = { 0, 0 };

		if (rand_r(&w->seed) % 4 == 0) {
			doing(w, "membarrier rseq fence", -1);
			ret = sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
					     0, 0);
		} else {
			cpu = pick_target(w);
			doing(w, "membarrier rseq fence to one CPU", cpu);
			snap(cpu, &s);
			ret = sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
					     MEMBARRIER_CMD_FLAG_CPU, cpu);
		}
		err = errno;
		if (ret < 0) {
			record_err(K_MEMBARRIER, err, 0, cpu, "rseq fence");
		} else if (ret > 0) {
			bad_result(&bad_results, "membarrier returned %d\n",
				   ret);
		} else if (cpu < 0) {
			w->s.mb_all++;
		} else {
			w->s.mb_cpu++;
			if (judge(cpu, &s) == ST_OFFLINE)
				w->s.mb_cpu_offline++;
		}
		tick(w);
		nap_ms(rand_r(&w->seed) % 2);
	}
	return NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *hotplug_worker(struct worker *w)
{
	while (!stopping()) {
		int cpu = storm[rand_r(&w->seed) % nr_storm];
		int on = hp_online[cpu], err, now;
		double t0;

		__atomic_store_n(&hp_busy, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&hp_busy, 0, __ATOMIC_SEQ_CST);
			break;
		}
		__atomic_fetch_add(&hp_gen[cpu], 1, __ATOMIC_SEQ_CST);
		doing(w, on ? "offlining" : "onlining", cpu);
		t0 = now_ms();
		err = cpu_op_set_online(cpu, !on);
		hp_ms_total += now_ms() - t0;
		now = read_online(cpu);
		if (now < 0)
			now = err ? on : !on;
		__atomic_store_n(&hp_online[cpu], now, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&hp_gen[cpu], 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&hp_busy, 0, __ATOMIC_SEQ_CST);
		hp_nr_offline += on - now;
		if (hp_nr_offline > hp_max_offline)
			hp_max_offline = hp_nr_offline;
		if (!err && on) {
			hp_off_done++;
		} else if (!err) {
			hp_on_done++;
		} else {
			hp_failed++;
			/* Hotplug may be disabled for a while (EBUSY). */
			record_err(on ? K_OFFLINE : K_ONLINE, -err,
				   err == -EBUSY, cpu, "write to online");
		}
		if (vmap_toggle)
			cpu_op_force_vmap((hp_on_done + hp_off_done) & 1);
		tick(w);
		if (opt_pause_ms)
			nap_ms(rand_r(&w->seed) % (opt_pause_ms + 1));
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	void *(*fn)(struct worker *w) = NULL;

	w->tid = syscall(__NR_gettid);
	switch (w->type) {
	case W_OPV:
		fn = opv_worker;
		break;
	case W_RSEQ:
		fn = rseq_worker;
		break;
	case W_AFF:
		fn = aff_worker;
		break;
	case W_MB:
		fn = mb_worker;
		break;
	case W_HOTPLUG:
		fn = hotplug_worker;
		break;
	}
	fn(w);
	doing(w, "done", -1);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Set up. */
static int read_possible(void)
{
	cpu_set_t set;
	int cpu, n;

	nr_possible = 0;
	nr_cpu_ids = 0;
	if (cpu_op_cpulist("/sys/devices/system/cpu/possible", &set) < 0) {
		n = sysconf(_SC_NPROCESSORS_CONF);
		for (cpu = 0; cpu < n && cpu < CPU_SETSIZE; cpu++)
			CPU_SET(cpu, &set);
	}
	for (cpu = 0; cpu < MAX_CPUS && cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		possible[nr_possible++] = cpu;
		nr_cpu_ids = cpu + 1;
	}
	return nr_possible;
}

static int in_root_cpuset(void)
{
	FILE *f = fopen("/proc/self/cpuset", "r");
	char line[256] = "";
	int root;

	if (!f)
		return 1;	/* no cpusets: the masks are left alone */
	root = fgets(line, sizeof(line), f) && !strcmp(line, "/\n");
	fclose(f);
	return root;
}

/*
 * Picks the anchor and the CPUs the storm toggles: those online with an
 * online file that can go offline. Fills @why when there are none.
 */
static void pick_cpus(char *why, size_t len)
{
	char path[64];
	int i, cpu, ret, off;

	for (i = 0; i < nr_possible; i++) {
		cpu = possible[i];
		has_file[cpu] = !cpu_op_online_path(cpu, path, sizeof(path));
		ret = has_file[cpu] ? read_online(cpu) : 1;
		init_online[cpu] = ret == 1;
		hp_online[cpu] = init_online[cpu];
		if (anchor < 0 && init_online[cpu] && !has_file[cpu])
			anchor = cpu;
	}
	for (i = 0; anchor < 0 && i < nr_possible; i++)
		if (init_online[possible[i]])
			anchor = possible[i];
	snprintf(why, len, "no CPU but the anchor has an online file");
	for (i = 0; i < nr_possible; i++) {
		cpu = possible[i];
		if (cpu == anchor || !has_file[cpu] || !init_online[cpu])
			continue;
		/* The probe: offline, then online again. */
		is_storm[cpu] = 1;
		off = cpu_op_set_online(cpu, 0);
		if (off) {
			is_storm[cpu] = 0;
			snprintf(why, len, "CPU %d cannot go offline: %s", cpu,
				 strerror(-off));
			continue;
		}
		ret = cpu_op_set_online(cpu, 1);
		if (ret)
			ksft_exit_fail_msg("CPU %d cannot come back online: %s\n",
					   cpu, strerror(-ret));
		storm[nr_storm++] = cpu;
	}
}

static void start_worker(enum wtype type)
{
	struct worker *w = &workers[nr_workers];

	w->id = nr_workers++;
	w->type = type;
	w->seed = opt_seed * 7919 + w->id * 104729 + 1;
	w->doing = "starting";
	w->doing_cpu = -1;
	if (pthread_create(&w->th, NULL, worker_main, w))
		ksft_exit_fail_msg("pthread_create\n");
}

static void init_lists(void)
{
	int i, cpu;

	nr_nodes = nr_possible * NODES_PER_CPU;
	nodes = calloc(nr_nodes, sizeof(*nodes));
	node_push = calloc(nr_nodes, sizeof(*node_push));
	node_pop = calloc(nr_nodes, sizeof(*node_pop));
	if (!nodes || !node_push || !node_pop)
		ksft_exit_fail_msg("calloc\n");
	for (i = 0; i < nr_nodes; i++) {
		cpu = possible[i / NODES_PER_CPU];
		nodes[i].id = i + 1;
		nodes[i].home = cpu;
		nodes[i].next = pc[cpu].head;
		pc[cpu].head = &nodes[i];
	}
}

/* A counter of debugfs rseq/stats (CONFIG_RSEQ_STATS), or -1. */
static long rseq_stat(const char *name)
{
	FILE *f = fopen("/sys/kernel/debug/rseq/stats", "r");
	char key[32];
	long v, ret = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%31s %ld", key, &v) == 2)
		if (!strcmp(key, name))
			ret = v;
	fclose(f);
	return ret;
}

static void sum_stats(struct stats *t)
{
	long *d = (long *)t, *s;
	size_t i, n = sizeof(*t) / sizeof(long);
	int k;

	memset(t, 0, sizeof(*t));
	for (k = 0; k < nr_workers; k++) {
		s = (long *)&workers[k].s;
		for (i = 0; i < n; i++)
			d[i] += s[i];
	}
}

/* Where a thread that does not stop is, for the report. */
static void dump_stuck(struct worker *w)
{
	char path[64], buf[2048];
	int fd, n;

	ksft_print_msg("%s %d (tid %d) did not stop: last %s, CPU %d\n",
		       wtype_names[w->type], w->id, w->tid, LOAD(w->doing),
		       LOAD(w->doing_cpu));
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", w->tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		char *line, *save;

		buf[n] = 0;
		for (line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			ksft_print_msg("  %s\n", line);
	}
}

static void stop_and_join(void)
{
	struct timespec dl;
	int i, stuck = 0;

	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += STOP_GRACE_SECONDS;
	for (i = 0; i < nr_workers; i++)
		if (pthread_timedjoin_np(workers[i].th, NULL, &dl))
			stuck++;
	if (!stuck)
		return;
	for (i = 0; i < nr_workers; i++)
		if (!__atomic_load_n(&workers[i].done, __ATOMIC_ACQUIRE))
			dump_stuck(&workers[i]);
	ksft_exit_fail_msg("%d thread(s) did not stop within %d s\n", stuck,
			   STOP_GRACE_SECONDS);
}

static int check_counters(void)
{
	long got = 0, want = 0, w_cpu, bad = 0;
	int i, k, cpu;

	for (i = 0; i < nr_possible; i++) {
		cpu = possible[i];
		w_cpu = 0;
		for (k = 0; k < nr_workers; k++)
			w_cpu += workers[k].adds[cpu];
		if (pc[cpu].count != w_cpu) {
			ksft_print_msg("CPU %d counter %ld, increments recorded %ld (%+ld)\n",
				       cpu, (long)pc[cpu].count, w_cpu,
				       (long)pc[cpu].count - w_cpu);
			bad++;
		}
		got += pc[cpu].count;
		want += w_cpu;
	}
	ksft_test_result(!bad, "counters exact (sum %ld, recorded %ld, %ld CPUs off)\n",
			 got, want, bad);
	return !bad;
}

static void check_lists(void)
{
	int *where = malloc(nr_nodes * sizeof(int));
	char *held = calloc(nr_nodes, 1);
	long in_lists = 0, nheld = 0, bad = 0, i;
	int k, j, cpu;

	if (!where || !held)
		ksft_exit_fail_msg("malloc\n");
	for (i = 0; i < nr_nodes; i++)
		where[i] = -1;
	for (k = 0; k < nr_workers; k++) {
		for (j = 0; j < workers[k].nstash; j++) {
			struct node *n = workers[k].stash[j];

			i = n - nodes;
			if (held[i]++) {
				ksft_print_msg("node %ld held twice\n", i + 1);
				bad++;
			}
			nheld++;
		}
	}
	for (j = 0; j < nr_possible; j++) {
		struct node *n;
		long steps = 0;

		cpu = possible[j];
		for (n = pc[cpu].head; n; n = n->next) {
			if (!valid_node(n)) {
				ksft_print_msg("CPU %d list: %p is no node\n",
					       cpu, (void *)n);
				bad++;
				break;
			}
			i = n - nodes;
			if (where[i] >= 0) {
				ksft_print_msg("CPU %d list: node %ld again (first on CPU %d's)\n",
					       cpu, i + 1, where[i]);
				bad++;
				break;
			}
			where[i] = cpu;
			in_lists++;
			if (n->id != i + 1) {
				ksft_print_msg("node %ld has id %ld\n", i + 1,
					       (long)n->id);
				bad++;
			}
			if (n->home != cpu) {
				ksft_print_msg("node %ld on CPU %d's list, pushed to CPU %ld's\n",
					       i + 1, cpu, (long)n->home);
				bad++;
			}
			if (++steps > nr_nodes)
				break;
		}
	}
	for (i = 0; i < nr_nodes; i++) {
		long d = 1 + node_push[i] - node_pop[i];

		if (d != 0 && d != 1) {
			ksft_print_msg("node %ld: %ld pushes, %ld pops (and the initial one)\n",
				       i + 1, node_push[i], node_pop[i]);
			bad++;
		} else if (d == 1 && where[i] < 0) {
			ksft_print_msg("node %ld lost: pushed last to CPU %ld, on no list%s\n",
				       i + 1, (long)nodes[i].home,
				       held[i] ? ", held by a thread" : "");
			bad++;
		} else if (d == 0 && where[i] >= 0) {
			ksft_print_msg("node %ld popped but on CPU %d's list%s\n",
				       i + 1, where[i],
				       held[i] ? ", and held by a thread" : "");
			bad++;
		} else if (d == 0 && !held[i]) {
			ksft_print_msg("node %ld popped, held by no thread\n",
				       i + 1);
			bad++;
		} else if (d == 1 && held[i]) {
			ksft_print_msg("node %ld on a list and held by a thread\n",
				       i + 1);
			bad++;
		}
	}
	ksft_test_result(!bad && in_lists + nheld == nr_nodes,
			 "lists exact (%ld nodes on lists, %ld held by threads, of %d; %ld mismatches)\n",
			 in_lists, nheld, nr_nodes, bad);
	free(where);
	free(held);
}

static long errtab_unexpected(enum kind k)
{
	long n = 0;
	int e;

	for (e = 0; e < ERRNO_SLOTS; e++)
		n += errtab[k][e][0];
	return n;
}

static void check_errnos(void)
{
	long unexpected = 0;
	int k, e, l;

	for (k = 0; k < NR_KINDS; k++)
		for (e = 0; e < ERRNO_SLOTS; e++)
			for (l = 0; l < 2; l++) {
				if (!errtab[k][e][l])
					continue;
				ksft_print_msg("%s: %s (%d) x %ld, %s\n",
					       kind_names[k], cpu_op_errname(e), e,
					       errtab[k][e][l],
					       l ? "legitimate" : "UNEXPECTED");
				if (!l)
					unexpected += errtab[k][e][l];
			}
	ksft_test_result(!unexpected, "no unexpected errno (%ld unexpected)\n",
			 unexpected);
}

static void help(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-d seconds] [-o cpu_opv workers] [-r rseq workers] [-p max pause ms] [-D delay] [-s seed]\n"
		"  -d  storm duration (default %d s, or $CPU_OPV_HOTPLUG_SECONDS)\n"
		"  -D  delay loop iterations inside rseq sections (default 100)\n",
		argv0, DEFAULT_SECONDS);
}

static void print_stats(const struct stats *t, double ms, long fixups)
{
	long n = hp_off_done + hp_on_done + hp_failed;

	ksft_print_msg("storm: %ld offline, %ld online, %ld failed transitions in %.1f s\n",
		       hp_off_done, hp_on_done, hp_failed, ms / 1000);
	ksft_print_msg("storm: %.1f ms each, up to %d of %d CPUs offline at once\n",
		       n ? hp_ms_total / n : 0.0, hp_max_offline, nr_storm);
	ksft_print_msg("adds: %ld cpu_opv, %ld rseq, %ld rseq fallbacks to cpu_opv\n",
		       t->add_opv, t->add_rseq, t->add_fallback);
	ksft_print_msg("pops: %ld cpu_opv, %ld rseq, %ld fallbacks, %ld empty\n",
		       t->pop_opv, t->pop_rseq, t->pop_fallback, t->pop_empty);
	ksft_print_msg("pushes: %ld cpu_opv, %ld rseq, %ld fallbacks\n",
		       t->push_opv, t->push_rseq, t->push_fallback);
	ksft_print_msg("vectors done for CPUs online %ld, offline %ld, changing %ld\n",
		       t->opv_state[ST_ONLINE], t->opv_state[ST_OFFLINE],
		       t->opv_state[ST_CHANGING]);
	ksft_print_msg("vectors: %ld failed compares, %ld with a page-crossing operand\n",
		       t->opv_cmpfail, t->opv_cross);
	ksft_print_msg("rseq: %ld aborts, %ld failed compares\n",
		       t->rseq_abort, t->rseq_cmpfail);
	if (fixups >= 0)
		ksft_print_msg("rseq/stats: %ld sections moved to their abort handler\n",
			       fixups);
	ksft_print_msg("affinity: %ld pins to {X}, %ld to {anchor, X}, %ld refused\n",
		       t->aff_single, t->aff_pair, t->aff_setfail);
	ksft_print_msg("affinity: %ld widened by hotplug, %ld EINVAL as expected\n",
		       t->aff_widened, t->einval_expected);
	ksft_print_msg("membarrier: %ld fences to all CPUs, %ld to one (%ld offline)\n",
		       t->mb_all, t->mb_cpu, t->mb_cpu_offline);
}

static int child_main(void)
{
	char why[160];
	struct stats t;
	cpu_set_t set;
	double t0;
	long last = -1, fixups;
	int i, mb_ok, left, sec;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (geteuid() != 0)
		ksft_exit_skip("not root: the storm writes /sys/devices/system/cpu/cpuN/online\n");
	cpu_op_require();
	if (rseq_register_current_thread())
		ksft_exit_skip("rseq is not available: %s\n", strerror(errno));
	if (!read_possible())
		ksft_exit_skip("no possible CPU found\n");

	/* Every exit path brings the CPUs back, from here on. */
	atexit(restore_at_exit);
	for (i = 0; i < (int)ARRAY_SIZE(stop_signals); i++)
		set_handler(stop_signals[i], on_stop_signal, 0);
	set_handler(SIGALRM, on_alarm, 0);
	for (i = 0; i < (int)ARRAY_SIZE(crash_signals); i++)
		set_handler(crash_signals[i], on_crash,
			    SA_RESETHAND | SA_NODEFER);

	pick_cpus(why, sizeof(why));
	if (anchor < 0)
		ksft_exit_skip("no online CPU found\n");
	if (!nr_storm)
		ksft_exit_skip("no CPU can go offline (%s)\n", why);

	/* A mask of every possible CPU, the offline ones included. */
	CPU_ZERO(&set);
	for (i = 0; i < nr_possible; i++)
		CPU_SET(possible[i], &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		ksft_exit_fail_msg("sched_setaffinity(every CPU): %s\n",
				   strerror(errno));
	if (sched_getaffinity(0, sizeof(set), &set))
		ksft_exit_fail_msg("sched_getaffinity: %s\n", strerror(errno));
	for (i = 0; i < nr_possible; i++)
		allowed0[possible[i]] = CPU_ISSET(possible[i], &set);
	strict_affinity = in_root_cpuset();

	mb_ok = sys_membarrier(MEMBARRIER_CMD_QUERY, 0, 0);
	mb_ok = mb_ok > 0 && (mb_ok & MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) &&
		!sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
				0, 0);

	init_lists();
	init_cross();
	vmap_toggle = !cpu_op_force_vmap(0);
	hp_inject_delay = opt_delay;
	ksft_print_msg("%d possible CPUs, anchor %d, storm over %d, %s cpuset\n",
		       nr_possible, anchor, nr_storm,
		       strict_affinity ? "root" : "non-root");
	ksft_print_msg("seed %u, %d s, delay loop %d\n", opt_seed, opt_seconds,
		       opt_delay);
	ksft_print_msg("force_vmap switched at every CPU state change: %s\n",
		       vmap_toggle ? "yes" : "no (cannot write " CPU_OP_FORCE_VMAP ")");
	ksft_set_plan(NR_POINTS);

	workers = calloc(opt_opv + opt_rseq + 3, sizeof(*workers));
	if (!workers)
		ksft_exit_fail_msg("calloc\n");
	{
		sigset_t all, old;

		/* Signals go to this thread, which stops the others. */
		sigfillset(&all);
		for (i = 0; i < (int)ARRAY_SIZE(crash_signals); i++)
			sigdelset(&all, crash_signals[i]);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		start_worker(W_HOTPLUG);
		for (i = 0; i < opt_opv; i++)
			start_worker(W_OPV);
		for (i = 0; i < opt_rseq; i++)
			start_worker(W_RSEQ);
		start_worker(W_AFF);
		if (mb_ok)
			start_worker(W_MB);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}

	t0 = now_ms();
	fixups = rseq_stat("fixup");
	for (sec = 0; sec < opt_seconds && !stopping(); ) {
		long ops = 0;

		nap_ms(100);
		if (now_ms() - t0 < (sec + 1) * 1000.0)
			continue;
		sec++;
		if (sec % 10 && sec != opt_seconds)
			continue;
		for (i = 0; i < nr_workers; i++)
			ops += LOAD(workers[i].nops);
		ksft_print_msg("%d s: %ld operations, %ld transitions\n", sec,
			       ops, LOAD(workers[0].nops));
		if (ops == last)
			ksft_print_msg("no progress in 10 s\n");
		last = ops;
	}
	stop_and_join();
	if (fixups >= 0 && rseq_stat("fixup") >= 0)
		fixups = rseq_stat("fixup") - fixups;
	else
		fixups = -1;
	if (__atomic_load_n(&stop_signal, __ATOMIC_RELAXED))
		ksft_print_msg("stopped early by signal %d\n",
			       __atomic_load_n(&stop_signal, __ATOMIC_RELAXED));

	left = restore_cpus(is_storm);
	for (i = 0; i < nr_storm; i++)
		hp_online[storm[i]] = read_online(storm[i]) == 1;

	sum_stats(&t);
	print_stats(&t, now_ms() - t0, fixups);

	ksft_test_result(hp_off_done > 0 && hp_on_done > 0,
			 "hotplug transitions happened (%ld)\n",
			 hp_off_done + hp_on_done);
	check_counters();
	check_lists();
	check_errnos();
	ksft_test_result(!bad_results && !corruption,
			 "no wrong return value (%ld, %ld corrupt pointers)\n",
			 bad_results, corruption);
	ksft_test_result(!aff_mismatch,
			 "cpu_opv takes exactly the CPUs of the caller's mask (%ld mismatches, %ld EINVAL expected, %ld widenings)\n",
			 aff_mismatch, t.einval_expected, t.aff_widened);
	ksft_test_result(t.opv_state[ST_OFFLINE] > 0 &&
			 (!opt_rseq || t.add_rseq + t.pop_rseq + t.push_rseq > 0),
			 "vectors ran for offline CPUs (%ld) amid rseq commits (%ld)\n",
			 t.opv_state[ST_OFFLINE],
			 t.add_rseq + t.pop_rseq + t.push_rseq);
	if (mb_ok)
		ksft_test_result(t.mb_all + t.mb_cpu > 0 &&
				 !errtab_unexpected(K_MEMBARRIER),
				 "membarrier rseq fences returned 0 (%ld, %ld to offline CPUs)\n",
				 t.mb_all + t.mb_cpu, t.mb_cpu_offline);
	else
		ksft_test_result_skip("membarrier rseq fences: not available\n");
	ksft_test_result(!left, "every CPU back online (%d offline)\n", left);
	ksft_finished();
}

/* Set before the handler that reads it is installed. */
static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	const char *env = getenv("CPU_OPV_HOTPLUG_SECONDS");
	int c, status, i, left;
	pid_t pid;

	opt_seed = time(NULL);
	if (env && *env)
		opt_seconds = atoi(env);
	while ((c = getopt(argc, argv, "d:o:r:p:s:D:h")) != -1) {
		switch (c) {
		case 'd':
			opt_seconds = atoi(optarg);
			break;
		case 'o':
			opt_opv = atoi(optarg);
			break;
		case 'r':
			opt_rseq = atoi(optarg);
			break;
		case 'p':
			opt_pause_ms = atoi(optarg);
			break;
		case 's':
			opt_seed = strtoul(optarg, NULL, 0);
			break;
		case 'D':
			opt_delay = atoi(optarg);
			break;
		default:
			help(argv[0]);
			return c == 'h' ? KSFT_PASS : KSFT_FAIL;
		}
	}
	if (opt_seconds < 1 || opt_opv < 0 || opt_rseq < 0 || opt_pause_ms < 0 ||
	    opt_delay < 0) {
		help(argv[0]);
		return KSFT_FAIL;
	}

	/* The CPUs the parent puts back online, whatever the child did. */
	if (read_possible())
		for (i = 0; i < nr_possible; i++)
			init_online[possible[i]] = read_online(possible[i]) == 1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return child_main();
	if (pid == 0) {
		/* Stop, and bring the CPUs back, if the parent goes away. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			return KSFT_FAIL;
		return child_main();
	}
	child = pid;
	for (i = 0; i < (int)ARRAY_SIZE(stop_signals); i++)
		set_handler(stop_signals[i], forward, SA_RESTART);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			ksft_exit_fail_msg("waitpid: %s\n", strerror(errno));
	for (i = 0, c = 0; i < nr_possible; i++)
		c += init_online[possible[i]] && read_online(possible[i]) == 0;
	left = geteuid() == 0 ? restore_cpus(init_online) : 0;
	if (c)
		printf("# %d CPU(s) were left offline: brought %d back online\n",
		       c, c - left);
	if (WIFSIGNALED(status)) {
		printf("# the test process was killed by signal %d (%s)\n",
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
		printf("Bail out! killed by signal %d\n", WTERMSIG(status));
		return KSFT_FAIL;
	}
	if (left) {
		printf("Bail out! %d CPU(s) stay offline\n", left);
		return KSFT_FAIL;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : KSFT_FAIL;
}
