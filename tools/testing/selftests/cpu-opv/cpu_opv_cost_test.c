// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_cost_test: what one hostile, unprivileged caller of cpu_opv()
 * can cost everybody else, measured from user space against the bounds
 * the design implies (Documentation/userspace-api/cpu_opv.rst and
 * kernel/cpu_opv.rs), in TAP form, with a table of "# cost:" lines.
 *
 * Where the data cache does not alias (every CPU that builds Rust code in
 * 6.12, and ARMv7), cpu_opv
 * reaches every operand through its pinned pages and takes no vmalloc
 * alias; <debugfs>/cpu_opv/force_vmap sends every operand through one, as
 * kernels do where the data cache aliases. Kinds marked "vmap" measure
 * that path (skipped without debugfs or root).
 *
 * 1. IPIs. For each kind of call (an add on the caller's CPU, an add on
 *    another CPU, compare and store, a 4096-byte copy crossing a page on
 *    both sides, the largest vector, the vector with the most page-crossing
 *    operands, the largest vector for an offline CPU, and the largest and
 *    the most crossing one through aliases), N calls are made
 *    with the other CPUs idle, and the IPI rows of /proc/interrupts (x86:
 *    RES, CAL, TLB, IWI; arm64 and others: IPI0..IPIn) are read before and
 *    after. An idle interval of the same length is measured right after
 *    and subtracted. Reported: IPIs per call summed over all CPUs, and
 *    those received by CPUs that are neither the caller's nor the target.
 * 2. Pinned pages. 64 processes (uid 65534) issue the same vector in a
 *    loop while a monitor samples nr_foll_pin_acquired -
 *    nr_foll_pin_released in /proc/vmstat; reported is the peak above the
 *    idle baseline, for the vector with the most operands, and through
 *    aliases for the largest vector and the vector with the most aliases.
 * 3. Latency. The median and worst latency of the largest vector: alone;
 *    while a process of another user (uid 65534) floods small vectors
 *    from two threads per online CPU, targeting every online CPU; and, as
 *    the control, while as many threads of that user spin in user space.
 *    Then, through aliases, while 64 processes of that user issue the
 *    largest vector too, holding the vmalloc budget between them.
 *
 * That callers blocked in a page fault hold no pin and no vmalloc budget
 * is checked by cpu_opv_mem_test.
 *
 * Without root, the floods run as the caller's own user, idle pin counts
 * are not folded (stat_refresh) and the offline CPU check is skipped.
 *
 * Options: -i ITERS (base iteration count, default 400, or the
 * environment variable CPU_OPV_COST_ITERS), -p PROCS (flooding processes,
 * default 64), -d MS (length of each flood, default 1500).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../kselftest.h"
#include "cpu-op.h"

/* ---------------------------------------------------------------------
 * The bounds. Each is what the design implies, with its reasoning.
 * ---------------------------------------------------------------------
 */

/*
 * A vector for another online CPU runs there from one function-call IPI
 * (smp_call_function_single() in run_on()); a vector for the caller's own
 * CPU runs locally with interrupts off, and one for an offline CPU runs on
 * the calling CPU under the offline mutex: neither sends an IPI.
 */
#define IPIS_PER_REMOTE_CALL		1

/*
 * Only on the alias path: dropping a vmalloc alias unmaps it with
 * vm_area_unmap_pages(), whose
 * vunmap_range() flushes the kernel TLB for the range. On x86
 * flush_tlb_kernel_range() does that with on_each_cpu(): one
 * function-call IPI to every other online CPU, idle or not, whoever they
 * run. arm64 broadcasts TLBI instructions and sends no IPI. Other
 * architectures are assumed to IPI, an upper bound. The alias is freed
 * lazily (free_vm_area() defers the purge), so no other flush per alias.
 */
#if defined(__aarch64__)
#define TLB_IPIS_PER_ALIAS_PER_CPU	0
#else
#define TLB_IPIS_PER_ALIAS_PER_CPU	1
#endif

/*
 * On x86 a remote TLB shootdown of a user mm is delivered as a
 * function-call IPI and counted both in CAL and in TLB; TLB is a subset
 * of CAL and is not added to the total. This is decided at run time from
 * the rows of /proc/interrupts (see row_in_total()).
 */

/*
 * Averaged over the calls of one kind, IPIs per call the design does not
 * attribute to a single call: the lazy purge of freed vmalloc areas (one
 * kernel TLB flush per lazy_max_pages(), 32 MiB times log2 of the CPUs,
 * of freed areas: one per thousands of aliases), and the variance of the
 * background (RCU, timers, workqueues), which is measured over an idle
 * interval of the same length and subtracted. On a debug kernel
 * (KASAN's vmalloc shadow, object debugging) the background varies more:
 * the slack also allows IPI_SLACK_FRACTION of the design's count.
 */
#define IPI_SLACK_PER_CALL		0.25
#define IPI_SLACK_FRACTION		0.02

/*
 * A call for another CPU that the measurement sees fewer IPIs for than
 * this means the IPI rows are not read right: the check then fails
 * instead of passing on zeros.
 */
#define IPI_SEEN_MIN_PER_REMOTE_CALL	0.5

/*
 * An operand is at most CPU_OP_DATA_LEN_MAX (one page) long and so spans
 * at most two pages (OPERAND_PAGES in kernel/cpu_opv.rs); each operand
 * has its own pin, even where operands share a page. A vector of
 * CPU_OP_VEC_LEN_MAX two-operand operations, every operand crossing a
 * page (short unaligned compares or copies keep the total length far
 * below CPU_OP_VEC_DATA_LEN_MAX), pins 64 pages: the most one call pins.
 */
#define OPERAND_PAGES			2
#define PINS_PER_CALL_MAX		(CPU_OP_VEC_LEN_MAX * 2 * OPERAND_PAGES)

/*
 * Pages pinned at once by callers of a vector that needs no alias: each
 * caller holds at most its vector's pins, and only between pinning and
 * unpinning; with a preemptible kernel a caller may be preempted in
 * between, so the only bound is callers times pins per call. (What it
 * shows on top is how many callers are caught holding them.)
 *
 * Pages pinned at once by callers of vectors that need aliases: a caller
 * reserves its aliases' vmalloc space from the global budget
 * (CPU_OPV_VMAP_BUDGET_PAGES, debugfs cpu_opv/vmap_budget_bytes) and, in
 * the fixed design, pins only once it holds the reservation; callers
 * waiting for the budget hold no pin. So at most floor(budget / need)
 * calls hold pins at once, need being the sum, over the crossing
 * operands, of the alias area (two pages plus colour room) and its guard
 * page: PIN_HOLDERS_ALIASED(budget, need) * pins per call.
 */
#define PIN_HOLDERS_ALIASED(budget, need)	((budget) / (need))

/*
 * /proc/vmstat shows the global node counters; each CPU keeps a delta
 * that is folded in when it passes its stat threshold (/proc/zoneinfo
 * "vm stats threshold", t) and once a second, and that lies between -t/2
 * and t, for each of the two counters: a sample taken while other CPUs
 * pin and unpin can be off by 1.5 t per online CPU, and the peak of many
 * samples picks the largest such error. Twice t per online CPU is added
 * to the bounds of the floods as measurement error, not design. Idle
 * samples are taken after writing /proc/sys/vm/stat_refresh, which folds
 * every delta, and are exact.
 */
#define PIN_STAT_ERROR(threshold, cpus)	(2 * (threshold) * (cpus))

/*
 * Once a flood has stopped, no caller holds a pin: the count must be back
 * at the idle baseline. The slack covers pins the rest of the system may
 * take meanwhile (none in the test guest).
 */
#define PIN_IDLE_SLACK			2

/*
 * Latency of the largest vector while another user floods small vectors
 * from two threads per online CPU, each for every online CPU in turn.
 * The flood cannot make the vector wait for anything but CPU time and
 * IPI delivery: no vector needs an alias, hence no budget; the IPI
 * queue of a CPU holds at most one call per flooding thread, each a few
 * instructions long; the flood uses no offline CPU, hence not the mutex.
 *
 * Most of what the victim waits for is its share of a busy machine: it
 * shares its CPU with about two flooding threads, and on TCG the busy
 * vCPUs share the host's cores, so the IPI the call waits for (the one to
 * the target) waits for the target vCPU to be scheduled by the host. The
 * control is the same number of threads of the same user busy in user
 * space: the flood may cost the victim
 * more than the control only by the IPIs and queued vectors its CPUs
 * run, a small multiple.
 */
#define LAT_MEDIAN_VS_BUSY_MAX		10

/*
 * The worst call under the flood against the worst under the busy
 * threads: both are a few scheduler slices of the other threads plus, on
 * TCG, the host descheduling busy vCPUs; maxima are noisy, hence the
 * generous factor. A victim starved until the flood stops (the flood
 * runs for as long as the measurement, or its watchdog) goes beyond it.
 */
#define LAT_WORST_VS_BUSY_MAX		20

/*
 * The same worst call as a multiple of the median with no flood at all,
 * which is what a caller sees: generous enough for the busy-vCPU effects
 * above on TCG (hundreds to a thousand medians), and still far below a
 * starvation of seconds.
 */
#define LAT_WORST_RATIO_MAX		20000

/*
 * A vector that needs aliases while nprocs processes of another user
 * issue vectors needing together more than the budget. The budget is
 * global, with no share per user: the victim waits among all of them,
 * so its latency grows with their number, which only RLIMIT_NPROC
 * bounds. The budget is granted in arrival order, so the victim waits
 * behind at most one call of every flooding process. The unit is
 * therefore a round, the time in which the flood as a whole completes
 * one call per flooding process (nprocs divided by its throughput in the
 * same interval): a waiter served in turn waits about one round. The
 * bound allows the scheduling noise of a busy TCG guest on top, and fails
 * a victim starved for many rounds. Its latency as a multiple of its median alone, which
 * no bound of the design caps, is reported for reference.
 */
#define LAT_BUDGET_ROUNDS_MAX		10

/* ---------------------------------------------------------------------
 * Defaults and plumbing.
 * ---------------------------------------------------------------------
 */
#define DEFAULT_ITERS		400
#define DEFAULT_PROCS		64
#define DEFAULT_FLOOD_MS	1500
#define MAX_PROCS		512
#define NOBODY			65534
#define MAX_CPUS		256
#define MAX_ROWS		64
/* Flooding processes stop on their own after this long. */
#define FLOOD_WATCHDOG_S	120
/* Measuring under a budget flood stops starting calls after this long. */
#define BUDGET_FLOOD_CAP_MS	10000

#define BUDGET_FILE	"/sys/kernel/debug/cpu_opv/vmap_budget_bytes"
#define PEAK_FILE	"/sys/kernel/debug/cpu_opv/alias_bytes_peak"
#define REFRESH_FILE	"/proc/sys/vm/stat_refresh"

static long page_size;
static int iters = DEFAULT_ITERS, nprocs = DEFAULT_PROCS;
static int flood_ms = DEFAULT_FLOOD_MS;
static int is_root;
static cpu_set_t orig_set;
static int online[MAX_CPUS], nr_online;
static long budget_bytes, alias_bytes;	/* budget; need of one 2-page alias */
static int stat_threshold;
static int offlined_cpu = -1;
static pid_t kids[MAX_PROCS + 2];
static int nr_kids;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void sleep_us(double us)
{
	struct timespec ts;

	if (us <= 0)
		return;
	ts.tv_sec = (time_t)(us / 1e6);
	ts.tv_nsec = (long)((us - ts.tv_sec * 1e6) * 1e3);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static char *map_pages(long n)
{
	char *p = mmap(NULL, n * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap of %ld pages: %s\n", n, strerror(errno));
	/* Present, private and written: no fault, no copy-on-write. */
	memset(p, 0, n * page_size);
	return p;
}

/* Reads a whole /proc file into a growing buffer; returns its length. */
static long slurp(const char *path, char **buf, long *size)
{
	long len = 0, n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	for (;;) {
		if (len + 4096 + 1 > *size) {
			*size = *size ? 2 * *size : 65536;
			*buf = realloc(*buf, *size);
			if (!*buf)
				ksft_exit_fail_msg("out of memory\n");
		}
		n = read(fd, *buf + len, *size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	(*buf)[len] = 0;
	return len;
}

static int set_affinity2(int a, int b)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(a, &set);
	if (b >= 0)
		CPU_SET(b, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static void restore_affinity(void)
{
	sched_setaffinity(0, sizeof(orig_set), &orig_set);
}

/* Kills the children still running and brings an offlined CPU back. */
/*
 * Whether this process switched <debugfs>/cpu_opv/force_vmap on: every
 * operand then goes through a vmalloc alias, as where the data cache
 * aliases. Otherwise no operand takes one where the cache does not alias.
 */
static int vmap_on;

static int set_vmap(int on)
{
	int ret = cpu_op_force_vmap(on);

	if (!ret)
		vmap_on = on;
	return ret;
}

static void cleanup(void)
{
	int i;

	if (vmap_on)
		set_vmap(0);
	for (i = 0; i < nr_kids; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	if (offlined_cpu >= 0 && !cpu_op_set_online(offlined_cpu, 1))
		offlined_cpu = -1;
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void add_kid(pid_t pid)
{
	if (nr_kids < (int)ARRAY_SIZE(kids))
		kids[nr_kids++] = pid;
}

static void forget_kids(void)
{
	nr_kids = 0;
}

/* Becomes uid/gid 65534 (nobody); 0 on success. */
static int drop_privileges(void)
{
	if (!is_root)
		return 0;
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return -1;
	return getuid() == NOBODY ? 0 : -1;
}

/* ---------------------------------------------------------------------
 * The table.
 * ---------------------------------------------------------------------
 */
static void cost_header(void)
{
	ksft_print_msg("cost: %-5s %-18s %-34s %10s %10s %s\n", "area", "kind",
		       "quantity", "measured", "bound", "verdict");
}

static int cost_row(const char *area, const char *kind, const char *qty,
		    double measured, double bound, const char *fmt)
{
	char m[32], b[32];
	int ok = measured <= bound;

	snprintf(m, sizeof(m), fmt, measured);
	if (bound < 0) {
		snprintf(b, sizeof(b), "-");
		ok = 1;
	} else {
		snprintf(b, sizeof(b), fmt, bound);
	}
	ksft_print_msg("cost: %-5s %-18s %-34s %10s %10s %s\n", area, kind, qty,
		       m, b, bound < 0 ? "info" : ok ? "ok" : "FAIL");
	return ok;
}

/* ---------------------------------------------------------------------
 * Vectors. Each builder fills @ops from the memory at @base (mapped with
 * map_pages(), at least VEC_PAGES pages) and returns the operation count.
 * ---------------------------------------------------------------------
 */
#define VEC_PAGES	72

struct shape {
	int nops;
	int pins;	/* pages pinned, one pin per operand page */
	int crossing;	/* operands crossing a page */
	int operands;
};

/* The aliases a call of @sh takes. */
static int aliases_of(const struct shape *sh)
{
	return vmap_on ? sh->operands : 0;
}

/*
 * The budget a call of @sh reserves: an area per alias, with room for the
 * colour and a guard page, a page smaller for an operand in one page than
 * for one crossing a page (alias_bytes).
 */
static long need_of(const struct shape *sh)
{
	if (!aliases_of(sh))
		return 0;
	return sh->operands * alias_bytes - (long)(sh->operands - sh->crossing) * page_size;
}

/* One 8-byte add. */
static struct shape vec_add(struct cpu_op *ops, char *base)
{
	cpu_op_add(&ops[0], 0, base + 64, 1, 8);
	return (struct shape){ 1, 1, 0, 1 };
}

/* Compare a word with its value, store the same value: 4 pins. */
static struct shape vec_cmp_store(struct cpu_op *ops, char *base)
{
	uint64_t *v = (uint64_t *)(base + 128), *expect = (uint64_t *)(base + page_size);

	*v = 7;
	*expect = 7;
	cpu_op_compare(&ops[0], 1, v, expect, 8);
	cpu_op_memcpy(&ops[1], 0, v, expect, 8);
	return (struct shape){ 2, 4, 0, 4 };
}

/* A 4096-byte copy, source and destination each crossing a page. */
static struct shape vec_copy_cross(struct cpu_op *ops, char *base)
{
	cpu_op_memcpy(&ops[0], 0, base + 2 * page_size - 8,
		      base + 4 * page_size - 16, CPU_OP_DATA_LEN_MAX);
	return (struct shape){ 1, 4, 2, 2 };
}

/*
 * The largest vector: that copy and 15 8-byte adds on pages of their own,
 * CPU_OP_VEC_LEN_MAX operations and CPU_OP_VEC_DATA_LEN_MAX bytes.
 */
static struct shape vec_largest(struct cpu_op *ops, char *base)
{
	int i;

	vec_copy_cross(ops, base);
	for (i = 1; i < CPU_OP_VEC_LEN_MAX; i++)
		cpu_op_add(&ops[i], 0, base + (5 + i) * page_size + 8 * i, 1, 8);
	return (struct shape){ CPU_OP_VEC_LEN_MAX, 4 + CPU_OP_VEC_LEN_MAX - 1, 2,
			       2 + CPU_OP_VEC_LEN_MAX - 1 };
}

/* 16 8-byte copies between pages of their own: 32 pins, none crossing. */
static struct shape vec_direct_max(struct cpu_op *ops, char *base)
{
	int i;

	for (i = 0; i < CPU_OP_VEC_LEN_MAX; i++)
		cpu_op_memcpy(&ops[i], 0, base + (1 + 2 * i) * page_size + 8,
			      base + (2 + 2 * i) * page_size + 8, 8);
	return (struct shape){ CPU_OP_VEC_LEN_MAX, 2 * CPU_OP_VEC_LEN_MAX, 0,
			       2 * CPU_OP_VEC_LEN_MAX };
}

/* Address of the k-th page-crossing 8-byte operand (k < 32). */
static char *cross_operand(char *base, int k)
{
	return base + (2 + 2 * k) * page_size - 4;
}

/*
 * The most pins: 16 8-byte compares of equal bytes, both operands of
 * each crossing a page. 64 pins (and 32 two-page aliases with force_vmap).
 */
static struct shape vec_alias_max(struct cpu_op *ops, char *base)
{
	int i;

	for (i = 0; i < CPU_OP_VEC_LEN_MAX; i++)
		cpu_op_compare(&ops[i], 1, cross_operand(base, 2 * i),
			       cross_operand(base, 2 * i + 1), 8);
	return (struct shape){ CPU_OP_VEC_LEN_MAX, PINS_PER_CALL_MAX, 2 * CPU_OP_VEC_LEN_MAX,
			       2 * CPU_OP_VEC_LEN_MAX };
}

typedef struct shape (*builder)(struct cpu_op *ops, char *base);

/* ---------------------------------------------------------------------
 * /proc/interrupts.
 * ---------------------------------------------------------------------
 */
struct irq_row {
	char name[16];
	char desc[48];
	unsigned long long cnt[MAX_CPUS];
};

struct irq_snap {
	int nrows;
	struct irq_row rows[MAX_ROWS];
};

static int is_ipi_row(const char *name)
{
	static const char * const x86[] = { "RES", "CAL", "TLB", "IWI" };
	unsigned int i;

	if (!strncmp(name, "IPI", 3))
		return 1;
	for (i = 0; i < ARRAY_SIZE(x86); i++)
		if (!strcmp(name, x86[i]))
			return 1;
	return 0;
}

static char *irq_buf;
static long irq_buf_size;

static void read_irqs(struct irq_snap *s)
{
	int col_cpu[MAX_CPUS], ncols = 0, i;
	char *line, *next, *p;

	memset(s, 0, sizeof(*s));
	if (slurp("/proc/interrupts", &irq_buf, &irq_buf_size) <= 0)
		ksft_exit_fail_msg("cannot read /proc/interrupts: %s\n", strerror(errno));
	line = irq_buf;
	next = strchr(line, '\n');
	if (next)
		*next++ = 0;
	for (p = line; (p = strstr(p, "CPU")) && ncols < MAX_CPUS; p += 3)
		col_cpu[ncols++] = atoi(p + 3);
	for (line = next; line && *line; line = next) {
		struct irq_row *r;
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		while (*line == ' ')
			line++;
		colon = strchr(line, ':');
		if (!colon || colon - line >= (long)sizeof(r->name))
			continue;
		*colon = 0;
		if (!is_ipi_row(line) || s->nrows >= MAX_ROWS)
			continue;
		r = &s->rows[s->nrows++];
		snprintf(r->name, sizeof(r->name), "%s", line);
		p = colon + 1;
		for (i = 0; i < ncols; i++) {
			char *end;
			unsigned long long v = strtoull(p, &end, 10);

			if (end == p)
				break;
			if (col_cpu[i] >= 0 && col_cpu[i] < MAX_CPUS)
				r->cnt[col_cpu[i]] = v;
			p = end;
		}
		while (*p == ' ')
			p++;
		snprintf(r->desc, sizeof(r->desc), "%s", p);
	}
}

static const struct irq_row *find_row(const struct irq_snap *s, const char *name)
{
	int i;

	for (i = 0; i < s->nrows; i++)
		if (!strcmp(s->rows[i].name, name))
			return &s->rows[i];
	return NULL;
}

/*
 * Whether row @name of @s adds to the total. x86's TLB row is a subset of
 * its CAL row: x86 is told by its IWI row, which only x86 prints and
 * always does where it prints TLB (CONFIG_SMP needs the local APIC).
 */
static int row_in_total(const struct irq_snap *s, const char *name)
{
	return strcmp(name, "TLB") || !find_row(s, "IWI");
}

/* Delta of row @r of @b against @a, over all CPUs or the uninvolved ones. */
static double row_delta(const struct irq_snap *a, const struct irq_row *r,
			int c1, int c2, int uninvolved)
{
	const struct irq_row *ra = find_row(a, r->name);
	double d = 0;
	int cpu;

	if (!ra)
		return 0;
	for (cpu = 0; cpu < MAX_CPUS; cpu++) {
		if (uninvolved && (cpu == c1 || cpu == c2))
			continue;
		if (r->cnt[cpu] >= ra->cnt[cpu])
			d += r->cnt[cpu] - ra->cnt[cpu];
	}
	return d;
}

/* ---------------------------------------------------------------------
 * 1. IPIs per call.
 * ---------------------------------------------------------------------
 */
static struct irq_snap snap0, snap1, snap2, snap3;

struct ipi_kind {
	const char *name;
	builder build;
	int iters_div;		/* iterations: iters * 4 / iters_div */
	int where;		/* 0: caller's CPU, 1: other online, 2: offline */
	int vmap;		/* every operand through an alias (force_vmap) */
};

static const struct ipi_kind ipi_kinds[] = {
	{ "add-local",		vec_add,	1, 0, 0 },
	{ "add-remote",		vec_add,	1, 1, 0 },
	{ "cmp-store-remote",	vec_cmp_store,	1, 1, 0 },
	{ "copy4096-cross",	vec_copy_cross,	4, 1, 0 },
	{ "largest-remote",	vec_largest,	4, 1, 0 },
	{ "cross-max-remote",	vec_alias_max,	4, 1, 0 },
	{ "largest-offline",	vec_largest,	4, 2, 0 },
	{ "largest-vmap",	vec_largest,	16, 1, 1 },
	{ "cross-max-vmap",	vec_alias_max,	32, 1, 1 },
};

#define NR_IPI_KINDS	((int)ARRAY_SIZE(ipi_kinds))

static int have_ipi_rows(void)
{
	read_irqs(&snap0);
	return snap0.nrows > 0;
}

#define IPI_CALLS_FMT "cost: %-5s %-18s %d calls in %.0f us (%.1f us/call), CPU %d -> %d%s, %d from another CPU\n"
#define IPI_UNSEEN_FMT "%s: %.3f IPIs per call for another CPU: the IPI rows of /proc/interrupts are not read right\n"

/*
 * Runs @n calls of @k from @caller for @target, then as long idle, and
 * checks IPIs per call, in all and on CPUs other than the two.
 */
static void ipi_measure(const struct ipi_kind *k, int caller, int target,
			int cpus_online)
{
	struct cpu_op ops[CPU_OP_VEC_LEN_MAX];
	char *base = map_pages(VEC_PAGES);
	struct shape sh = k->build(ops, base);
	int n = iters * 4 / k->iters_div, i, fails = 0, moved = 0, err = 0, ok;
	int remote = k->where == 1;
	double t0, t1, total = 0, uninv = 0, bound_total, bound_uninv;
	char rows[256] = "", qty[64];
	int len = 0;

	if (n < 10)
		n = 10;
	if (set_affinity2(caller, target == caller ? -1 : target))
		ksft_exit_fail_msg("sched_setaffinity: %s\n", strerror(errno));
	sleep_us(20000);
	/* Warm up: page tables, the vmalloc space, caches. */
	for (i = 0; i < 5; i++)
		cpu_opv(ops, sh.nops, target, 0);
	read_irqs(&snap0);
	t0 = now_us();
	for (i = 0; i < n; i++) {
		int ret;

		if (sched_getcpu() != caller)
			moved++;
		ret = cpu_opv(ops, sh.nops, target, 0);
		if (ret) {
			fails++;
			err = ret < 0 ? errno : 0;
		}
	}
	t1 = now_us();
	read_irqs(&snap1);
	/* The background over as long, the same CPUs idle. */
	read_irqs(&snap2);
	sleep_us(t1 - t0);
	read_irqs(&snap3);
	restore_affinity();

	for (i = 0; i < snap1.nrows; i++) {
		const struct irq_row *r = &snap1.rows[i];
		const struct irq_row *r3 = find_row(&snap3, r->name);
		double d = row_delta(&snap0, r, caller, target, 0);
		double du = row_delta(&snap0, r, caller, target, 1);
		double bg = r3 ? row_delta(&snap2, r3, caller, target, 0) : 0;
		double bgu = r3 ? row_delta(&snap2, r3, caller, target, 1) : 0;

		d = (d - bg) / n;
		du = (du - bgu) / n;
		if (row_in_total(&snap1, r->name)) {
			total += d;
			uninv += du;
		}
		if (len < (int)sizeof(rows) - 24)
			len += snprintf(rows + len, sizeof(rows) - len, " %s %.3f", r->name, d);
	}
	bound_total = remote * IPIS_PER_REMOTE_CALL +
		      (double)aliases_of(&sh) * TLB_IPIS_PER_ALIAS_PER_CPU * (cpus_online - 1);
	bound_total += IPI_SLACK_PER_CALL + IPI_SLACK_FRACTION * bound_total;
	/* Uninvolved: every online CPU but the caller's and the target. */
	bound_uninv = (double)aliases_of(&sh) * TLB_IPIS_PER_ALIAS_PER_CPU *
		      (cpus_online - 1 - (k->where == 1));
	bound_uninv += IPI_SLACK_PER_CALL + IPI_SLACK_FRACTION * bound_uninv;

	snprintf(qty, sizeof(qty), "IPIs/call, all CPUs (%d aliases)", aliases_of(&sh));
	ok = cost_row("ipi", k->name, qty, total, bound_total, "%.3f");
	ok &= cost_row("ipi", k->name, "IPIs/call, uninvolved CPUs", uninv, bound_uninv,
		       "%.3f");
	ksft_print_msg("cost: %-5s %-18s per row, per call, background subtracted:%s\n",
		       "ipi", k->name, rows);
	ksft_print_msg(IPI_CALLS_FMT,
		       "ipi", k->name, n, t1 - t0, (t1 - t0) / n, caller, target,
		       k->where == 2 ? " (offline)" : "", moved);
	if (fails)
		ksft_print_msg("%s: %d of %d calls failed (last: %s)\n", k->name, fails, n,
			       err ? strerror(err) : "compare");
	if (remote && !moved && total < IPI_SEEN_MIN_PER_REMOTE_CALL) {
		ksft_print_msg(IPI_UNSEEN_FMT,
			       k->name, total);
		ok = 0;
	}
	ksft_test_result(ok && !fails,
			 "ipi: %s: %.3f IPIs/call (bound %.2f), %.3f on uninvolved CPUs (bound %.2f)\n",
			 k->name, total, bound_total, uninv, bound_uninv);
	munmap(base, VEC_PAGES * page_size);
}

#define IPI_SKIP_CPUS_FMT "ipi: %s: needs 3 online CPUs in the affinity mask, %d\n"

static void test_ipis(void)
{
	int caller, target, spare = -1, i;

	if (!have_ipi_rows()) {
		for (i = 0; i < NR_IPI_KINDS; i++)
			ksft_test_result_skip("ipi: %s: no IPI rows in /proc/interrupts\n",
					      ipi_kinds[i].name);
		return;
	}
	if (nr_online < 3) {
		for (i = 0; i < NR_IPI_KINDS; i++)
			ksft_test_result_skip(IPI_SKIP_CPUS_FMT,
					      ipi_kinds[i].name, nr_online);
		return;
	}
	/* Keep off CPU 0, which takes the device interrupts. */
	caller = online[nr_online - 1];
	target = online[nr_online - 2];
	for (i = 1; i < nr_online - 2; i++)
		spare = online[i];
	for (i = 0; i < NR_IPI_KINDS; i++) {
		const struct ipi_kind *k = &ipi_kinds[i];
		int ret;

		ret = set_vmap(k->vmap);
		if (ret && k->vmap) {
			ksft_test_result_skip("ipi: %s: %s: %s\n", k->name, CPU_OP_FORCE_VMAP,
					      strerror(-ret));
			continue;
		}
		if (k->where == 0) {
			ipi_measure(k, caller, caller, nr_online);
			continue;
		}
		if (k->where == 1) {
			ipi_measure(k, caller, target, nr_online);
			continue;
		}
		/* An offline CPU: neither the caller's nor the target above. */
		if (!is_root || spare < 0) {
			ksft_test_result_skip("ipi: %s: %s\n", k->name,
					      !is_root ? "not root" : "no CPU to take offline");
			continue;
		}
		ret = cpu_op_set_online(spare, 0);
		if (ret) {
			ksft_test_result_skip("ipi: %s: cannot take CPU %d offline: %s\n",
					      k->name, spare, strerror(-ret));
			continue;
		}
		offlined_cpu = spare;
		ipi_measure(k, caller, spare, nr_online - 1);
		ret = cpu_op_set_online(spare, 1);
		if (ret)
			ksft_exit_fail_msg("cannot bring CPU %d back online: %s\n", spare,
					   strerror(-ret));
		offlined_cpu = -1;
	}
	set_vmap(0);
}

/* ---------------------------------------------------------------------
 * Pinned pages, from /proc/vmstat.
 * ---------------------------------------------------------------------
 */
static char *vm_buf;
static long vm_buf_size;

static long vmstat_field(const char *buf, const char *key)
{
	const char *p = buf;
	size_t n = strlen(key);

	while ((p = strstr(p, key))) {
		if ((p == buf || p[-1] == '\n') && p[n] == ' ')
			return atol(p + n + 1);
		p += n;
	}
	return -1;
}

/* nr_foll_pin_acquired - nr_foll_pin_released, or -1. */
static long pins_now(int refresh)
{
	long acq, rel;

	if (refresh && is_root)
		cpu_op_write_switch(REFRESH_FILE, 1);
	if (slurp("/proc/vmstat", &vm_buf, &vm_buf_size) <= 0)
		return -1;
	acq = vmstat_field(vm_buf, "nr_foll_pin_acquired");
	rel = vmstat_field(vm_buf, "nr_foll_pin_released");
	if (acq < 0 || rel < 0)
		return -1;
	return acq - rel;
}

/* The largest per-CPU stat threshold of /proc/zoneinfo. */
static int read_stat_threshold(void)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	char line[256];
	int t = 0, v;

	if (!f)
		return 125;	/* the kernel's maximum */
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "vm stats threshold:");

		if (p && sscanf(p + 19, "%d", &v) == 1 && v > t)
			t = v;
	}
	fclose(f);
	return t ? t : 125;
}

/*
 * Bytes of budget one 2-page alias needs, from alias_bytes_peak after a
 * compare of two page-crossing operands through aliases.
 */
static void read_budget(void)
{
	struct cpu_op op;
	char *base = map_pages(4);
	long peak;

	budget_bytes = cpu_op_read_long(BUDGET_FILE);
	alias_bytes = -1;
	if (budget_bytes > 0 && !cpu_op_write_switch(PEAK_FILE, 0) && !set_vmap(1)) {
		cpu_op_compare(&op, 1, base + page_size - 4, base + 3 * page_size - 4, 8);
		if (cpu_opv(&op, 1, sched_getcpu(), 0) >= 0) {
			peak = cpu_op_read_long(PEAK_FILE);
			if (peak > 0)
				alias_bytes = peak / 2;
		}
		set_vmap(0);
	}
	if (budget_bytes <= 0) {
		/* CPU_OPV_VMAP_BUDGET_PAGES */
		budget_bytes = 256 * page_size;
		ksft_print_msg("no %s: assuming a budget of 256 pages\n", BUDGET_FILE);
	}
	if (alias_bytes <= 0) {
		/* No colour room: the smallest need, the largest holder count. */
		alias_bytes = 3 * page_size;
		ksft_print_msg("no %s: assuming 3 pages of budget per alias\n", PEAK_FILE);
	}
	munmap(base, 4 * page_size);
}

/* ---------------------------------------------------------------------
 * Floods of processes, shared state.
 * ---------------------------------------------------------------------
 */
struct flood {
	int go, stop, ready;
	int threads_ready;
	double deadline;	/* CLOCK_MONOTONIC, in us: stop by then */
	long calls[MAX_PROCS];
	int fails[MAX_PROCS];
	int err[MAX_PROCS];
};

static struct flood *fl;

static void flood_reset(void)
{
	memset(fl, 0, sizeof(*fl));
	fl->deadline = now_us() + FLOOD_WATCHDOG_S * 1e6;
}

/*
 * Whether a flooder must stop: told to, or past the watchdog, so that a
 * starved measurement shows as a long latency, not a hang.
 */
static int flood_over(void)
{
	return __atomic_load_n(&fl->stop, __ATOMIC_ACQUIRE) || now_us() > fl->deadline;
}

/* One flooding process: @build's vector, every online CPU in turn. */
static void pin_flood_child(int idx, builder build)
{
	struct cpu_op ops[CPU_OP_VEC_LEN_MAX];
	char *base;
	struct shape sh;
	int t = idx;

	if (drop_privileges())
		_exit(3);
	base = map_pages(VEC_PAGES);
	sh = build(ops, base);
	__atomic_add_fetch(&fl->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&fl->go, __ATOMIC_ACQUIRE))
		usleep(1000);
	while (!flood_over()) {
		int ret = cpu_opv(ops, sh.nops, online[t++ % nr_online], 0);

		if (ret) {
			fl->fails[idx]++;
			fl->err[idx] = ret < 0 ? errno : 0;
		}
		fl->calls[idx]++;
	}
	_exit(0);
}

static int reap_kids(void)
{
	int i, status, bad = 0;

	for (i = 0; i < nr_kids; i++) {
		if (waitpid(kids[i], &status, 0) != kids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			bad++;
	}
	forget_kids();
	return bad;
}

static void wait_ready(int *counter, int want, const char *what)
{
	double t0 = now_us();

	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want) {
		if (now_us() - t0 > 60e6)
			ksft_exit_fail_msg("%s: %d of %d ready after 60 s\n", what,
					   *counter, want);
		usleep(2000);
	}
}

/* Starts nprocs processes of uid 65534 issuing @build's vector. */
static void start_pin_flood(builder build, const char *what)
{
	int i;

	flood_reset();
	for (i = 0; i < nprocs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			ksft_exit_fail_msg("fork: %s\n", strerror(errno));
		if (!pid)
			pin_flood_child(i, build);
		add_kid(pid);
	}
	wait_ready(&fl->ready, nprocs, what);
}

/* Stops the flood; returns the failed calls and processes. */
static int stop_pin_flood(void)
{
	int i, fails = 0;

	__atomic_store_n(&fl->stop, 1, __ATOMIC_RELEASE);
	fails = reap_kids();
	for (i = 0; i < nprocs; i++)
		fails += fl->fails[i];
	return fails;
}

struct pin_kind {
	const char *name;
	builder build;
	int vmap;	/* every operand through an alias (force_vmap) */
};

static const struct pin_kind pin_kinds[] = {
	{ "direct-max",		vec_direct_max,	0 },
	{ "largest-vmap",	vec_largest,	1 },
	{ "cross-max-vmap",	vec_alias_max,	1 },
};

#define NR_PIN_KINDS	((int)ARRAY_SIZE(pin_kinds))

#define PIN_SHAPE_FMT "cost: %-5s %-18s %d pins and %d aliases per call, %.0f KiB of budget each, %ld holders allowed, stat error %ld\n"
#define PIN_CALLS_FMT "cost: %-5s %-18s %ld calls in %d ms, fewest by one caller %ld, %d samples, baseline %ld, after %ld\n"

static void pin_flood(const struct pin_kind *k)
{
	struct cpu_op ops[CPU_OP_VEC_LEN_MAX];
	char *scratch = map_pages(VEC_PAGES);
	struct shape sh = k->build(ops, scratch);
	long base, v, peak = 0, need, holders, calls = 0, min_calls = -1, bound;
	long error = PIN_STAT_ERROR(stat_threshold, nr_online);
	int i, fails = 0, err = 0, bad, samples = 0, ok;
	double t0;
	char qty[64];

	munmap(scratch, VEC_PAGES * page_size);
	need = need_of(&sh);
	holders = need ? PIN_HOLDERS_ALIASED(budget_bytes, need) : nprocs;
	if (holders > nprocs)
		holders = nprocs;
	bound = holders * sh.pins;

	base = pins_now(1);
	start_pin_flood(k->build, k->name);
	/* The monitor must get the CPU while 64 callers compete for it. */
	setpriority(PRIO_PROCESS, 0, -10);
	__atomic_store_n(&fl->go, 1, __ATOMIC_RELEASE);
	t0 = now_us();
	while (now_us() - t0 < flood_ms * 1e3) {
		v = pins_now(0);
		if (v < 0)
			break;
		if (v - base > peak)
			peak = v - base;
		samples++;
		usleep(200);
	}
	__atomic_store_n(&fl->stop, 1, __ATOMIC_RELEASE);
	setpriority(PRIO_PROCESS, 0, 0);
	bad = reap_kids();
	for (i = 0; i < nprocs; i++) {
		calls += fl->calls[i];
		if (min_calls < 0 || fl->calls[i] < min_calls)
			min_calls = fl->calls[i];
		if (fl->fails[i]) {
			fails += fl->fails[i];
			err = fl->err[i];
		}
	}
	v = pins_now(1);

	snprintf(qty, sizeof(qty), "peak pins, %d callers", nprocs);
	ok = cost_row("pins", k->name, qty, peak, bound + error, "%.0f");
	cost_row("pins", k->name, "peak pins per caller", (double)peak / nprocs,
		 -1, "%.2f");
	cost_row("pins", k->name, "callers caught holding pins",
		 (double)peak / sh.pins, -1, "%.1f");
	ksft_print_msg(PIN_SHAPE_FMT,
		       "pins", k->name, sh.pins, aliases_of(&sh), need / 1024.0, holders,
		       error);
	ksft_print_msg(PIN_CALLS_FMT,
		       "pins", k->name, calls, flood_ms, min_calls, samples, base,
		       v);
	if (fails || bad)
		ksft_print_msg("%s: %d calls failed (last: %s), %d processes failed\n",
			       k->name, fails, err ? strerror(err) : "compare", bad);
	if (v > base + PIN_IDLE_SLACK)
		ksft_print_msg("%s: %ld pins left after the flood\n", k->name, v - base);
	ksft_test_result(ok && !fails && !bad && base >= 0 && samples > 0 &&
			 v <= base + PIN_IDLE_SLACK,
			 "pins: %s: peak %ld pinned pages with %d callers (bound %ld + %ld stat error)\n",
			 k->name, peak, nprocs, bound, error);
}

static void test_pins(void)
{
	int i;

	if (pins_now(1) < 0) {
		for (i = 0; i < NR_PIN_KINDS; i++)
			ksft_test_result_skip("pins: %s: no nr_foll_pin_* in /proc/vmstat\n",
					      pin_kinds[i].name);
		return;
	}
	for (i = 0; i < NR_PIN_KINDS; i++) {
		int ret = set_vmap(pin_kinds[i].vmap);

		if (ret && pin_kinds[i].vmap) {
			ksft_test_result_skip("pins: %s: %s: %s\n", pin_kinds[i].name,
					      CPU_OP_FORCE_VMAP, strerror(-ret));
			continue;
		}
		pin_flood(&pin_kinds[i]);
	}
	set_vmap(0);
}

/* ---------------------------------------------------------------------
 * 3. Latency of the largest vector under a flood of another user.
 * ---------------------------------------------------------------------
 */
/* One per cache line, so that the flooding threads share none. */
struct flood_thread {
	alignas(64) int idx;
	int hog;
	uint64_t word;
};

/*
 * One flooding thread: small vectors for every online CPU in turn, or,
 * for the control, a busy loop in user space.
 */
static void *small_flooder(void *arg)
{
	struct flood_thread *ft = arg;
	struct cpu_op op;
	int t = ft->idx, i;

	cpu_op_add(&op, 0, &ft->word, 1, 8);
	__atomic_add_fetch(&fl->threads_ready, 1, __ATOMIC_SEQ_CST);
	while (!flood_over()) {
		if (ft->hog) {
			for (i = 0; i < 1000; i++)
				__asm__ __volatile__("" ::: "memory");
			__atomic_add_fetch(&fl->calls[1], 1, __ATOMIC_RELAXED);
			continue;
		}
		if (cpu_opv(&op, 1, online[t++ % nr_online], 0))
			__atomic_add_fetch(&fl->fails[0], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&fl->calls[0], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void small_flood_child(int nthreads, int hog)
{
	struct flood_thread *ft;
	pthread_t *th;
	int i;

	if (drop_privileges())
		_exit(3);
	ft = aligned_alloc(64, nthreads * sizeof(*ft));
	th = calloc(nthreads, sizeof(*th));
	if (!ft || !th)
		_exit(2);
	memset(ft, 0, nthreads * sizeof(*ft));
	for (i = 0; i < nthreads; i++) {
		ft[i].idx = i;
		ft[i].hog = hog;
		if (pthread_create(&th[i], NULL, small_flooder, &ft[i]))
			_exit(2);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	_exit(0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Latencies of @n calls of @ops for @target, sorted; returns failures. */
static int lat_run(struct cpu_op *ops, int nops, int target, double *lat, int n)
{
	int i, fails = 0;

	for (i = 0; i < n; i++) {
		double t0 = now_us();

		if (cpu_opv(ops, nops, target, 0))
			fails++;
		lat[i] = now_us() - t0;
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	return fails;
}

#define LAT_FAILS_FMT "latency%s: %d measured calls failed, %d flood calls failed, %d processes failed\n"

/*
 * Latencies of @n calls while @nthreads threads of another user run:
 * flooding small vectors, or busy in user space (@hog). Returns
 * failures, of the measured calls, the flood's calls and its process.
 */
static int lat_under(struct cpu_op *ops, int nops, int target, double *lat, int n,
		     int nthreads, int hog)
{
	int fails, bad;
	pid_t pid;

	flood_reset();
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (!pid)
		small_flood_child(nthreads, hog);
	add_kid(pid);
	wait_ready(&fl->threads_ready, nthreads, hog ? "busy threads" : "small-vector flood");
	sleep_us(50000);
	fails = lat_run(ops, nops, target, lat, n);
	__atomic_store_n(&fl->stop, 1, __ATOMIC_RELEASE);
	bad = reap_kids();
	if (fails || fl->fails[0] || bad)
		ksft_print_msg(LAT_FAILS_FMT,
			       hog ? " (busy threads)" : "", fails, fl->fails[0], bad);
	return fails + fl->fails[0] + bad + (!hog && !fl->calls[0]);
}

static double lat_median_alone;

#define LAT_FLOOD_FMT "cost: %-5s %-18s %d threads of uid %d: %ld small calls while %d largest ran\n"

static void test_latency(void)
{
	struct cpu_op ops[CPU_OP_VEC_LEN_MAX];
	char *base = map_pages(VEC_PAGES);
	struct shape sh = vec_largest(ops, base);
	int n = iters / 2, m, nthreads = 2 * nr_online, fails, i;
	int target = online[nr_online - 1];
	double *alone, *hogged, *flooded, med0, max0, medh, maxh, med1, max1;
	long small_calls;
	int ok;

	if (n < 20)
		n = 20;
	m = n / 2 < 20 ? 20 : n / 2;
	alone = calloc(n, sizeof(double));
	hogged = calloc(m, sizeof(double));
	flooded = calloc(m, sizeof(double));
	if (!alone || !hogged || !flooded)
		ksft_exit_fail_msg("out of memory\n");
	for (i = 0; i < 5; i++)
		cpu_opv(ops, sh.nops, target, 0);
	fails = lat_run(ops, sh.nops, target, alone, n);
	med0 = alone[n / 2];
	max0 = alone[n - 1];
	lat_median_alone = med0;
	fails += lat_under(ops, sh.nops, target, hogged, m, nthreads, 1);
	medh = hogged[m / 2];
	maxh = hogged[m - 1];
	fails += lat_under(ops, sh.nops, target, flooded, m, nthreads, 0);
	small_calls = fl->calls[0];
	med1 = flooded[m / 2];
	max1 = flooded[m - 1];

	cost_row("lat", "largest", "median alone (us)", med0, -1, "%.1f");
	cost_row("lat", "largest", "worst alone (us)", max0, -1, "%.1f");
	cost_row("lat", "largest", "median, busy threads (us)", medh, -1, "%.1f");
	cost_row("lat", "largest", "worst, busy threads (us)", maxh, -1, "%.1f");
	cost_row("lat", "largest", "median flooded (us)", med1, -1, "%.1f");
	cost_row("lat", "largest", "worst flooded (us)", max1, -1, "%.1f");
	cost_row("lat", "largest", "median flooded / median alone", med1 / med0, -1, "%.2f");
	ok = cost_row("lat", "largest", "median flooded / median busy", med1 / medh,
		      LAT_MEDIAN_VS_BUSY_MAX, "%.2f");
	ok &= cost_row("lat", "largest", "worst flooded / worst busy", max1 / maxh,
		       LAT_WORST_VS_BUSY_MAX, "%.2f");
	ok &= cost_row("lat", "largest", "worst flooded / median alone", max1 / med0,
		       LAT_WORST_RATIO_MAX, "%.1f");
	ksft_print_msg(LAT_FLOOD_FMT,
		       "lat", "largest", nthreads, is_root ? NOBODY : (int)getuid(),
		       small_calls, m);
	ksft_test_result(ok && !fails,
			 "latency: largest vector under a flood of another user: median x%.2f, worst x%.2f of busy threads' (bounds %d, %d), worst x%.1f of the median alone (bound %d)\n",
			 med1 / medh, max1 / maxh, LAT_MEDIAN_VS_BUSY_MAX, LAT_WORST_VS_BUSY_MAX,
			 max1 / med0, LAT_WORST_RATIO_MAX);
	free(alone);
	free(hogged);
	free(flooded);
	munmap(base, VEC_PAGES * page_size);
}

#define LAT_BUDGET_FMT "cost: %-5s %-18s %d of %d calls in %d ms cap, %ld flood calls; %d processes of uid %d can hold %ld of the %ld KiB budget (%ld KiB each)\n"

/*
 * The largest vector (two aliases) while nprocs processes of another user
 * issue the same vector: together they can hold the budget down to less
 * than one such vector's need, so the victim waits for the budget among
 * all of them.
 */
static void test_latency_budget(void)
{
	struct cpu_op ops[CPU_OP_VEC_LEN_MAX];
	char *base = map_pages(VEC_PAGES);
	struct shape sh = vec_largest(ops, base);
	int n = iters / 20 < 10 ? 10 : iters / 20, done = 0, fails = 0, ok, i;
	int target = online[nr_online - 1];
	double *lat = calloc(n, sizeof(double)), t0, med, max, span, round;
	long calls0 = 0, calls1 = 0, need;
	int ret;

	if (!lat)
		ksft_exit_fail_msg("out of memory\n");
	if (lat_median_alone <= 0) {
		ksft_test_result_skip("latency: under a budget flood: no median alone\n");
		free(lat);
		munmap(base, VEC_PAGES * page_size);
		return;
	}
	ret = set_vmap(1);
	if (ret) {
		ksft_test_result_skip("latency: under a budget flood: %s: %s\n",
				      CPU_OP_FORCE_VMAP, strerror(-ret));
		free(lat);
		munmap(base, VEC_PAGES * page_size);
		return;
	}
	need = need_of(&sh);
	start_pin_flood(vec_largest, "budget flood");
	__atomic_store_n(&fl->go, 1, __ATOMIC_RELEASE);
	sleep_us(100000);
	for (i = 0; i < nprocs; i++)
		calls0 += __atomic_load_n(&fl->calls[i], __ATOMIC_RELAXED);
	t0 = now_us();
	while (done < n && now_us() - t0 < BUDGET_FLOOD_CAP_MS * 1e3) {
		double t1 = now_us();

		if (cpu_opv(ops, sh.nops, target, 0))
			fails++;
		lat[done++] = now_us() - t1;
	}
	span = now_us() - t0;
	for (i = 0; i < nprocs; i++)
		calls1 += __atomic_load_n(&fl->calls[i], __ATOMIC_RELAXED);
	fails += stop_pin_flood();
	set_vmap(0);
	qsort(lat, done, sizeof(*lat), cmp_double);
	med = lat[done / 2];
	max = lat[done - 1];
	/* The time in which the flood completes one call per process. */
	round = calls1 > calls0 ? span * nprocs / (calls1 - calls0) : span;
	cost_row("lat", "largest/budget", "median (us)", med, -1, "%.1f");
	cost_row("lat", "largest/budget", "worst (us)", max, -1, "%.1f");
	cost_row("lat", "largest/budget", "median / median alone", med / lat_median_alone, -1,
		 "%.1f");
	cost_row("lat", "largest/budget", "worst / median alone", max / lat_median_alone, -1,
		 "%.1f");
	cost_row("lat", "largest/budget", "flood round (us)", round, -1, "%.1f");
	ok = cost_row("lat", "largest/budget", "worst / flood round", max / round,
		      LAT_BUDGET_ROUNDS_MAX, "%.2f");
	ksft_print_msg(LAT_BUDGET_FMT,
		       "lat", "largest/budget", done, n, BUDGET_FLOOD_CAP_MS, calls1 - calls0,
		       nprocs, is_root ? NOBODY : (int)getuid(),
		       PIN_HOLDERS_ALIASED(budget_bytes, need) * need / 1024,
		       budget_bytes / 1024, need / 1024);
	ksft_test_result(ok && !fails,
			 "latency: largest vector among %d processes of another user holding the budget: worst %.2f flood rounds (bound %d), x%.0f of the median alone\n",
			 nprocs, max / round, LAT_BUDGET_ROUNDS_MAX, max / lat_median_alone);
	free(lat);
	munmap(base, VEC_PAGES * page_size);
}

#define SETUP_FMT "cost: %d online CPUs, %d iterations, %d processes, %d ms floods, budget %ld KiB, %ld KiB per 2-page alias, vmstat threshold %d\n"

int main(int argc, char **argv)
{
	const char *env = getenv("CPU_OPV_COST_ITERS");
	double start = now_us();
	int c;

	if (env && atoi(env) > 0)
		iters = atoi(env);
	while ((c = getopt(argc, argv, "i:p:d:")) != -1) {
		switch (c) {
		case 'i':
			iters = atoi(optarg);
			break;
		case 'p':
			nprocs = atoi(optarg);
			break;
		case 'd':
			flood_ms = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-i iters] [-p procs] [-d flood_ms]\n",
				argv[0]);
			return KSFT_FAIL;
		}
	}
	if (iters < 10)
		iters = 10;
	if (nprocs < 1 || nprocs > MAX_PROCS)
		nprocs = DEFAULT_PROCS;
	if (flood_ms < 100)
		flood_ms = 100;
	page_size = sysconf(_SC_PAGESIZE);
	is_root = geteuid() == 0;

	ksft_print_header();
	cpu_op_require();
	nr_online = cpu_op_affinity_cpus(&orig_set, online, MAX_CPUS, 1);
	fl = mmap(NULL, sizeof(*fl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	if (fl == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	atexit(cleanup);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);

	stat_threshold = read_stat_threshold();
	read_budget();
	ksft_set_plan(NR_IPI_KINDS + NR_PIN_KINDS + 2);
	ksft_print_msg(SETUP_FMT,
		       nr_online, iters, nprocs, flood_ms, budget_bytes / 1024,
		       alias_bytes / 1024, stat_threshold);
	cost_header();

	test_ipis();
	test_pins();
	test_latency();
	test_latency_budget();

	ksft_print_msg("cost: total run time %.1f s\n", (now_us() - start) / 1e6);
	ksft_finished();
}
