// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_fuzz_test: a seeded, reproducible differential fuzzer of the
 * cpu_opv() system call against a user-space model of its ABI
 * (Documentation/userspace-api/cpu_opv.rst, include/uapi/linux/cpu_opv.h).
 *
 * A pool of mappings is set up at fixed addresses: anonymous memory that
 * was written and that never was (the shared zero page), a range shared
 * copy-on-write with a child process, MAP_PRIVATE mappings of a file
 * opened O_RDONLY (writable and read-only), MAP_SHARED mappings of a
 * writable file (twice, at two addresses) and of the read-only file,
 * memfds sealed with F_SEAL_WRITE and F_SEAL_FUTURE_WRITE (the latter
 * mapped twice writable and once read-only), read-only and PROT_NONE
 * anonymous memory, unmapped holes, a transparent huge page where the
 * kernel has them, the vDSO and [vvar], and a buffer on the stack. The
 * model holds the expected contents of every byte of every mapping, of
 * every file (read back with pread(), apart from the mappings) and of
 * the child's copy.
 *
 * Each iteration draws a vector from the seed: every operation type,
 * valid and invalid lengths, alignments, expect_fault values, shift
 * widths, unused argument bytes, operand counts, CPUs (current, other,
 * offline, outside the affinity mask, negative, too large), flags and
 * vector pointers (NULL, unmapped, misaligned, running into PROT_NONE).
 * Operands cross pages and mappings, repeat, overlap (also through two
 * mappings of the same memory), and are read by one operation and
 * written by a later one. The model predicts the return value, errno and
 * every byte afterwards; the call must run completely (0), stop at
 * failing compare k (k: earlier operations ran, later ones did not) or
 * fail with an errno and change nothing. Where several errors apply, the
 * model checks them in the order kernel/cpu_opv.rs does: flags, opcnt,
 * cpu, affinity, copying the vector, each operation, the total length,
 * then every read operand and every written one, in vector order.
 *
 * The model follows the documentation: a compare continues when the
 * bytes are equal (EQ) or differ (NE); a copy gives what memmove() gives,
 * as if through a temporary buffer, except that where source and
 * destination reach the same memory through two mappings and overlap
 * there, the bytes stored in dst are unspecified: the model takes them
 * from the mapping after the call (no later operation of the vector
 * touches them) and checks every other byte; integers are native endian
 * and wrap at their width. Unused bytes of the argument union are
 * ignored, as the kernel does (the documentation does not say).
 *
 * On a difference the seed, the iteration and a shrunk vector (operations
 * dropped and lengths reduced while the difference persists, the pool
 * rebuilt from the model's state before the call for every attempt) are
 * printed, and the test fails.
 *
 * Phases, each a TAP test point: model agreement; the same with every
 * operand reached through a vmalloc alias (<debugfs>/cpu_opv/force_vmap,
 * always switched back off), the path kernels take where the data cache
 * aliases, which otherwise runs nowhere else; the same with CPU 3
 * offline (taken offline through sysfs and always brought back);
 * concurrent mode, where threads munmap/mmap, mprotect, madvise and fork
 * on the pool while vectors run, and only invariants are checked (files
 * opened read-only, sealed memfds, the zero page, the vDSO and the
 * child's copy never change; every call returns 0, a compare index or a
 * documented errno (EAGAIN also without expect_fault, for pages that go
 * away again each time the call faults them in); no hang); transparent
 * huge pages; coverage.
 *
 * Options: -s SEED (default 0x5eedc0de), -n ITERS (vectors of the first
 * phase, default 20000: about 45 s in all in an unloaded x86-64 TCG
 * guest; the alias, the offline and the concurrent phase run ITERS/8 + 16
 * each),
 * -k N (report up to N differences per phase before failing it, each
 * shrunk; default 1), -S (do not shrink), -A (no operand in the second
 * mapping of the same memory: fshr_b, fw_b, fw_ro; see opt_noalias),
 * -a (operands in those mappings too: the default).
 * CPU_OPV_FUZZ_ITERS overrides the default ITERS, CPU_OPV_FUZZ_SECONDS
 * caps the wall-clock time (default 480 s; 0: no cap): no new vector is
 * drawn after it, and the first phase stops drawing at 55 % of it, the
 * alias phase at 62 %, the offline phase at 70 %; each phase says how
 * many vectors it ran.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "../kselftest.h"
#include "cpu-op.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE		14
#endif
#ifndef MADV_DONTFORK
#define MADV_DONTFORK		10
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING	0x0002U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS		1033
#endif
#ifndef F_SEAL_SHRINK
#define F_SEAL_SHRINK		0x0002
#define F_SEAL_GROW		0x0004
#define F_SEAL_WRITE		0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010
#endif

#define DEFAULT_SEED		0x5eedc0deULL
#define DEFAULT_ITERS		20000
#define DEFAULT_SECONDS		480
/* Seconds one iteration (or one shrink attempt) may take: a hang. */
#define WATCHDOG_SECONDS	180
#define NR_OP_TYPES		12
#define VEC_MAX			16
#define TOTAL_MAX		4216
#define STACK_BUF		16384
#define THP_SIZE		(2UL << 20)
#define OFFLINE_CPU		3
#define SHRINK_ATTEMPTS		160
#define SHRINK_SECONDS		60
#define NELEM(a) ((int)ARRAY_SIZE(a))

#ifndef fallthrough
#define fallthrough	__attribute__((__fallthrough__))
#endif
/* Variables the signal handler reads: relaxed atomics, not volatile. */
#ifndef READ_ONCE
#define READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#endif
#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#endif

static long psz;
static uint64_t opt_seed = DEFAULT_SEED;
static long opt_iters = DEFAULT_ITERS;
static double opt_seconds = DEFAULT_SECONDS;
static int opt_keep = 1;		/* differences reported per phase */
static int opt_noshrink;
/*
 * With -A, the second mappings of the same memory (fshr_b, fw_b, fw_ro)
 * are left out of vectors. By default they are in: a copy whose source
 * and destination reach the same memory through two mappings and overlap
 * there leaves unspecified bytes in dst (cpu_opv.rst), which the model
 * takes from the mapping after the call, checking that nothing else
 * changed.
 */
static int opt_noalias;
static double t_start;
static pid_t main_pid;
static const char *cur_phase = "setup";
static long cur_iter = -1;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: the whole run follows from the seed. */
static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static int chance(int pct)
{
	return (int)rn(100) < pct;
}

/* ------------------------------------------------------------------ */
/* CPUs                                                               */
/* ------------------------------------------------------------------ */

static int nr_cpu_ids;
static cpu_set_t run_mask;	/* the affinity the model assumes */
static int outside_cpu = -1;	/* possible, online, not in run_mask */
static int online_cpus[CPU_SETSIZE], nr_online;	/* online, in run_mask */
static int offlined_cpu = -1;

/* Async-signal-safe: brings the CPU this test took offline back. */
static void restore_cpu(void)
{
	int cpu = READ_ONCE(offlined_cpu);

	if (cpu < 0 || getpid() != main_pid)
		return;
	if (!cpu_op_set_online(cpu, 1))
		WRITE_ONCE(offlined_cpu, -1);
}

/* The online CPUs of run_mask, for "another CPU". */
static void refresh_online(void)
{
	cpu_set_t on;
	int i;

	nr_online = 0;
	if (cpu_op_cpulist("/sys/devices/system/cpu/online", &on) < 0) {
		CPU_ZERO(&on);
		for (i = 0; i < nr_cpu_ids && i < CPU_SETSIZE; i++)
			CPU_SET(i, &on);
	}
	for (i = 0; i < nr_cpu_ids && i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &run_mask) && CPU_ISSET(i, &on))
			online_cpus[nr_online++] = i;
}

static int current_cpu(void)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? (nr_online ? online_cpus[0] : 0) : cpu;
}

/*
 * Leaves one online CPU (not OFFLINE_CPU) out of the affinity mask, so
 * that vectors can target a CPU outside it.
 */
static void setup_cpus(void)
{
	cpu_set_t set;
	int i, n = 0;

	nr_cpu_ids = cpu_op_cpulist("/sys/devices/system/cpu/possible", NULL);
	if (nr_cpu_ids <= 0)
		nr_cpu_ids = sysconf(_SC_NPROCESSORS_CONF);
	if (sched_getaffinity(0, sizeof(set), &set))
		ksft_exit_fail_msg("sched_getaffinity: %s\n", strerror(errno));
	for (i = 0; i < CPU_SETSIZE; i++)
		n += CPU_ISSET(i, &set) ? 1 : 0;
	for (i = CPU_SETSIZE - 1; n >= 2 && i >= 0; i--) {
		if (!CPU_ISSET(i, &set) || i == OFFLINE_CPU)
			continue;
		CPU_CLR(i, &set);
		if (!sched_setaffinity(0, sizeof(set), &set))
			outside_cpu = i;
		else
			CPU_SET(i, &set);
		break;
	}
	run_mask = set;
	refresh_online();
}

/* ------------------------------------------------------------------ */
/* Signals and the watchdog                                           */
/* ------------------------------------------------------------------ */

static void say(const char *s)
{
	if (write(2, s, strlen(s)) < 0)
		return;
}

struct fcase;
static const struct fcase *cur_case;
static void print_case(const struct fcase *c);

static void fatal_signal(int sig, siginfo_t *si, void *uc)
{
	const struct fcase *c = READ_ONCE(cur_case);
	char buf[320];

	if (getpid() != main_pid)
		_exit(KSFT_FAIL);
	snprintf(buf, sizeof(buf),
		 "# %s in phase %s, iteration %ld (seed %#llx)%s",
		 sig == SIGALRM ? "watchdog: no progress" : strsignal(sig),
		 READ_ONCE(cur_phase), READ_ONCE(cur_iter),
		 (unsigned long long)opt_seed,
		 sig == SIGALRM ? ": a cpu_opv call or the mapping changes hang" : "");
	say(buf);
	if (sig == SIGSEGV || sig == SIGBUS) {
		snprintf(buf, sizeof(buf), " at address %p, code %d", si->si_addr,
			 si->si_code);
		say(buf);
	}
	say("\n");
	/* Not async-signal-safe, but the process is going down anyway. */
	if (c) {
		say("# the vector of the iteration:\n");
		print_case(c);
	}
	restore_cpu();
	if (READ_ONCE(offlined_cpu) >= 0)
		say("# could not bring the offlined CPU back online\n");
	say("Bail out! fatal signal\n");
	_exit(KSFT_FAIL);
}

static void setup_signals(void)
{
	static const int sigs[] = { SIGALRM, SIGSEGV, SIGBUS, SIGINT, SIGTERM,
				    SIGABRT, SIGHUP, SIGQUIT };
	struct sigaction sa;
	unsigned int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fatal_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void watchdog(void)
{
	alarm(WATCHDOG_SECONDS);
}

/* ------------------------------------------------------------------ */
/* The pool and its model                                             */
/* ------------------------------------------------------------------ */

#define ACC_R	1
#define ACC_W	2

/* Mapping kinds, for the generator and the coverage counts. */
enum {
	K_ANON, K_ZERO, K_ANON_RO, K_ZERO_RO, K_NONE, K_HOLE, K_COW, K_FPRIV,
	K_FPRIV_RO, K_FSHR_RO, K_FSHR_W, K_SEALW_RO, K_SEALW_PRIV, K_FW_RW,
	K_FW_RO, K_THP, K_VDSO, K_VVAR, K_STACK, K_SPECIAL, K_NOOPND, NR_KINDS
};

static const char *const kind_name[NR_KINDS] = {
	"anon", "zero", "anon_ro", "zero_ro", "none", "hole", "cow", "fpriv",
	"fpriv_ro", "fshr_ro", "fshr_w", "sealw_ro", "sealw_priv", "fw_rw",
	"fw_ro", "thp", "vdso", "vvar", "stack", "special", "-",
};

/*
 * Model objects: the bytes behind the mappings. A private mapping has
 * its own; the mappings of a shared file or memfd share the file's.
 */
enum {
	O_ANON, O_ZERO, O_ANON_RO, O_ZERO_RO, O_COW, O_CHILD, O_FPRIV, O_ROFILE,
	O_RWFILE, O_SEALW, O_SEALW_PRIV, O_FW, O_THP, O_VDSO, O_STACK, NR_OBJS
};

struct object {
	const char *name;
	int pages;		/* size in pages, 0: set at setup */
	unsigned char *m;	/* expected contents */
	size_t size;
	int *fd;		/* read back with pread() when set */
};

static int ro_fd = -1, rw_fd = -1, sealw_fd = -1, fw_fd = -1;

static struct object objs[NR_OBJS] = {
	[O_ANON] = { "anon", 3 },
	[O_ZERO] = { "zero", 2 },
	[O_ANON_RO] = { "anon_ro", 1 },
	[O_ZERO_RO] = { "zero_ro", 1 },
	[O_COW] = { "cow (parent)", 2 },
	[O_CHILD] = { "cow (child's copy)", 2 },
	[O_FPRIV] = { "fpriv", 2 },
	[O_ROFILE] = { "read-only file", 3, NULL, 0, &ro_fd },
	[O_RWFILE] = { "writable file", 2, NULL, 0, &rw_fd },
	[O_SEALW] = { "F_SEAL_WRITE memfd", 1, NULL, 0, &sealw_fd },
	[O_SEALW_PRIV] = { "sealw_priv", 1 },
	[O_FW] = { "F_SEAL_FUTURE_WRITE memfd", 2, NULL, 0, &fw_fd },
	[O_THP] = { "thp" },
	[O_VDSO] = { "vdso" },
	[O_STACK] = { "stack" },
};

struct region {
	const char *name;
	int kind;
	int pages;		/* in the pool reserve; 0 for the others */
	int obj;		/* -1: no bytes behind it */
	int obj_pg;		/* first page of the object it maps */
	int acc;		/* what a pin may do: ACC_R, ACC_W */
	int group;		/* mappings of the same memory: same non-zero */
	/* how it is mapped */
	int shared, prot, remap_prot;
	int *fd;
	/* set at setup */
	char *addr;
	size_t len;
	int present;
	int clamp;		/* outside the reserve: operands stay inside */
	unsigned int pristine;	/* pages still shared (see pristine_bit()) */
	int second;		/* a second mapping of the same memory */
};

enum {
	R_ANON, R_ZERO, R_ANON_RO, R_ZERO_RO, R_NONE1, R_HOLE1, R_COW, R_FPRIV,
	R_FPRIV_RO, R_FSHR_RO, R_HOLE2, R_FSHR_A, R_FSHR_B, R_SEALW_RO,
	R_SEALW_PRIV, R_FW_A, R_FW_B, R_FW_RO, R_NONE2, NR_POOL,
	R_THP = NR_POOL, R_VDSO, R_VVAR, R_STACK, NR_REGIONS
};

#define RW	(PROT_READ | PROT_WRITE)
#define RO	PROT_READ
#define AR	ACC_R
#define ARW	(ACC_R | ACC_W)

static struct region regions[NR_REGIONS] = {
	[R_ANON] = { "anon", K_ANON, 3, O_ANON, 0, ARW, 0, 0, RW, RW },
	[R_ZERO] = { "zero", K_ZERO, 2, O_ZERO, 0, ARW, 0, 0, RW, RW },
	[R_ANON_RO] = { "anon_ro", K_ANON_RO, 1, O_ANON_RO, 0, AR, 0, 0, RO, RO },
	[R_ZERO_RO] = { "zero_ro", K_ZERO_RO, 1, O_ZERO_RO, 0, AR, 0, 0, RO, RO },
	[R_NONE1] = { "none1", K_NONE, 1, -1, 0, 0, 0, 0, PROT_NONE, PROT_NONE },
	[R_HOLE1] = { "hole1", K_HOLE, 1, -1, 0, 0, 0, 0, 0, 0 },
	[R_COW] = { "cow", K_COW, 2, O_COW, 0, ARW, 0, 0, RW, RW },
	[R_FPRIV] = { "fpriv", K_FPRIV, 2, O_FPRIV, 0, ARW, 0, 0, RW, RW, &ro_fd },
	[R_FPRIV_RO] = { "fpriv_ro", K_FPRIV_RO, 1, O_ROFILE, 2, AR, 0, 0, RO, RO,
			 &ro_fd },
	[R_FSHR_RO] = { "fshr_ro", K_FSHR_RO, 3, O_ROFILE, 0, AR, 0, 1, RO, RO, &ro_fd },
	[R_HOLE2] = { "hole2", K_HOLE, 1, -1, 0, 0, 0, 0, 0, 0 },
	[R_FSHR_A] = { "fshr_a", K_FSHR_W, 2, O_RWFILE, 0, ARW, 1, 1, RW, RW, &rw_fd },
	[R_FSHR_B] = { "fshr_b", K_FSHR_W, 2, O_RWFILE, 0, ARW, 1, 1, RW, RW, &rw_fd },
	[R_SEALW_RO] = { "sealw_ro", K_SEALW_RO, 1, O_SEALW, 0, AR, 0, 1, RO, RO,
			 &sealw_fd },
	[R_SEALW_PRIV] = { "sealw_priv", K_SEALW_PRIV, 1, O_SEALW_PRIV, 0, ARW, 0, 0,
			   RW, RW, &sealw_fd },
	[R_FW_A] = { "fw_a", K_FW_RW, 2, O_FW, 0, ARW, 2, 1, RW, RO, &fw_fd },
	[R_FW_B] = { "fw_b", K_FW_RW, 2, O_FW, 0, ARW, 2, 1, RW, RO, &fw_fd },
	[R_FW_RO] = { "fw_ro", K_FW_RO, 2, O_FW, 0, AR, 2, 1, RO, RO, &fw_fd },
	[R_NONE2] = { "none2", K_NONE, 1, -1, 0, 0, 0, 0, PROT_NONE, PROT_NONE },
	[R_THP] = { "thp", K_THP, 0, O_THP, 0, ARW, 0, 0, RW, RW },
	[R_VDSO] = { "vdso", K_VDSO, 0, O_VDSO, 0, AR },
	[R_VVAR] = { "vvar", K_VVAR, 0, -1, 0, 0 },
	[R_STACK] = { "stack", K_STACK, 0, O_STACK, 0, ARW },
};

static char *pool_base, *pool_end;
static char *thp_addr;
static int thp_ok;
static char thp_why[160];
static char *sentinel, *fresh_page, *opsbuf;
static char tmp_dir[64], ro_path[96], rw_path[96];
static unsigned char *scratch;	/* a page-multiple buffer for read-backs */
static size_t scratch_size;

static struct region *region_of(uint64_t a)
{
	int i;

	for (i = 0; i < NR_REGIONS; i++) {
		struct region *r = &regions[i];

		if (r->present && a >= (uintptr_t)r->addr &&
		    a - (uintptr_t)r->addr < r->len)
			return r;
	}
	return NULL;
}

static int page_acc(uint64_t a)
{
	struct region *r = region_of(a);

	return r ? r->acc : 0;
}

/*
 * Whether touching [a, a + len) from user space cannot make a failed pin
 * succeed (the kernel's EFAULT with expect_fault set): a page of the
 * readable [vvar], which the kernel never pins, for a read; else every
 * page mapped with a protection that allows the access @need says.
 */
static int mapped_for(uint64_t a, uint32_t len, int need)
{
	uint64_t pg, last;
	int all = 1;

	if (!len || a + len - 1 < a)
		return 0;
	last = (a + len - 1) & ~(uint64_t)(psz - 1);
	for (pg = a & ~(uint64_t)(psz - 1); ; pg += psz) {
		struct region *r = region_of(pg < a ? a : pg);

		if (need == ACC_R && r == &regions[R_VVAR])
			return 1;
		if (!r || !(r->acc & need))
			all = 0;
		if (pg == last)
			break;
	}
	return all;
}

/* What the model's pin of [a, a + len) may do, over every page. */
static int range_acc(uint64_t a, uint32_t len)
{
	uint64_t pg, last;
	int acc = ACC_R | ACC_W;

	if (!len || a + len - 1 < a)
		return 0;
	last = (a + len - 1) & ~(uint64_t)(psz - 1);
	for (pg = a & ~(uint64_t)(psz - 1); ; pg += psz) {
		acc &= page_acc(pg == (a & ~(uint64_t)(psz - 1)) ? a : pg);
		if (pg == last)
			break;
	}
	return acc;
}

static unsigned char *obj_at(struct region *r, size_t off)
{
	return objs[r->obj].m + (size_t)r->obj_pg * psz + off;
}

static const char *addr_str(uint64_t a, char *buf, size_t n)
{
	struct region *r = region_of(a);

	if (r && r->shared)	/* and where in the file or memfd */
		snprintf(buf, n, "%s+%#llx (%s+%#llx)", r->name,
			 (unsigned long long)(a - (uintptr_t)r->addr),
			 objs[r->obj].name, (unsigned long long)(a - (uintptr_t)r->addr +
			 (uint64_t)r->obj_pg * psz));
	else if (r)
		snprintf(buf, n, "%s+%#llx", r->name,
			 (unsigned long long)(a - (uintptr_t)r->addr));
	else if (a >= (uintptr_t)pool_base && a < (uintptr_t)pool_end)
		snprintf(buf, n, "pool+%#llx",
			 (unsigned long long)(a - (uintptr_t)pool_base));
	else
		snprintf(buf, n, "%#llx", (unsigned long long)a);
	return buf;
}

/*
 * Contents that make compares come out equal now and then: words of
 * zeros, ones, small numbers or random bits.
 */
static void fill_pattern(unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v;
		size_t n = len - i < 8 ? len - i : 8;

		switch (rn(6)) {
		case 0:
			v = 0;
			break;
		case 1:
			v = ~0ULL;
			break;
		case 2:
			v = rn(4);
			break;
		default:
			v = rnd();
		}
		memcpy(p + i, &v, n);
	}
}

static void die_errno(const char *what)
{
	ksft_exit_fail_msg("%s: %s\n", what, strerror(errno));
}

static void write_all_fd(int fd, const unsigned char *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n <= 0)
			die_errno("pwrite");
		p += n;
		len -= n;
		off += n;
	}
}

static int read_all_fd(int fd, unsigned char *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = off >= 0 ? pread(fd, p, len, off) : read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

static void map_fixed(char *addr, size_t len, int prot, int flags, int fd,
		      off_t off, const char *what)
{
	void *p = mmap(addr, len, prot, flags | MAP_FIXED, fd, off);

	if (p == MAP_FAILED || p != addr)
		ksft_exit_fail_msg("mmap of %s: %s\n", what, strerror(errno));
}

/* Maps region @r as it is mapped at setup, or with @prot. */
static void *map_region(struct region *r, int prot, int fixed_flag)
{
	int fd = r->fd ? *r->fd : -1;
	int flags = (r->shared ? MAP_SHARED : MAP_PRIVATE) | fixed_flag;

	if (fd < 0)
		flags |= MAP_ANONYMOUS;
	return mmap(r->addr, r->len, prot, flags, fd,
		    fd < 0 ? 0 : (off_t)r->obj_pg * psz);
}

static int new_memfd(const char *name)
{
	int fd = syscall(__NR_memfd_create, name, MFD_ALLOW_SEALING);

	if (fd < 0)
		die_errno("memfd_create");
	return fd;
}

/*
 * Writes the pages of @r whose model bytes differ from what it shows; the
 * others stay shared (pristine).
 */
static void write_differing(struct region *r, const unsigned char *want)
{
	size_t off;

	r->pristine = 0;
	for (off = 0; off < r->len; off += psz) {
		if (memcmp(r->addr + off, want + off, psz))
			memcpy(r->addr + off, want + off, psz);
		else if (r - regions < NR_POOL)
			r->pristine |= 1U << (off / psz);
	}
}

static int smaps_anon_huge_kb(const char *addr)
{
	char line[256];
	unsigned long start, end;
	int in = 0, kb = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = start <= (uintptr_t)addr && (uintptr_t)addr < end;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %d kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* Maps the huge page region anew: never written, so the huge zero page. */
static int thp_map(void)
{
	map_fixed(thp_addr, THP_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "thp");
	if (madvise(thp_addr, THP_SIZE, MADV_HUGEPAGE))
		return -errno;
	/* The COW child need not share it (a COW fault would split it). */
	madvise(thp_addr, THP_SIZE, MADV_DONTFORK);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The child that shares the cow range copy-on-write                  */
/* ------------------------------------------------------------------ */

struct child_cmd {
	uint32_t cmd;
	uint32_t off;
	int64_t val;
};

static pid_t child_pid = -1;
static int child_wr = -1, child_rd = -1;

static void child_loop(int rd, int wr)
{
	struct region *r = &regions[R_COW];
	struct child_cmd c;
	struct cpu_op op;
	int32_t res;

	for (;;) {
		if (read_all_fd(rd, (unsigned char *)&c, sizeof(c), -1))
			_exit(0);
		switch (c.cmd) {
		case 'd':
			if (write(wr, r->addr, r->len) != (ssize_t)r->len)
				_exit(1);
			break;
		case 'a':
			memset(&op, 0, sizeof(op));
			op.op = CPU_ADD_OP;
			op.len = 8;
			op.u.arithmetic_op.p = (uintptr_t)(r->addr + c.off);
			op.u.arithmetic_op.count = c.val;
			res = cpu_opv(&op, 1, sched_getcpu(), 0);
			if (res < 0)
				res = -errno;
			if (write(wr, &res, sizeof(res)) != sizeof(res))
				_exit(1);
			break;
		default:
			_exit(0);
		}
	}
}

static void child_stop(void)
{
	if (child_pid > 0) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
	}
	child_pid = -1;
	if (child_wr >= 0)
		close(child_wr);
	if (child_rd >= 0)
		close(child_rd);
	child_wr = -1;
	child_rd = -1;
}

static void child_start(void)
{
	int to[2], from[2];

	if (pipe(to) || pipe(from))
		die_errno("pipe");
	child_pid = fork();
	if (child_pid < 0)
		die_errno("fork");
	if (!child_pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(to[1]);
		close(from[0]);
		child_loop(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	child_wr = to[1];
	child_rd = from[0];
}

/* Reads the child's copy of the cow range into @buf. */
static int child_dump(unsigned char *buf)
{
	struct child_cmd c = { 'd', 0, 0 };

	if (child_pid <= 0 || write(child_wr, &c, sizeof(c)) != sizeof(c))
		return -1;
	return read_all_fd(child_rd, buf, regions[R_COW].len, -1);
}

/* The child adds @val to its copy of the word at @off; its result. */
static int child_add(uint32_t off, int64_t val)
{
	struct child_cmd c = { 'a', off, val };
	int32_t res;

	if (child_pid <= 0 || write(child_wr, &c, sizeof(c)) != sizeof(c) ||
	    read_all_fd(child_rd, (unsigned char *)&res, sizeof(res), -1))
		return INT_MIN;
	return res;
}

/* ------------------------------------------------------------------ */
/* Building the pool from the model                                   */
/* ------------------------------------------------------------------ */

/* Whether this process switched force_vmap on and must switch it off. */
static int vmap_forced;

static void cleanup(void)
{
	restore_cpu();
	if (vmap_forced && getpid() == main_pid && !cpu_op_force_vmap(0))
		vmap_forced = 0;
	if (getpid() != main_pid)
		return;
	child_stop();
	if (ro_path[0])
		unlink(ro_path);
	if (rw_path[0])
		unlink(rw_path);
	if (tmp_dir[0])
		rmdir(tmp_dir);
}

static void find_vdso(void)
{
	char line[512];
	unsigned long start, end;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct region *r = NULL;

		if (strstr(line, "[vdso]"))
			r = &regions[R_VDSO];
		else if (strstr(line, "[vvar]"))
			r = &regions[R_VVAR];
		if (!r || r->present || sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		r->addr = (char *)start;
		r->len = end - start;
		r->present = 1;
		r->clamp = 1;
	}
	fclose(f);
}

/*
 * The mappings that do not depend on the model: reserve, files, huge
 * page area, vDSO, stack buffer, sentinels; and the model's first state.
 */
static void pool_setup(unsigned char *stack_buf)
{
	int i, fd;
	size_t off = 0;
	char *p;

	for (i = 0; i < NR_POOL; i++)
		off += regions[i].pages;
	pool_base = mmap(NULL, off * psz, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool_base == MAP_FAILED)
		die_errno("mmap of the pool reserve");
	pool_end = pool_base + off * psz;
	regions[R_FSHR_B].second = 1;
	regions[R_FW_B].second = 1;
	regions[R_FW_RO].second = 1;
	for (i = 0, p = pool_base; i < NR_POOL; i++) {
		regions[i].addr = p;
		regions[i].len = regions[i].pages * psz;
		regions[i].present = 1;
		p += regions[i].len;
	}

	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/cpu_opv_fuzz.XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		tmp_dir[0] = '\0';
		die_errno("mkdtemp in /tmp");
	}
	snprintf(ro_path, sizeof(ro_path), "%s/ro", tmp_dir);
	snprintf(rw_path, sizeof(rw_path), "%s/rw", tmp_dir);
	fd = open(ro_path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, objs[O_ROFILE].pages * psz))
		die_errno(ro_path);
	close(fd);
	ro_fd = open(ro_path, O_RDONLY);
	rw_fd = open(rw_path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (ro_fd < 0 || rw_fd < 0 || ftruncate(rw_fd, objs[O_RWFILE].pages * psz))
		die_errno("opening the test files");

	/* A 2 MiB-aligned huge page inside a reserve of twice that. */
	p = mmap(NULL, 2 * THP_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die_errno("mmap of the huge page reserve");
	thp_addr = (char *)(((uintptr_t)p + THP_SIZE - 1) & ~(THP_SIZE - 1));
	regions[R_THP].addr = thp_addr;
	regions[R_THP].len = THP_SIZE;
	regions[R_THP].clamp = 1;
	i = thp_map();
	fd = open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", O_RDONLY);
	if (fd >= 0) {
		char s[32] = "";

		if (read(fd, s, sizeof(s) - 1) > 0 && strtoul(s, NULL, 10) != THP_SIZE) {
			snprintf(thp_why, sizeof(thp_why), "huge page size %lu, not 2 MiB",
				 strtoul(s, NULL, 10));
			i = -1;
		}
		close(fd);
	}
	if (i < 0 && thp_why[0]) {
		/* said why */
	} else if (i) {
		snprintf(thp_why, sizeof(thp_why), "madvise(MADV_HUGEPAGE): %s",
			 strerror(-i));
	} else {
		/* Written in its first and last 64 KiB: a real huge page. */
		thp_addr[0] = 1;
		i = smaps_anon_huge_kb(thp_addr);
		if (i < 2048)
			snprintf(thp_why, sizeof(thp_why),
				 "no huge page after MADV_HUGEPAGE and a write (AnonHugePages %d kB)",
				 i);
		else
			thp_ok = 1;
	}
	if (!thp_ok)
		munmap(thp_addr, THP_SIZE);
	regions[R_THP].present = thp_ok;

	find_vdso();
	regions[R_STACK].addr = (char *)stack_buf;
	regions[R_STACK].len = STACK_BUF;
	regions[R_STACK].present = 1;
	regions[R_STACK].clamp = 1;

	sentinel = mmap(NULL, psz, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fresh_page = mmap(NULL, psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	opsbuf = mmap(NULL, 2 * psz, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sentinel == MAP_FAILED || fresh_page == MAP_FAILED || opsbuf == MAP_FAILED)
		die_errno("mmap");
	if (mprotect(opsbuf + psz, psz, PROT_NONE))
		die_errno("mprotect");

	/* The model's first state. */
	for (i = 0; i < NR_OBJS; i++) {
		struct object *o = &objs[i];

		if (i == O_THP)
			o->size = THP_SIZE;
		else if (i == O_VDSO)
			o->size = regions[R_VDSO].present ? regions[R_VDSO].len : 0;
		else if (i == O_STACK)
			o->size = STACK_BUF;
		else
			o->size = (size_t)o->pages * psz;
		o->m = calloc(1, o->size ? o->size : 1);
		if (!o->m)
			die_errno("calloc");
		if (o->size > scratch_size)
			scratch_size = o->size;
	}
	scratch = malloc(scratch_size);
	if (!scratch)
		die_errno("malloc");
	fill_pattern(objs[O_ANON].m, objs[O_ANON].size);
	fill_pattern(objs[O_ANON_RO].m, objs[O_ANON_RO].size);
	fill_pattern(objs[O_COW].m, objs[O_COW].size);
	memcpy(objs[O_CHILD].m, objs[O_COW].m, objs[O_COW].size);
	fill_pattern(objs[O_ROFILE].m, objs[O_ROFILE].size);
	memcpy(objs[O_FPRIV].m, objs[O_ROFILE].m, objs[O_FPRIV].size);
	fill_pattern(objs[O_RWFILE].m, objs[O_RWFILE].size);
	fill_pattern(objs[O_SEALW].m, objs[O_SEALW].size);
	memcpy(objs[O_SEALW_PRIV].m, objs[O_SEALW].m, objs[O_SEALW].size);
	fill_pattern(objs[O_FW].m, objs[O_FW].size);
	fill_pattern(objs[O_THP].m, 65536);
	fill_pattern(objs[O_THP].m + THP_SIZE - 65536, 65536);
	if (regions[R_VDSO].present)
		memcpy(objs[O_VDSO].m, regions[R_VDSO].addr, regions[R_VDSO].len);
	fill_pattern(objs[O_STACK].m, STACK_BUF);
}

/*
 * Makes every mapping of the pool (again) and fills it with the model's
 * bytes, leaving pages that the model has as never written (zero,
 * or the file's contents for a private file mapping) untouched, so that
 * they stay the zero page or the page cache. The child is forked anew
 * with its copy of the cow range.
 */
static void pool_build(void)
{
	struct region *r;
	int i, seals;

	child_stop();
	/* Files and memfds first. */
	if (read_all_fd(ro_fd, scratch, objs[O_ROFILE].size, 0) ||
	    memcmp(scratch, objs[O_ROFILE].m, objs[O_ROFILE].size)) {
		int fd = open(ro_path, O_RDWR);

		if (fd < 0)
			die_errno(ro_path);
		write_all_fd(fd, objs[O_ROFILE].m, objs[O_ROFILE].size, 0);
		close(fd);
	}
	write_all_fd(rw_fd, objs[O_RWFILE].m, objs[O_RWFILE].size, 0);
	if (sealw_fd >= 0)
		close(sealw_fd);
	sealw_fd = new_memfd("cpu_opv_fuzz_sealw");
	write_all_fd(sealw_fd, objs[O_SEALW].m, objs[O_SEALW].size, 0);
	seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	if (fcntl(sealw_fd, F_ADD_SEALS, seals))
		die_errno("F_ADD_SEALS F_SEAL_WRITE");
	if (fw_fd >= 0)
		close(fw_fd);
	fw_fd = new_memfd("cpu_opv_fuzz_fw");
	if (ftruncate(fw_fd, objs[O_FW].size))
		die_errno("ftruncate");

	for (i = 0; i < NR_POOL; i++) {
		r = &regions[i];
		if (r->kind == K_HOLE) {
			munmap(r->addr, r->len);
			continue;
		}
		if (i == R_FW_RO)
			continue;	/* after the seal */
		map_fixed(r->addr, r->len, r->kind == K_ANON_RO ? RW : r->prot,
			  (r->shared ? MAP_SHARED : MAP_PRIVATE) |
			  (r->fd ? 0 : MAP_ANONYMOUS),
			  r->fd ? *r->fd : -1, (off_t)r->obj_pg * psz, r->name);
	}
	write_all_fd(fw_fd, objs[O_FW].m, objs[O_FW].size, 0);
	if (fcntl(fw_fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW))
		die_errno("F_ADD_SEALS F_SEAL_FUTURE_WRITE");
	r = &regions[R_FW_RO];
	map_fixed(r->addr, r->len, RO, MAP_SHARED, fw_fd, 0, r->name);

	memcpy(regions[R_ANON].addr, objs[O_ANON].m, objs[O_ANON].size);
	memcpy(regions[R_ANON_RO].addr, objs[O_ANON_RO].m, objs[O_ANON_RO].size);
	if (mprotect(regions[R_ANON_RO].addr, regions[R_ANON_RO].len, RO))
		die_errno("mprotect");
	write_differing(&regions[R_ZERO], objs[O_ZERO].m);
	write_differing(&regions[R_FPRIV], objs[O_FPRIV].m);
	write_differing(&regions[R_SEALW_PRIV], objs[O_SEALW_PRIV].m);
	memcpy(regions[R_STACK].addr, objs[O_STACK].m, STACK_BUF);
	if (thp_ok) {
		if (thp_map())
			ksft_exit_fail_msg("MADV_HUGEPAGE failed on a rebuild\n");
		write_differing(&regions[R_THP], objs[O_THP].m);
	}
	/* The child gets its copy, the parent then its own. */
	memcpy(regions[R_COW].addr, objs[O_CHILD].m, objs[O_CHILD].size);
	child_start();
	write_differing(&regions[R_COW], objs[O_COW].m);
}

/* ------------------------------------------------------------------ */
/* Vectors                                                            */
/* ------------------------------------------------------------------ */

enum { C_CURRENT, C_OTHER, C_OFFLINE, C_OUTSIDE, C_NEG, C_BIG, NR_CPU_KINDS };
static const char *const cpu_kind_name[] = {
	"current", "another online", "offline", "outside the affinity mask",
	"negative", ">= nr_cpu_ids",
};

enum { P_NORMAL, P_MISALIGNED, P_NULL, P_UNMAPPED, P_KERNEL, P_STRADDLE };
static const char *const ptr_kind_name[] = {
	"normal", "misaligned", "NULL", "unmapped", "kernel address",
	"running into a PROT_NONE page",
};

struct fcase {
	struct cpu_op ops[VEC_MAX + 1];
	int nops;	/* operations in the buffer */
	int opcnt;	/* passed to the call */
	int cpu_kind, cpu;
	int flags;
	int ptr_kind, ptr_off;
};

static const char *const op_name[NR_OP_TYPES] = {
	"compare_eq", "compare_ne", "memcpy", "memcpy_release", "add",
	"add_release", "or", "and", "xor", "lshift", "rshift", "mb",
};

static int is_range_op(int t)
{
	return t >= CPU_COMPARE_EQ_OP && t <= CPU_MEMCPY_RELEASE_OP;
}

static int is_word_op(int t)
{
	return t >= CPU_ADD_OP && t <= CPU_RSHIFT_OP;
}

/* The union's bytes of @op. */
static unsigned char *op_args(struct cpu_op *op)
{
	return (unsigned char *)&op->u;
}

/* Offset of the expect_fault byte of operand @i of a word operation. */
static int word_fault_off(int t)
{
	return (t == CPU_LSHIFT_OP || t == CPU_RSHIFT_OP) ? 12 : 16;
}

/* ------------------------------------------------------------------ */
/* The model                                                          */
/* ------------------------------------------------------------------ */

struct opnd {
	uint64_t addr;
	uint32_t len;
	int ef;
	int write;
};

struct mop {
	int type;
	uint32_t len;
	struct opnd o[2];	/* compare a, b; memcpy dst, src; word p */
	int nopnd;
	uint64_t arg;		/* count, mask or bits */
};

enum { ST_PRE, ST_PIN, ST_RUN };

struct outcome {
	int ret;	/* -1 with err, or 0, or k */
	int err;
	int stage;	/* where the model decided */
};

struct undo {
	unsigned char *p;
	unsigned char v;
};

static struct undo undo_log[2 * TOTAL_MAX + 64];
static int undo_n;

/* The model's bytes at @a, and how many follow in the same object. */
static unsigned char *mbytes(uint64_t a, size_t *avail)
{
	struct region *r = region_of(a);
	size_t off;

	if (!r || r->obj < 0)
		ksft_exit_fail_msg("model: no bytes behind %#llx (a test bug)\n",
				   (unsigned long long)a);
	off = a - (uintptr_t)r->addr;
	*avail = r->len - off;
	return obj_at(r, off);
}

static void mread(uint64_t a, uint32_t len, unsigned char *out)
{
	while (len) {
		size_t av, n;
		unsigned char *p = mbytes(a, &av);

		n = av < len ? av : len;
		memcpy(out, p, n);
		out += n;
		a += n;
		len -= n;
	}
}

static void mwrite(uint64_t a, uint32_t len, const unsigned char *in)
{
	while (len) {
		size_t av, n, i;
		unsigned char *p = mbytes(a, &av);

		n = av < len ? av : len;
		for (i = 0; i < n; i++) {
			if (undo_n < NELEM(undo_log)) {
				undo_log[undo_n].p = p + i;
				undo_log[undo_n++].v = p[i];
			} else {
				ksft_exit_fail_msg("model: undo log full (a test bug)\n");
			}
			p[i] = in[i];
		}
		in += n;
		a += n;
		len -= n;
	}
}

static void undo_all(void)
{
	while (undo_n > 0) {
		undo_n--;
		*undo_log[undo_n].p = undo_log[undo_n].v;
	}
}

static uint64_t mload(const struct opnd *o)
{
	unsigned char b[8] = { 0 };
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	mread(o->addr, o->len, b);
	switch (o->len) {
	case 1:
		memcpy(&v8, b, 1);
		return v8;
	case 2:
		memcpy(&v16, b, 2);
		return v16;
	case 4:
		memcpy(&v32, b, 4);
		return v32;
	default:
		memcpy(&v64, b, 8);
		return v64;
	}
}

static void mstore(const struct opnd *o, uint64_t v)
{
	uint8_t v8 = v;
	uint16_t v16 = v;
	uint32_t v32 = v;
	const void *src = o->len == 1 ? (const void *)&v8 : o->len == 2 ?
			  (const void *)&v16 : o->len == 4 ? (const void *)&v32 :
			  (const void *)&v;

	mwrite(o->addr, o->len, src);
}

static int ef_ok(unsigned char b, int *ef)
{
	*ef = b;
	return b <= 1;
}

/*
 * Checks one operation as the documentation describes (cpu_opv.rst,
 * "Operations" and "Limits"). Returns 0 or -EINVAL.
 */
static int model_decode(struct cpu_op *op, struct mop *m)
{
	unsigned char *a = op_args(op);
	uint32_t len = op->len;
	int t = op->op, ef;

	memset(m, 0, sizeof(*m));
	m->type = t;
	m->len = len;
	if (t < 0 || t >= NR_OP_TYPES)
		return -EINVAL;
	if (t == CPU_MB_OP)
		return len ? -EINVAL : 0;
	if (is_range_op(t)) {
		if (!len || len > CPU_OP_DATA_LEN_MAX)
			return -EINVAL;
		m->nopnd = 2;
		m->o[0].addr = op->u.compare_op.a;
		m->o[1].addr = op->u.compare_op.b;
		if (!ef_ok(a[16], &m->o[0].ef) || !ef_ok(a[17], &m->o[1].ef))
			return -EINVAL;
		m->o[0].len = len;
		m->o[1].len = len;
		m->o[0].write = t == CPU_MEMCPY_OP || t == CPU_MEMCPY_RELEASE_OP;
		return 0;
	}
	/* add, bitwise, shift: a naturally aligned integer of 1 to 8 bytes */
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	m->nopnd = 1;
	m->o[0].addr = op->u.arithmetic_op.p;
	m->o[0].len = len;
	m->o[0].write = 1;
	if (!ef_ok(a[word_fault_off(t)], &ef))
		return -EINVAL;
	m->o[0].ef = ef;
	if (m->o[0].addr % len)
		return -EINVAL;
	if (t == CPU_LSHIFT_OP || t == CPU_RSHIFT_OP) {
		m->arg = op->u.shift_op.bits;
		if (m->arg >= 8 * len)
			return -EINVAL;
	} else {
		m->arg = op->u.arithmetic_op.count;	/* same bits as mask */
	}
	return 0;
}

/*
 * Whether the kernel can pin the operand, as "How the kernel reaches user
 * memory" and "Errors" describe: EAGAIN with expect_fault only where no
 * mapping allows the access either. On 32-bit, an address above
 * 4 GiB is EFAULT without EAGAIN and a range wrapping at 4 GiB EINVAL
 * (what the code does; the documentation does not say).
 */
static int model_pin(const struct opnd *o)
{
	uint64_t a = o->addr;
	int need = o->write ? ACC_W : ACC_R;

	if (a > (uint64_t)UINTPTR_MAX)
		return -EFAULT;
	if ((uintptr_t)a + (uintptr_t)(o->len - 1) < (uintptr_t)a)
		return -EINVAL;
	if (!(range_acc(a, o->len) & need))
		return o->ef && !mapped_for(a, o->len, need) ? -EAGAIN : -EFAULT;
	return 0;
}

static int cpu_valid(int cpu)
{
	return cpu >= 0 && cpu < nr_cpu_ids && cpu < CPU_SETSIZE &&
	       CPU_ISSET(cpu, &run_mask);
}

/* Whether the kernel can read @n operations at the vector pointer. */
static int ops_readable(const struct fcase *c, int n)
{
	switch (c->ptr_kind) {
	case P_NORMAL:
	case P_MISALIGNED:
		return 1;
	case P_STRADDLE:
		return c->ptr_off + (long)n * (long)sizeof(struct cpu_op) <= psz;
	default:
		return 0;
	}
}

static struct mop mops[VEC_MAX];

/* Object bytes behind part of an operand: one mapping's share of it. */
struct chunk {
	uint64_t addr;
	uint32_t len;
	int obj;
	uint64_t off;
};

/* The object bytes behind [@a, @a + @len) that the model knows. */
static int chunks_of(uint64_t a, uint32_t len, struct chunk *ch, int max)
{
	int n = 0;

	if (len > CPU_OP_DATA_LEN_MAX)
		len = CPU_OP_DATA_LEN_MAX;
	while (len && n < max) {
		struct region *r = region_of(a);
		uint64_t off;

		if (!r || r->obj < 0)
			break;
		off = a - (uintptr_t)r->addr;
		ch[n].addr = a;
		ch[n].len = r->len - off < len ? r->len - off : len;
		ch[n].obj = r->obj;
		ch[n].off = (uint64_t)r->obj_pg * psz + off;
		a += ch[n].len;
		len -= ch[n].len;
		n++;
	}
	return n;
}

/*
 * Whether [@a, @a + @la) and [@b, @b + @lb) share memory; with
 * @other_mapping, only memory they reach through two different mappings
 * (where the same byte has two addresses).
 */
static int same_memory(uint64_t a, uint32_t la, uint64_t b, uint32_t lb,
		       int other_mapping)
{
	struct chunk ca[3], cb[3];
	int na = chunks_of(a, la, ca, 3), nb = chunks_of(b, lb, cb, 3), i, j;

	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++) {
			if (ca[i].obj != cb[j].obj || ca[i].off >= cb[j].off + cb[j].len ||
			    cb[j].off >= ca[i].off + ca[i].len)
				continue;
			if (!other_mapping || ca[i].addr - ca[i].off != cb[j].addr - cb[j].off)
				return 1;
		}
	return 0;
}

/*
 * Copies whose source and destination reach the same memory through two
 * mappings, overlapping there: the documentation leaves the bytes they
 * store in dst unspecified (nothing outside dst changes). The model takes
 * them from the mapping after the call; no later operation of the vector
 * may touch them (fix_unspecified() sees to that).
 */
static struct {
	uint64_t addr;
	uint32_t len;
} unspec[VEC_MAX];
static int nunspec;
static unsigned long unspec_copies;

static void model_adopt_unspecified(void)
{
	static unsigned char buf[CPU_OP_DATA_LEN_MAX];
	int i;

	for (i = 0; i < nunspec; i++) {
		memcpy(buf, (void *)(uintptr_t)unspec[i].addr, unspec[i].len);
		mwrite(unspec[i].addr, unspec[i].len, buf);
	}
	nunspec = 0;
}

/* Whether an operand of @m touches bytes an earlier copy left unspecified. */
static int touches_unspecified(const struct mop *m)
{
	int i, j;

	for (j = 0; j < m->nopnd; j++)
		for (i = 0; i < nunspec; i++)
			if (same_memory(m->o[j].addr, m->o[j].len, unspec[i].addr,
					unspec[i].len, 0))
				return 1;
	return 0;
}

/*
 * Pages of the pool that are still shared: never written since they were
 * last mapped or dropped (the zero page, the page cache behind a private
 * file mapping, a sealed memfd's page) or shared copy-on-write with the
 * child. A store through a read pin would land there: the statistics
 * count how often a vector writes such a page after reading it.
 */
static unsigned long pristine_writes, pristine_rw;

static int pristine_bit(uint64_t a, struct region **rp)
{
	struct region *r = region_of(a);

	if (!r || r - regions >= NR_POOL)
		return -1;
	*rp = r;
	return (a - (uintptr_t)r->addr) / psz;
}

/* Counts the pristine pages the run of the first @n operations wrote. */
static void pristine_account(int n)
{
	uint64_t readpg[2 * VEC_MAX * 2];
	int nread = 0, i, j, k, b, counted_w = 0, counted_rw = 0;
	struct region *r;

	for (i = 0; i < n; i++) {
		for (j = 0; j < mops[i].nopnd; j++) {
			const struct opnd *o = &mops[i].o[j];
			uint64_t pg[2];
			int np = 1;

			pg[0] = o->addr & ~(uint64_t)(psz - 1);
			pg[1] = (o->addr + o->len - 1) & ~(uint64_t)(psz - 1);
			if (pg[1] != pg[0])
				np = 2;
			for (k = 0; k < np; k++) {
				int m, seen = 0;

				b = pristine_bit(pg[k], &r);
				if (b < 0 || !(r->pristine & (1U << b)))
					continue;
				for (m = 0; m < nread; m++)
					seen |= readpg[m] == pg[k];
				if (o->write) {
					counted_w = 1;
					counted_rw |= seen;
				} else if (nread < NELEM(readpg)) {
					readpg[nread++] = pg[k];
				}
			}
		}
	}
	pristine_writes += counted_w;
	pristine_rw += counted_rw;
	/* Pinned pages of private mappings are no longer shared. */
	for (i = 0; i < n; i++)
		for (j = 0; j < mops[i].nopnd; j++) {
			uint64_t a = mops[i].o[j].addr, e = a + mops[i].o[j].len - 1;

			b = pristine_bit(a, &r);
			if (b >= 0)
				r->pristine &= ~(1U << b);
			b = pristine_bit(e, &r);
			if (b >= 0)
				r->pristine &= ~(1U << b);
		}
}

#define MSG_UNSPEC_TOUCHED "model: operation %d touches bytes an earlier copy left unspecified (a test bug)\n"

/*
 * The model's result of @c, applying its effects to the model's bytes
 * (undo_all() takes them back). With @dry, nothing is run.
 */
static void model_call(struct fcase *c, struct outcome *out, int dry)
{
	int i, j, n = c->opcnt, k, ret;
	uint32_t total = 0;

	undo_n = 0;
	nunspec = 0;
	out->stage = ST_PRE;
	out->ret = -1;
	if (c->flags) {
		out->err = EINVAL;
		if (c->ptr_kind != P_NULL || c->opcnt || c->cpu != -1 ||
		    c->cpu_kind == C_CURRENT)
			return;
		if (c->flags == CPU_OP_NR_FLAG)
			out->ret = NR_CPU_OPS;
		else if (c->flags == CPU_OP_VEC_LEN_MAX_FLAG)
			out->ret = CPU_OP_VEC_LEN_MAX;
		return;
	}
	out->err = EINVAL;
	if (n < 1 || n > VEC_MAX)
		return;
	if (c->cpu_kind != C_CURRENT && !cpu_valid(c->cpu))
		return;
	out->err = EFAULT;
	if (!ops_readable(c, n))
		return;
	out->err = EINVAL;
	for (i = 0; i < n; i++) {
		if (model_decode(&c->ops[i], &mops[i]))
			return;
		total += mops[i].len;
	}
	if (total > TOTAL_MAX)
		return;
	/* A range past the top of the 64-bit space: a bad vector. */
	for (i = 0; i < n; i++)
		for (j = 0; j < mops[i].nopnd; j++)
			if (mops[i].o[j].addr + mops[i].o[j].len - 1 < mops[i].o[j].addr)
				return;

	out->stage = ST_PIN;
	/* Every read pin, then every write pin, in vector order. */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < n; i++) {
			for (j = 0; j < mops[i].nopnd; j++) {
				if (mops[i].o[j].write != k)
					continue;
				ret = model_pin(&mops[i].o[j]);
				if (ret) {
					out->err = -ret;
					return;
				}
			}
		}
	}
	out->stage = ST_RUN;
	out->ret = 0;
	out->err = 0;
	if (dry)
		return;
	for (i = 0; i < n; i++) {
		struct mop *m = &mops[i];
		static unsigned char ta[CPU_OP_DATA_LEN_MAX], tb[CPU_OP_DATA_LEN_MAX];
		uint64_t v, mask;

		if (touches_unspecified(m))
			ksft_exit_fail_msg(MSG_UNSPEC_TOUCHED, i);
		switch (m->type) {
		case CPU_COMPARE_EQ_OP:
		case CPU_COMPARE_NE_OP:
			mread(m->o[0].addr, m->len, ta);
			mread(m->o[1].addr, m->len, tb);
			if (m->type == CPU_COMPARE_EQ_OP ? memcmp(ta, tb, m->len) != 0 :
			    memcmp(ta, tb, m->len) == 0) {
				out->ret = i + 1;
				pristine_account(i + 1);
				return;
			}
			break;
		case CPU_MEMCPY_OP:
		case CPU_MEMCPY_RELEASE_OP:
			if (same_memory(m->o[0].addr, m->len, m->o[1].addr, m->len, 1)) {
				unspec[nunspec].addr = m->o[0].addr;
				unspec[nunspec++].len = m->len;
				unspec_copies++;
				break;
			}
			/* memmove(): as if through a temporary buffer */
			mread(m->o[1].addr, m->len, ta);
			mwrite(m->o[0].addr, m->len, ta);
			break;
		case CPU_MB_OP:
			break;
		default:
			v = mload(&m->o[0]);
			switch (m->type) {
			case CPU_ADD_OP:
			case CPU_ADD_RELEASE_OP:
				v += m->arg;
				break;
			case CPU_OR_OP:
				v |= m->arg;
				break;
			case CPU_AND_OP:
				v &= m->arg;
				break;
			case CPU_XOR_OP:
				v ^= m->arg;
				break;
			case CPU_LSHIFT_OP:
				v <<= m->arg;
				break;
			default:
				v >>= m->arg;
			}
			mask = m->len == 8 ? ~0ULL : (1ULL << (8 * m->len)) - 1;
			mstore(&m->o[0], v & mask);
		}
	}
	pristine_account(n);
}

/* ------------------------------------------------------------------ */
/* Generating vectors                                                 */
/* ------------------------------------------------------------------ */

enum { G_CLEAN, G_ONEFAULT, G_CHAOS };

struct gen {
	int profile;
	int offline_phase;
	int nprev;
	uint64_t prev[2 * VEC_MAX];
};

static const int read_regions[] = {
	R_ANON, R_ZERO, R_ANON_RO, R_ZERO_RO, R_COW, R_FPRIV, R_FPRIV_RO,
	R_FSHR_RO, R_FSHR_A, R_FSHR_B, R_SEALW_RO, R_SEALW_PRIV, R_FW_A, R_FW_B,
	R_FW_RO, R_THP, R_VDSO, R_STACK,
};

static const int write_regions[] = {
	R_ANON, R_ZERO, R_COW, R_FPRIV, R_FSHR_A, R_FSHR_B, R_SEALW_PRIV,
	R_FW_A, R_FW_B, R_THP, R_STACK, R_ZERO, R_FPRIV,
};

/* Where a read fails. */
static const int noread_regions[] = { R_NONE1, R_HOLE1, R_HOLE2, R_NONE2, R_VVAR };

/* Where a write fails. */
static const int nowrite_regions[] = {
	R_ANON_RO, R_ZERO_RO, R_FPRIV_RO, R_FSHR_RO, R_SEALW_RO, R_FW_RO,
	R_VDSO, R_VVAR, R_NONE1, R_HOLE1, R_HOLE2,
};

static int pick_region(const int *list, int n)
{
	int i, r;

	for (i = 0; i < 16; i++) {
		r = list[rn(n)];
		if (regions[r].present)
			return r;
	}
	return R_ANON;
}

/* Addresses that are no user memory, or wrap, or are not mapped. */
static uint64_t special_addr(void)
{
	static const uint64_t a64[] = {
		0, 8, 0x1000, 0xfffffffffffff000ULL, 0x0000800000000000ULL,
		1ULL << 63, 0xfffffffffffffff8ULL, 0xffffffffff600000ULL,
	};
	uint64_t a = a64[rn(NELEM(a64))];

	if (sizeof(void *) == 4 && chance(40))
		a = (1ULL << 32) + (uintptr_t)regions[R_ANON].addr;
	else if (sizeof(void *) == 4 && chance(30))
		a = 0xfffffff8ULL;
	return a;
}

/* A start address in @r for @len bytes, crossing a page now and then. */
static uint64_t addr_in(int ri, uint32_t len, int word)
{
	struct region *r = &regions[ri];
	uint64_t base = (uintptr_t)r->addr, lim, a;
	size_t pages = r->len / psz;

	/* Operands may run on into the next mappings of the reserve. */
	lim = r->clamp ? base + r->len : (uintptr_t)pool_end;
	if (len > lim - base)
		return base;
	if (word) {
		if (chance(30)) {	/* the last word of a page */
			a = base + (1 + rn(pages)) * psz - len;
		} else {
			a = base + rn(r->len / len) * (uint64_t)len;
		}
		if (a + len > lim)
			a = base;
		return a;
	}
	if (len >= 2 && chance(35)) {
		uint64_t b = base + (1 + rn(pages)) * psz;

		a = b - 1 - rn(len - 1);
		if (a >= base && a + len <= lim)
			return a;
	}
	if (r->len >= len && chance(85))
		return base + rn(r->len - len + 1);
	return base + rn((uint32_t)(lim - base - len + 1));
}

/*
 * Whether the model knows every byte of [@a, @a + @len): inside the pool
 * reserve, inside one mapping outside it (the stack buffer, the vDSO...),
 * or a @special address, which is no user memory or unmapped.
 */
static int operand_known(uint64_t a, uint32_t len, int special)
{
	uint64_t end;
	struct region *r;

	if (special)
		return 1;
	len = len < 1 ? 1 : len > CPU_OP_DATA_LEN_MAX ? CPU_OP_DATA_LEN_MAX : len;
	end = a + len;
	if (end < a)
		return 0;
	if (opt_noalias) {
		r = region_of(a);
		if (r && r->second)
			return 0;
		r = region_of(end - 1);
		if (r && r->second)
			return 0;
	}
	if (a >= (uintptr_t)pool_base && end <= (uintptr_t)pool_end)
		return 1;
	r = region_of(a);
	return r && r->clamp && end <= (uintptr_t)r->addr + r->len;
}

/* An operand address for an access of @len bytes. */
static uint64_t gen_addr(struct gen *g, int write, uint32_t len, int word,
			 int valid)
{
	uint64_t a = 0;
	int tries, ri, special = 0;

	for (tries = 0; tries < 12; tries++) {
		special = 0;
		if (g->nprev && chance(30)) {
			a = g->prev[rn(g->nprev)];
			if (!chance(55)) {
				int64_t d = word ? (int64_t)len * (1 + rn(2)) : 1 + rn(len + 8);

				a += chance(50) ? d : -d;
			}
			if (word)
				a &= ~(uint64_t)(len - 1);
		} else if (!valid && chance(15)) {
			a = special_addr();
			special = 1;
		} else if (!valid && chance(35)) {
			ri = pick_region(write ? nowrite_regions : noread_regions,
					 write ? NELEM(nowrite_regions) : NELEM(noread_regions));
			a = addr_in(ri, len, word);
			/* Start in the mapping before it, sometimes. */
			if (!word && len > 1 && ri < NR_POOL && ri > 0 && chance(40))
				a = (uintptr_t)regions[ri].addr - 1 - rn(len - 1);
		} else {
			ri = write ? pick_region(write_regions, NELEM(write_regions)) :
				     pick_region(read_regions, NELEM(read_regions));
			a = addr_in(ri, len, word);
		}
		if (operand_known(a, len, special) &&
		    (!valid || (range_acc(a, len) & (write ? ACC_W : ACC_R))))
			break;
	}
	if (tries == 12) {
		a = (uintptr_t)regions[R_ANON].addr;
		special = 0;
	}
	/* Later operands reuse it, give or take a few bytes. */
	if (!special && g->nprev < 2 * VEC_MAX)
		g->prev[g->nprev++] = a;
	return a;
}

/* The same memory as @a through another mapping of it, if any. */
static uint64_t alias_of(uint64_t a, int want_write)
{
	struct region *r = region_of(a), *s;
	int i, cand[NR_POOL], n = 0;

	if (!r || !r->group || opt_noalias)
		return a;
	for (i = 0; i < NR_POOL; i++) {
		s = &regions[i];
		if (s != r && s->group == r->group && (!want_write || (s->acc & ACC_W)))
			cand[n++] = i;
	}
	if (!n)
		return a;
	s = &regions[cand[rn(n)]];
	return (uintptr_t)s->addr + (a - (uintptr_t)r->addr) +
	       ((int64_t)r->obj_pg - s->obj_pg) * psz;
}

static uint32_t gen_range_len(int valid, uint32_t room)
{
	static const uint32_t bad[] = { 0, 4097, 8192, 0x80000000U, 0xffffffffU };
	uint32_t len;
	int r = rn(100);

	if (r < 40)
		len = 1U << rn(4);
	else if (r < 70)
		len = 1 + rn(32);
	else if (r < 85)
		len = 33 + rn(300);
	else if (r < 95)
		len = chance(50) ? 4096 - rn(64) : 1 + rn(4096);
	else
		len = valid ? 1 + rn(16) : bad[rn(NELEM(bad))];
	if (valid && len > room)
		len = 1 + rn(room < 8 ? room : 8);
	return len;
}

static void gen_op(struct gen *g, struct fcase *c, int i, uint32_t *total)
{
	static const int weights[NR_OP_TYPES] = {
		12, 8, 16, 8, 10, 5, 6, 6, 6, 5, 5, 4
	};
	struct cpu_op *op = &c->ops[i];
	unsigned char *args = op_args(op);
	int valid = g->profile != G_CHAOS || chance(60);
	uint32_t room = TOTAL_MAX - *total - 8 * (c->nops - i - 1), len;
	int t, w, sum = 0, k;
	uint64_t a, b;

	memset(op, 0, sizeof(*op));
	for (k = 0; k < NR_OP_TYPES; k++)
		sum += weights[k];
	w = rn(sum);
	for (t = 0; w >= weights[t]; t++)
		w -= weights[t];
	if (!valid && chance(15)) {
		static const int badt[] = { 12, 13, 64, -1, INT_MAX, INT_MIN };

		t = badt[rn(NELEM(badt))];
	}
	op->op = t;

	if (is_range_op(t)) {
		len = gen_range_len(valid, room);
		op->len = len;
		if (t == CPU_MEMCPY_OP || t == CPU_MEMCPY_RELEASE_OP) {
			a = gen_addr(g, 1, len, 0, valid);
			if (chance(25) && len > 1) {
				/* Overlap through another mapping of the same memory. */
				int64_t d = (int64_t)rn(len) - (int64_t)rn(len);

				b = alias_of(a, 0) + d;
				if (!operand_known(b, len, 0) ||
				    (valid && !(range_acc(b, len) & ACC_R)))
					b = alias_of(a, 0);
				if (g->nprev < 2 * VEC_MAX)
					g->prev[g->nprev++] = b;
			} else if (chance(15) && len > 1) {
				b = a + rn(2 * len) - len;
				if (!operand_known(b, len, 0) ||
				    (valid && !(range_acc(b, len) & ACC_R)))
					b = a;
			} else {
				b = gen_addr(g, 0, len, 0, valid);
			}
		} else {
			a = gen_addr(g, 0, len, 0, valid);
			if (chance(40))	/* equal: same bytes, maybe elsewhere */
				b = chance(50) ? a : alias_of(a, 0);
			else
				b = gen_addr(g, 0, len, 0, valid);
		}
		op->u.compare_op.a = a;
		op->u.compare_op.b = b;
		args[16] = chance(15);
		args[17] = chance(15);
		if (!valid && chance(10))
			args[16 + rn(2)] = chance(50) ? 2 : 0x80 + rn(128);
		if (chance(5))
			for (k = 18; k < 24; k++)
				args[k] = rnd();
	} else if (is_word_op(t)) {
		static const uint32_t badw[] = { 0, 3, 5, 7, 16, 4096 };
		int fo = word_fault_off(t);

		len = 1U << rn(4);
		if (!valid && chance(10))
			len = badw[rn(NELEM(badw))];
		op->len = len;
		a = gen_addr(g, 1, len ? len : 1, len == 1 || len == 2 || len == 4 ||
			     len == 8, valid);
		if (!valid && chance(10) && len > 1)
			a += 1 + rn(len - 1);
		op->u.arithmetic_op.p = a;
		if (t == CPU_LSHIFT_OP || t == CPU_RSHIFT_OP) {
			op->u.shift_op.bits = len <= 8 ? rn(8 * len) : rn(64);
			if (!valid && chance(15))
				op->u.shift_op.bits = chance(50) ? 8 * len : rnd();
		} else {
			switch (rn(4)) {
			case 0:
				op->u.arithmetic_op.count = 1;
				break;
			case 1:
				op->u.arithmetic_op.count = -1;
				break;
			default:
				op->u.arithmetic_op.count = rnd();
			}
		}
		args[fo] = chance(15);
		if (!valid && chance(10))
			args[fo] = chance(50) ? 2 : 0xff;
		if (chance(5))
			for (k = fo + 1; k < 24; k++)
				args[k] = rnd();
	} else {
		/* mb, or an unknown type */
		op->len = (!valid && chance(30)) ? 1 + rn(8) : 0;
		if (t != CPU_MB_OP) {
			op->len = chance(50) ? 8 : rn(5000);
			op->u.compare_op.a = (uintptr_t)regions[R_ANON].addr;
			op->u.compare_op.b = (uintptr_t)regions[R_ANON].addr + 8;
		}
		if (chance(10))
			for (k = 0; k < 24; k++)
				args[k] = rnd();
	}
	if (op->len <= CPU_OP_DATA_LEN_MAX)
		*total += op->len;
}

/* A faulting address for one operand of a clean vector. */
static void inject_fault(struct gen *g, struct fcase *c)
{
	int i = rn(c->nops), t = c->ops[i].op, second, write, k;
	uint32_t len = c->ops[i].len;
	unsigned char *args = op_args(&c->ops[i]);
	uint64_t a;

	if (t == CPU_MB_OP || t < 0 || t >= NR_OP_TYPES)
		return;
	second = is_range_op(t) && chance(50);
	write = !second && (is_word_op(t) || t == CPU_MEMCPY_OP ||
			    t == CPU_MEMCPY_RELEASE_OP);
	a = gen_addr(g, write, len, is_word_op(t), 0);
	for (k = 0; k < 8 && (range_acc(a, len) & (write ? ACC_W : ACC_R) ||
			      !operand_known(a, len, 0)); k++) {
		int ri = pick_region(write ? nowrite_regions : noread_regions,
				     write ? NELEM(nowrite_regions) : NELEM(noread_regions));

		a = addr_in(ri, len, is_word_op(t));
	}
	if (k == 8)
		return;
	if (second)
		c->ops[i].u.compare_op.b = a;
	else
		c->ops[i].u.compare_op.a = a;	/* p of word operations too */
	if (is_word_op(t))
		args[word_fault_off(t)] = chance(50);
	else
		args[16 + second] = chance(50);
}

static void gen_cpu(struct gen *g, struct fcase *c)
{
	int r = rn(100);

	c->cpu_kind = C_CURRENT;
	c->cpu = -1;
	if (g->offline_phase && r < 50) {
		c->cpu_kind = C_OFFLINE;
		c->cpu = OFFLINE_CPU;
		return;
	}
	if (r < 65)
		return;
	if (g->profile == G_CHAOS && r >= 82) {
		static const int neg[] = { -1, -2, INT_MIN };

		switch (rn(3)) {
		case 0:
			if (outside_cpu >= 0) {
				c->cpu_kind = C_OUTSIDE;
				c->cpu = outside_cpu;
				return;
			}
			fallthrough;
		case 1:
			c->cpu_kind = C_NEG;
			c->cpu = neg[rn(NELEM(neg))];
			return;
		default:
			c->cpu_kind = C_BIG;
			c->cpu = chance(50) ? nr_cpu_ids + (int)rn(2) : INT_MAX;
			return;
		}
	}
	if (nr_online) {
		c->cpu_kind = C_OTHER;
		c->cpu = online_cpus[rn(nr_online)];
	}
}

static void gen_ptr(struct gen *g, struct fcase *c)
{
	int r = rn(100);

	c->ptr_kind = P_NORMAL;
	c->ptr_off = 8 * rn(16);
	if (r < 6) {
		c->ptr_kind = P_MISALIGNED;
		c->ptr_off = 1 + rn(31);
		return;
	}
	if (g->profile != G_CHAOS || r < 70)
		return;
	switch (rn(4)) {
	case 0:
		c->ptr_kind = P_NULL;
		break;
	case 1:
		c->ptr_kind = P_UNMAPPED;
		break;
	case 2:
		c->ptr_kind = P_KERNEL;
		break;
	default:
		c->ptr_kind = P_STRADDLE;
		c->ptr_off = psz - (long)sizeof(struct cpu_op) * rn(c->nops) - rn(32);
	}
}

static void gen_query(struct fcase *c)
{
	static const int bad_flags[] = { 3, 4, 8, 1 << 30, INT_MIN, -1, 0x100 };
	int r = rn(100);

	c->flags = r < 40 ? CPU_OP_NR_FLAG : r < 80 ? CPU_OP_VEC_LEN_MAX_FLAG :
		   bad_flags[rn(NELEM(bad_flags))];
	c->ptr_kind = P_NULL;
	c->opcnt = 0;
	c->cpu_kind = C_NEG;
	c->cpu = -1;
	c->nops = 0;
	if (chance(40)) {
		switch (rn(4)) {
		case 0:
			c->ptr_kind = P_NORMAL;
			break;
		case 1:
			c->opcnt = chance(50) ? 1 : -1;
			break;
		case 2:
			c->cpu_kind = C_CURRENT;
			break;
		default:
			c->cpu = chance(50) ? 0 : -2;
			c->cpu_kind = c->cpu ? C_NEG : C_OTHER;
		}
	}
}

/*
 * A read of a word of a page that is still shared (the zero page, the
 * page cache, a copy-on-write page) by operation 0, and a write to it by
 * a later one: a store through the read pin would land in the shared
 * page.
 */
static void read_then_write_pristine(struct fcase *c)
{
	static const int cand[] = { R_ZERO, R_FPRIV, R_SEALW_PRIV, R_COW, R_ANON };
	unsigned char *stack = (unsigned char *)regions[R_STACK].addr;
	struct region *r = NULL;
	int i, k, j, pg = 0;
	uint64_t x, s;

	for (i = 0, k = rn(NELEM(cand)); i < NELEM(cand); i++, k++) {
		struct region *t = &regions[cand[k % NELEM(cand)]];

		if (t->pristine & ((1U << t->pages) - 1)) {
			r = t;
			break;
		}
	}
	if (!r)
		return;
	do
		pg = rn(r->pages);
	while (!(r->pristine & (1U << pg)));
	x = (uintptr_t)r->addr + pg * psz + 8 * rn(psz / 8);
	s = (uintptr_t)stack + 8 * rn(STACK_BUF / 8 - 1);
	if (c->nops < 2) {
		c->nops = 2;
		c->opcnt = 2;
	}
	j = 1 + rn(c->nops - 1);
	if (chance(50))
		cpu_op_compare(&c->ops[0], 1, (void *)(uintptr_t)x, (void *)(uintptr_t)x, 8);
	else
		cpu_op_memcpy(&c->ops[0], 0, (void *)(uintptr_t)s, (void *)(uintptr_t)x, 8);
	if (chance(50))
		cpu_op_add(&c->ops[j], 0, (void *)(uintptr_t)x, 1 + rn(255), 8);
	else
		cpu_op_memcpy(&c->ops[j], rn(2), (void *)(uintptr_t)x,
			      (void *)(uintptr_t)(s + 8), 8);
}

/*
 * Makes a barrier of every operation that would touch bytes an earlier
 * copy through two mappings of the same memory left unspecified.
 */
static void fix_unspecified(struct fcase *c)
{
	struct mop m;
	int i;

	nunspec = 0;
	for (i = 0; i < c->nops; i++) {
		if (model_decode(&c->ops[i], &m))
			continue;
		if (touches_unspecified(&m)) {
			cpu_op_mb(&c->ops[i]);
			continue;
		}
		if ((m.type == CPU_MEMCPY_OP || m.type == CPU_MEMCPY_RELEASE_OP) &&
		    same_memory(m.o[0].addr, m.len, m.o[1].addr, m.len, 1) &&
		    nunspec < VEC_MAX) {
			unspec[nunspec].addr = m.o[0].addr;
			unspec[nunspec++].len = m.len;
		}
	}
	nunspec = 0;
}

static void gen_case(struct fcase *c, int offline_phase)
{
	struct gen g;
	uint32_t total = 0;
	int i, r;

	memset(c, 0, sizeof(*c));
	memset(&g, 0, sizeof(g));
	g.offline_phase = offline_phase;
	r = rn(100);
	g.profile = r < 55 ? G_CLEAN : r < 85 ? G_ONEFAULT : G_CHAOS;
	if (chance(4)) {
		gen_query(c);
		return;
	}
	r = rn(100);
	c->nops = r < 50 ? 1 + rn(4) : r < 85 ? 5 + rn(6) : 11 + rn(6);
	c->opcnt = c->nops;
	gen_cpu(&g, c);
	for (i = 0; i < c->nops; i++)
		gen_op(&g, c, i, &total);
	if (g.profile == G_CLEAN && chance(12))
		read_then_write_pristine(c);
	if (g.profile == G_ONEFAULT)
		inject_fault(&g, c);
	if (g.profile == G_CHAOS) {
		if (chance(12)) {
			static const int bad[] = { 0, 17, -1, INT_MIN, INT_MAX };

			c->opcnt = bad[rn(NELEM(bad))];
			if (c->opcnt == 17) {
				c->nops = 17;
				gen_op(&g, c, 16, &total);
			}
		} else if (chance(5) && c->nops > 1) {
			c->opcnt = c->nops - 1;
		}
		if (chance(4))
			c->flags = chance(50) ? 4 : CPU_OP_NR_FLAG;
	}
	gen_ptr(&g, c);
	fix_unspecified(c);
}

/* ------------------------------------------------------------------ */
/* Running a vector and checking the state                            */
/* ------------------------------------------------------------------ */

static void *place_ops(const struct fcase *c)
{
	size_t n = (size_t)c->nops * sizeof(struct cpu_op);

	switch (c->ptr_kind) {
	case P_NULL:
		return NULL;
	case P_UNMAPPED:
		return regions[R_HOLE1].addr;
	case P_KERNEL:
#if UINTPTR_MAX == 0xffffffffUL
		return (void *)(uintptr_t)0xfffff000UL;
#else
		return (void *)(uintptr_t)0xffffffffff600000ULL;
#endif
	case P_STRADDLE:
		if (c->ptr_off + n > (size_t)psz)
			n = psz - c->ptr_off;
		fallthrough;
	default:
		memset(opsbuf, 0xa5, psz);
		memcpy(opsbuf + c->ptr_off, c->ops, n);
		return opsbuf + c->ptr_off;
	}
}

static int call_cpu(const struct fcase *c)
{
	return c->cpu_kind == C_CURRENT ? current_cpu() : c->cpu;
}

static void kernel_call(const struct fcase *c, struct outcome *got)
{
	void *p = place_ops(c);
	int ret;

	errno = 0;
	ret = cpu_opv(p, c->opcnt, call_cpu(c), c->flags);
	got->ret = ret < 0 ? -1 : ret;
	got->err = ret < 0 ? errno : 0;
}

static int outcome_eq(const struct outcome *a, const struct outcome *b)
{
	return a->ret == b->ret && (a->ret != -1 || a->err == b->err);
}

static int first_diff(const unsigned char *got, const unsigned char *want,
		      size_t len, size_t *cnt)
{
	size_t i;
	long first = -1;

	*cnt = 0;
	for (i = 0; i < len; i++)
		if (got[i] != want[i] && !(*cnt)++)
			first = i;
	return first;
}

static void zero_page_check(char *why, size_t n, const char *what,
			    const unsigned char *p)
{
	long i;

	for (i = 0; i < psz; i++)
		if (p[i]) {
			snprintf(why, n, "%s reads %#x at +%#lx: the shared zero page was written",
				 what, p[i], i);
			return;
		}
}

/*
 * Compares the pool, the files, the child's copy and the zero page with
 * the model. Returns 0, or 1 with the first difference in @why. With
 * @inv_only, only what no vector may change.
 */
static int check_state(char *why, size_t n, int inv_only)
{
	size_t cnt;
	long off;
	int i;
	void *p;

	why[0] = '\0';
	for (i = 0; i < NR_REGIONS && !inv_only; i++) {
		struct region *r = &regions[i];

		if (!r->present || r->obj < 0)
			continue;
		if (!memcmp(r->addr, obj_at(r, 0), r->len))
			continue;
		off = first_diff((unsigned char *)r->addr, obj_at(r, 0), r->len, &cnt);
		snprintf(why, n,
			 "mapping %s (%s) +%#lx reads %#x, the model has %#x (%zu bytes differ)",
			 r->name, kind_name[r->kind], off,
			 (unsigned char)r->addr[off], obj_at(r, off)[0], cnt);
		return 1;
	}
	if (inv_only && regions[R_VDSO].present &&
	    memcmp(regions[R_VDSO].addr, objs[O_VDSO].m, objs[O_VDSO].size)) {
		snprintf(why, n, "the vDSO changed");
		return 1;
	}
	for (i = 0; i < NR_OBJS; i++) {
		struct object *o = &objs[i];

		if (!o->fd || (inv_only && i != O_ROFILE && i != O_SEALW))
			continue;
		if (read_all_fd(*o->fd, scratch, o->size, 0)) {
			snprintf(why, n, "pread of the %s: %s", o->name, strerror(errno));
			return 1;
		}
		if (!memcmp(scratch, o->m, o->size))
			continue;
		off = first_diff(scratch, o->m, o->size, &cnt);
		snprintf(why, n,
			 "the %s (pread) has %#x at +%#lx, the model %#x (%zu bytes differ)",
			 o->name, scratch[off], off, o->m[off], cnt);
		return 1;
	}
	if (child_dump(scratch)) {
		snprintf(why, n, "reading the child's copy of the cow range failed");
		return 1;
	}
	if (memcmp(scratch, objs[O_CHILD].m, objs[O_CHILD].size)) {
		off = first_diff(scratch, objs[O_CHILD].m, objs[O_CHILD].size, &cnt);
		snprintf(why, n,
			 "the child's copy of the cow range has %#x at +%#lx, the model %#x (%zu bytes differ)",
			 scratch[off], off, objs[O_CHILD].m[off], cnt);
		return 1;
	}
	zero_page_check(why, n, "a never-written sentinel page",
			(unsigned char *)sentinel);
	p = mmap(fresh_page, psz, RO, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != fresh_page)
		die_errno("mmap of a fresh page");
	if (!why[0])
		zero_page_check(why, n, "a fresh anonymous mapping",
				(unsigned char *)fresh_page);
	return why[0] != '\0';
}

/* ------------------------------------------------------------------ */
/* Reporting                                                          */
/* ------------------------------------------------------------------ */

static const char *outcome_str(const struct outcome *o, char *buf, size_t n)
{
	if (o->ret == -1)
		snprintf(buf, n, "-1/%s", cpu_op_errname(o->err));
	else if (o->ret)
		snprintf(buf, n, "%d (compare %d stopped the vector)", o->ret, o->ret);
	else
		snprintf(buf, n, "0 (ran completely)");
	return buf;
}

static void print_case(const struct fcase *c)
{
	char a[96], b[96], pad[80];
	int i, k, from;

	if (c->ptr_kind == P_NORMAL || c->ptr_kind == P_MISALIGNED ||
	    c->ptr_kind == P_STRADDLE)
		snprintf(a, sizeof(a), "%s, page offset %d", ptr_kind_name[c->ptr_kind],
			 c->ptr_off);
	else
		snprintf(a, sizeof(a), "%s", ptr_kind_name[c->ptr_kind]);
	if (c->cpu_kind == C_CURRENT)
		snprintf(b, sizeof(b), "the calling CPU");
	else
		snprintf(b, sizeof(b), "%d, %s", c->cpu, cpu_kind_name[c->cpu_kind]);
	ksft_print_msg("  cpu_opv(ops: %s; opcnt %d; cpu %s; flags %#x)\n", a, c->opcnt,
		       b, (unsigned int)c->flags);
	for (i = 0; i < c->nops; i++) {
		const struct cpu_op *op = &c->ops[i];
		const unsigned char *args = (const unsigned char *)&op->u;
		int t = op->op;

		from = is_range_op(t) ? 18 : is_word_op(t) ? word_fault_off(t) + 1 :
		       t == CPU_MB_OP ? 0 : 24;
		pad[0] = '\0';
		for (k = from; k < 24; k++)
			if (args[k])
				break;
		if (k < 24) {
			size_t l = snprintf(pad, sizeof(pad), " unused bytes %d..23:", from);

			for (k = from; k < 24 && l < sizeof(pad) - 3; k++)
				l += snprintf(pad + l, sizeof(pad) - l, "%02x", args[k]);
		}
		if (is_range_op(t)) {
			int mc = t == CPU_MEMCPY_OP || t == CPU_MEMCPY_RELEASE_OP;

			ksft_print_msg("  [%d] %s len %u %s %s %s %s expect_fault %u,%u%s\n", i,
				       op_name[t], op->len, mc ? "dst" : "a",
				       addr_str(op->u.compare_op.a, a, sizeof(a)),
				       mc ? "src" : "b",
				       addr_str(op->u.compare_op.b, b, sizeof(b)),
				       args[16], args[17], pad);
		} else if (is_word_op(t)) {
			int sh = t == CPU_LSHIFT_OP || t == CPU_RSHIFT_OP;

			ksft_print_msg("  [%d] %s len %u p %s %s %#llx expect_fault %u%s\n", i,
				       op_name[t], op->len,
				       addr_str(op->u.arithmetic_op.p, a, sizeof(a)),
				       sh ? "bits" : t <= CPU_ADD_RELEASE_OP ? "count" : "mask",
				       sh ? (unsigned long long)op->u.shift_op.bits :
				       (unsigned long long)op->u.arithmetic_op.count,
				       args[word_fault_off(t)], pad);
		} else if (t == CPU_MB_OP) {
			ksft_print_msg("  [%d] mb len %u%s\n", i, op->len, pad);
		} else {
			ksft_print_msg("  [%d] unknown op %d len %u first %#llx second %#llx%s\n",
				       i, t, op->len,
				       (unsigned long long)op->u.compare_op.a,
				       (unsigned long long)op->u.compare_op.b, pad);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Coverage                                                           */
/* ------------------------------------------------------------------ */

enum { OUT_OK, OUT_STOP, OUT_EINVAL, OUT_EFAULT, OUT_EAGAIN, OUT_OTHER, NR_OUT };

static unsigned long cov[NR_OP_TYPES + 1][NR_KINDS][NR_OUT];
static unsigned long query_cov[NR_OUT], cpu_cov[NR_CPU_KINDS][NR_OUT];
static unsigned long ptr_cov[6][NR_OUT];

struct stats {
	unsigned long runs, out[NR_OUT];
};

static int out_class(const struct outcome *o)
{
	if (o->ret == 0)
		return OUT_OK;
	if (o->ret > 0)
		return OUT_STOP;
	switch (o->err) {
	case EINVAL:
		return OUT_EINVAL;
	case EFAULT:
		return OUT_EFAULT;
	case EAGAIN:
		return OUT_EAGAIN;
	default:
		return OUT_OTHER;
	}
}

static int kind_of(uint64_t a)
{
	struct region *r = region_of(a);

	return r ? r->kind : K_SPECIAL;
}

static void record(const struct fcase *c, const struct outcome *got,
		   struct stats *st)
{
	int oc = out_class(got), i, n, t;

	st->runs++;
	st->out[oc]++;
	if (c->flags) {
		query_cov[oc]++;
		return;
	}
	cpu_cov[c->cpu_kind][oc]++;
	ptr_cov[c->ptr_kind][oc]++;
	n = c->opcnt < c->nops ? c->opcnt : c->nops;
	for (i = 0; i < n; i++) {
		const struct cpu_op *op = &c->ops[i];

		t = op->op >= 0 && op->op < NR_OP_TYPES ? op->op : NR_OP_TYPES;
		if (is_range_op(t)) {
			cov[t][kind_of(op->u.compare_op.a)][oc]++;
			cov[t][kind_of(op->u.compare_op.b)][oc]++;
		} else if (is_word_op(t)) {
			cov[t][kind_of(op->u.arithmetic_op.p)][oc]++;
		} else {
			cov[t][K_NOOPND][oc]++;
		}
	}
}

static void counts_str(const unsigned long *o, char *buf, size_t n)
{
	snprintf(buf, n, "%lu/%lu/%lu/%lu/%lu%s", o[OUT_OK], o[OUT_STOP],
		 o[OUT_EINVAL], o[OUT_EFAULT], o[OUT_EAGAIN], o[OUT_OTHER] ? "/+" : "");
	if (o[OUT_OTHER])
		snprintf(buf + strlen(buf), n - strlen(buf), "%lu", o[OUT_OTHER]);
}

#define MSG_COVERAGE "coverage: counts ok/stop/EINVAL/EFAULT/EAGAIN[/other] per operation type and operand mapping kind\n"
#define MSG_PRISTINE_WRITES "vectors writing a never-written or copy-on-write shared page: %lu, %lu of them after reading it\n"
#define MSG_UNSPEC_COPIES "copies between two mappings of the same memory, overlapping there (dst unspecified): %lu\n"

static void print_coverage(void)
{
	char line[1400], cnt[64];
	int t, k, o;
	size_t l;

	ksft_print_msg(MSG_COVERAGE);
	for (t = 0; t <= NR_OP_TYPES; t++) {
		l = snprintf(line, sizeof(line), "%s:", t < NR_OP_TYPES ? op_name[t] :
			     "unknown type");
		for (k = 0; k < NR_KINDS; k++) {
			unsigned long sum = 0;

			for (o = 0; o < NR_OUT; o++)
				sum += cov[t][k][o];
			if (!sum)
				continue;
			counts_str(cov[t][k], cnt, sizeof(cnt));
			l += snprintf(line + l, sizeof(line) - l, " %s %s", kind_name[k], cnt);
			if (l >= sizeof(line))
				break;
		}
		ksft_print_msg("%s\n", line);
	}
	l = snprintf(line, sizeof(line), "cpu:");
	for (k = 0; k < NR_CPU_KINDS; k++) {
		counts_str(cpu_cov[k], cnt, sizeof(cnt));
		l += snprintf(line + l, sizeof(line) - l, " %s %s;", cpu_kind_name[k], cnt);
	}
	ksft_print_msg("%s\n", line);
	l = snprintf(line, sizeof(line), "vector pointer:");
	for (k = 0; k < 6; k++) {
		counts_str(ptr_cov[k], cnt, sizeof(cnt));
		l += snprintf(line + l, sizeof(line) - l, " %s %s;", ptr_kind_name[k], cnt);
	}
	ksft_print_msg("%s\n", line);
	ksft_print_msg("flags set (queries): %lu answered, %lu EINVAL, %lu other\n",
		       query_cov[OUT_STOP], query_cov[OUT_EINVAL],
		       query_cov[OUT_OK] + query_cov[OUT_EFAULT] + query_cov[OUT_EAGAIN] +
		       query_cov[OUT_OTHER]);
	ksft_print_msg(MSG_PRISTINE_WRITES, pristine_writes, pristine_rw);
	ksft_print_msg(MSG_UNSPEC_COPIES, unspec_copies);
}

/* ------------------------------------------------------------------ */
/* Shrinking                                                          */
/* ------------------------------------------------------------------ */

static unsigned char *snap[NR_OBJS];

static void snap_take(void)
{
	int i;

	for (i = 0; i < NR_OBJS; i++) {
		if (!snap[i])
			snap[i] = malloc(objs[i].size ? objs[i].size : 1);
		if (!snap[i])
			die_errno("malloc");
		memcpy(snap[i], objs[i].m, objs[i].size);
	}
}

static void snap_restore(void)
{
	int i;

	for (i = 0; i < NR_OBJS; i++)
		memcpy(objs[i].m, snap[i], objs[i].size);
}

/*
 * Runs @c on a pool rebuilt from the snapshot. Returns 1 if kernel and
 * model disagree (@why says how), 0 if they agree, -1 if the rebuilt pool
 * does not match the model.
 */
static int reproduce(struct fcase *c, char *why, size_t n)
{
	struct outcome exp, got;
	char a[64], b[64];

	watchdog();
	snap_restore();
	pool_build();
	if (check_state(why, n, 0))
		return -1;
	model_call(c, &exp, 0);
	kernel_call(c, &got);
	if (!outcome_eq(&exp, &got)) {
		snprintf(why, n, "returned %s, the model expects %s",
			 outcome_str(&got, a, sizeof(a)), outcome_str(&exp, b, sizeof(b)));
		return 1;
	}
	model_adopt_unspecified();
	return check_state(why, n, 0);
}

static double shrink_deadline;

static int try_shrink(struct fcase *best, struct fcase *cand, int *attempts)
{
	char why[512];

	if (now() > shrink_deadline) {
		*attempts = SHRINK_ATTEMPTS;
		return 0;
	}
	(*attempts)++;
	if (reproduce(cand, why, sizeof(why)) != 1)
		return 0;
	*best = *cand;
	return 1;
}

/* Greedily drops operations and reduces lengths while @best still fails. */
static void shrink(struct fcase *best)
{
	int attempts = 0, changed = 1, i, k;
	struct fcase cand;

	shrink_deadline = now() + SHRINK_SECONDS;
	while (changed && attempts < SHRINK_ATTEMPTS) {
		changed = 0;
		for (i = best->nops - 1; i >= 0 && best->nops > 1; i--) {
			cand = *best;
			memmove(&cand.ops[i], &cand.ops[i + 1],
				(cand.nops - i - 1) * sizeof(cand.ops[0]));
			cand.nops--;
			if (best->opcnt == best->nops ||
			    (cand.opcnt > cand.nops && cand.opcnt <= VEC_MAX))
				cand.opcnt = cand.nops;
			if (try_shrink(best, &cand, &attempts))
				changed = 1;
			if (attempts >= SHRINK_ATTEMPTS)
				return;
		}
		for (i = 0; i < best->nops; i++) {
			uint32_t len = best->ops[i].len, tries[5];
			int t = best->ops[i].op;

			tries[0] = 1;
			tries[1] = 2;
			tries[2] = 4;
			tries[3] = is_range_op(t) ? len / 2 : 0;
			tries[4] = is_range_op(t) ? len - 1 : 0;
			if (!is_range_op(t) && !is_word_op(t))
				continue;
			for (k = 0; k < 5; k++) {
				if (tries[k] < 1 || tries[k] >= len || (k == 3 && tries[k] <= 4))
					continue;
				cand = *best;
				cand.ops[i].len = tries[k];
				if (try_shrink(best, &cand, &attempts)) {
					changed = 1;
					break;
				}
				if (attempts >= SHRINK_ATTEMPTS)
					return;
			}
		}
		/* Simpler CPU, vector pointer, expect_fault and unused bytes. */
		if (best->cpu_kind != C_CURRENT && !best->flags) {
			cand = *best;
			cand.cpu_kind = C_CURRENT;
			cand.cpu = -1;
			changed |= try_shrink(best, &cand, &attempts);
		}
		if (best->ptr_kind == P_MISALIGNED || (best->ptr_kind == P_NORMAL &&
						       best->ptr_off)) {
			cand = *best;
			cand.ptr_kind = P_NORMAL;
			cand.ptr_off = 0;
			changed |= try_shrink(best, &cand, &attempts);
		}
		for (i = 0; i < best->nops && attempts < SHRINK_ATTEMPTS; i++) {
			unsigned char *args = op_args(&best->ops[i]);
			int t = best->ops[i].op, from;

			if (!is_range_op(t) && !is_word_op(t))
				continue;
			from = is_range_op(t) ? 16 : word_fault_off(t);
			for (k = from; k < 24; k++)
				if (args[k])
					break;
			if (k == 24)
				continue;
			cand = *best;
			memset(op_args(&cand.ops[i]) + from, 0, 24 - from);
			changed |= try_shrink(best, &cand, &attempts);
		}
	}
}

/* The kinds of memory the operands of @c touch, as a bit mask. */
static unsigned long case_kinds(const struct fcase *c)
{
	unsigned long m = 0;
	int i;

	for (i = 0; i < c->nops; i++) {
		const struct cpu_op *op = &c->ops[i];

		if (is_range_op(op->op))
			m |= 1UL << kind_of(op->u.compare_op.a) |
			     1UL << kind_of(op->u.compare_op.b);
		else if (is_word_op(op->op))
			m |= 1UL << kind_of(op->u.arithmetic_op.p);
	}
	return m;
}

static unsigned long mismatch_kinds;

#define MSG_SHRUNK "shrunk vector (%.1f s; run on the pool as it was before the call, rebuilt):\n"
#define MSG_NOT_AGAIN "the difference did not show again on a rebuilt pool (not shrunk)\n"

/*
 * Reports a difference at iteration @it of @phase: the vector, then the
 * shrunk vector. The model is back at its state before the call when
 * this returns, and the pool rebuilt from it.
 */
static void report_mismatch(const char *phase, long it, struct fcase *c,
			    const char *why)
{
	struct fcase best = *c;
	char w[512];
	double t0;
	int r;

	undo_all();
	snap_take();
	mismatch_kinds |= case_kinds(c);
	ksft_print_msg("MISMATCH in %s: seed %#llx, iteration %ld: %s\n", phase,
		       (unsigned long long)opt_seed, it, why);
	ksft_print_msg("the vector:\n");
	print_case(c);
	t0 = now();
	r = reproduce(&best, w, sizeof(w));
	if (r == 1 && opt_noshrink) {
		ksft_print_msg("shows again on a rebuilt pool: %s (not shrunk: -S)\n", w);
	} else if (r == 1) {
		shrink(&best);
		r = reproduce(&best, w, sizeof(w));
		ksft_print_msg(MSG_SHRUNK, now() - t0);
		print_case(&best);
		ksft_print_msg("  result: %s\n", r == 1 ? w : "the difference did not show again");
	} else if (r == 0) {
		ksft_print_msg(MSG_NOT_AGAIN);
	} else {
		ksft_print_msg("could not rebuild the pool to match the model: %s\n", w);
	}
	snap_restore();
	pool_build();
}

/* ------------------------------------------------------------------ */
/* Phases                                                             */
/* ------------------------------------------------------------------ */

/*
 * Occasionally returns part of the pool to a never-written state (zero
 * page, page cache), so that later vectors meet such pages again, or
 * has the child write its copy, or forks the child anew. Returns 0, or
 * 1 with @why set.
 */
static int maybe_refresh(char *why, size_t n)
{
	struct region *r;
	uint32_t off;
	int64_t val;
	uint64_t v;
	int res;

	if (!chance(8))
		return 0;
	switch (rn(8)) {
	case 0:
		r = &regions[R_ZERO];
		if (madvise(r->addr, r->len, MADV_DONTNEED))
			die_errno("madvise");
		memset(objs[O_ZERO].m, 0, objs[O_ZERO].size);
		r->pristine = ~0U;
		break;
	case 1:
		r = &regions[R_FPRIV];
		if (madvise(r->addr, r->len, MADV_DONTNEED))
			die_errno("madvise");
		memcpy(objs[O_FPRIV].m, objs[O_ROFILE].m, objs[O_FPRIV].size);
		r->pristine = ~0U;
		break;
	case 2:
		r = &regions[R_SEALW_PRIV];
		if (madvise(r->addr, r->len, MADV_DONTNEED))
			die_errno("madvise");
		memcpy(objs[O_SEALW_PRIV].m, objs[O_SEALW].m, objs[O_SEALW_PRIV].size);
		r->pristine = ~0U;
		break;
	case 3:
	case 4:
		r = &regions[rn(2) ? R_ANON : R_COW];
		off = rn(r->len / psz) * psz;
		if (madvise(r->addr + off, psz, MADV_DONTNEED))
			die_errno("madvise");
		memset(obj_at(r, off), 0, psz);
		r->pristine |= 1U << (off / psz);
		break;
	case 5:
		child_stop();
		memcpy(objs[O_CHILD].m, objs[O_COW].m, objs[O_COW].size);
		child_start();
		regions[R_COW].pristine = ~0U;
		break;
	case 6:
		off = 8 * rn(regions[R_COW].len / 8);
		val = rnd();
		res = child_add(off, val);
		if (res) {
			snprintf(why, n,
				 "the child's cpu_opv() add to its copy of cow+%#x returned %d",
				 off, res);
			return 1;
		}
		memcpy(&v, objs[O_CHILD].m + off, 8);
		v += val;
		memcpy(objs[O_CHILD].m + off, &v, 8);
		break;
	default:
		if (!thp_ok)
			break;
		if (thp_map())
			die_errno("madvise(MADV_HUGEPAGE)");
		memset(objs[O_THP].m, 0, THP_SIZE);
	}
	return 0;
}

#define MSG_STATS "%s: %lu vectors in %.1f s: ok %lu, compare-stop %lu, EINVAL %lu, EFAULT %lu, EAGAIN %lu, other %lu\n"

static void print_stats(const char *name, const struct stats *st, double t)
{
	ksft_print_msg(MSG_STATS,
		       name, st->runs, t, st->out[OUT_OK], st->out[OUT_STOP],
		       st->out[OUT_EINVAL], st->out[OUT_EFAULT], st->out[OUT_EAGAIN],
		       st->out[OUT_OTHER]);
}

/* Vectors checked against the model. Returns 0, or 1 on a difference. */
static int model_phase(const char *name, long iters, double deadline,
		       int offline, struct stats *st)
{
	struct outcome exp, got;
	struct fcase c;
	char why[640], a[64], b[64];
	double t0 = now();
	int bad = 0;
	long it;

	WRITE_ONCE(cur_phase, name);
	memset(st, 0, sizeof(*st));
	for (it = 0; it < iters && now() < deadline; it++) {
		WRITE_ONCE(cur_iter, it);
		watchdog();
		if (maybe_refresh(why, sizeof(why))) {
			ksft_print_msg("MISMATCH in %s: seed %#llx, iteration %ld: %s\n",
				       name, (unsigned long long)opt_seed, it, why);
			bad++;
			break;
		}
		gen_case(&c, offline);
		WRITE_ONCE(cur_case, &c);
		model_call(&c, &exp, 0);
		kernel_call(&c, &got);
		record(&c, &got, st);
		if (!outcome_eq(&exp, &got)) {
			snprintf(why, sizeof(why), "returned %s, the model expects %s",
				 outcome_str(&got, a, sizeof(a)),
				 outcome_str(&exp, b, sizeof(b)));
		} else {
			model_adopt_unspecified();
			if (!check_state(why, sizeof(why), 0))
				continue;
		}
		WRITE_ONCE(cur_case, NULL);
		report_mismatch(name, it, &c, why);
		if (++bad >= opt_keep)
			break;
	}
	WRITE_ONCE(cur_case, NULL);
	print_stats(name, st, now() - t0);
	if (it < iters && !bad)
		ksft_print_msg("%s: stopped by the time cap after %ld of %ld vectors\n",
			       name, it, iters);
	return bad;
}

static void test_model(long iters, double deadline, struct stats *st)
{
	int bad = model_phase("model agreement", iters, deadline, 0, st);

	ksft_test_result(!bad, "model agreement: %lu vectors, seed %#llx\n", st->runs,
			 (unsigned long long)opt_seed);
}

static struct stats st_off, st_conc, st_alias;

/* The model phase again, every operand through a vmalloc alias. */
static void test_alias(long iters, double deadline)
{
	struct stats st;
	int bad, ret;

	ret = cpu_op_force_vmap(1);
	if (ret) {
		ksft_test_result_skip("alias phase: %s: %s (needs CONFIG_DEBUG_FS and root)\n",
				      CPU_OP_FORCE_VMAP, strerror(-ret));
		return;
	}
	vmap_forced = 1;
	bad = model_phase("alias phase", iters, deadline, 0, &st);
	st_alias = st;
	ret = cpu_op_force_vmap(0);
	if (ret)
		ksft_print_msg("could not switch %s off: %s\n", CPU_OP_FORCE_VMAP, strerror(-ret));
	else
		vmap_forced = 0;
	ksft_test_result(!bad && !ret && st.out[OUT_OK] + st.out[OUT_STOP] > 0,
			 "alias phase: %lu vectors, every operand through a vmalloc alias\n",
			 st.runs);
}

#define MSG_NO_OFFLINE_CPU "offline cpu phase: CPU %d is not possible or not in the affinity mask\n"

static void test_offline(long iters, double deadline)
{
	char path[96], val[8] = "";
	struct stats st;
	int fd, bad, back;
	ssize_t n;

	WRITE_ONCE(cur_phase, "offline cpu phase");
	cpu_op_online_path(OFFLINE_CPU, path, sizeof(path));
	if (nr_cpu_ids <= OFFLINE_CPU || !CPU_ISSET(OFFLINE_CPU, &run_mask)) {
		ksft_test_result_skip(MSG_NO_OFFLINE_CPU, OFFLINE_CPU);
		return;
	}
	if (nr_online < 2) {
		ksft_test_result_skip("offline cpu phase: no other CPU to run on\n");
		return;
	}
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, val, sizeof(val) - 1);
	if (fd >= 0)
		close(fd);
	if (n < 1 || val[0] != '1') {
		ksft_test_result_skip("offline cpu phase: %s: %s\n", path,
				      n < 1 ? strerror(errno) : "CPU already offline");
		return;
	}
	WRITE_ONCE(offlined_cpu, OFFLINE_CPU);
	n = cpu_op_set_online(OFFLINE_CPU, 0);
	if (n) {
		WRITE_ONCE(offlined_cpu, -1);
		ksft_test_result_skip("offline cpu phase: cannot take CPU %d offline: %s\n",
				      OFFLINE_CPU, strerror(-n));
		return;
	}
	refresh_online();
	bad = model_phase("offline cpu phase", iters, deadline, 1, &st);
	st_off = st;
	restore_cpu();
	back = READ_ONCE(offlined_cpu) < 0;
	refresh_online();
	if (!back)
		ksft_print_msg("could not bring CPU %d back online\n", OFFLINE_CPU);
	ksft_test_result(!bad && back && st.out[OUT_OK] + st.out[OUT_STOP] > 0,
			 "offline cpu phase: %lu vectors, CPU %d offline\n", st.runs,
			 OFFLINE_CPU);
}

/* Concurrent mode: threads change the pool's mappings meanwhile. */
static int conc_stop;
static unsigned long mut_count[6];

static const int mutable_regions[] = {
	R_ANON, R_ZERO, R_ANON_RO, R_ZERO_RO, R_NONE1, R_COW, R_FPRIV, R_FPRIV_RO,
	R_FSHR_RO, R_FSHR_A, R_FSHR_B, R_SEALW_RO, R_SEALW_PRIV, R_FW_A, R_FW_B,
	R_FW_RO, R_NONE2, R_THP,
};

static void *mutator(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + opt_seed, x;
	static const int prots[] = { PROT_NONE, RO, RW };

	while (!__atomic_load_n(&conc_stop, __ATOMIC_RELAXED)) {
		struct region *r;
		size_t pages, first, cnt;
		int act;
		pid_t pid;

		s += 0x9e3779b97f4a7c15ULL;
		x = (s ^ (s >> 31)) * 0xbf58476d1ce4e5b9ULL;
		x ^= x >> 29;
		r = &regions[mutable_regions[x % NELEM(mutable_regions)]];
		if (!r->present)
			continue;
		pages = r->len / psz;
		first = (x >> 8) % pages;
		cnt = 1 + (x >> 16) % (pages - first);
		act = (x >> 24) % 6;
		__atomic_fetch_add(&mut_count[act], 1, __ATOMIC_RELAXED);
		switch (act) {
		case 0:		/* map again in place */
			map_region(r, (x >> 40) % 3 && !r->shared ? RW : r->remap_prot,
				   MAP_FIXED);
			if (r->kind == K_THP)
				madvise(r->addr, r->len, MADV_HUGEPAGE);
			break;
		case 1:		/* munmap, then map again if nobody took the range */
			munmap(r->addr, r->len);
			sched_yield();
			map_region(r, r->remap_prot, MAP_FIXED_NOREPLACE);
			break;
		case 2:
			mprotect(r->addr + first * psz, cnt * psz, prots[(x >> 40) % 3]);
			break;
		case 3:
			madvise(r->addr + first * psz, cnt * psz, MADV_DONTNEED);
			break;
		case 4:		/* fork: the child writes its copy, maybe */
			pid = fork();
			if (!pid) {
				/* A store that fails with EFAULT, not SIGSEGV. */
				if (pread(ro_fd, r->addr + first * psz + (x >> 48) % psz, 1, 0))
					_exit(0);
				_exit(0);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
			break;
		default:
			usleep(50);
		}
	}
	return NULL;
}

/* Whether an operand of the operations run has a range that wraps. */
static void any_wraps(const struct fcase *c, int *wraps)
{
	int i, n = c->opcnt < c->nops ? c->opcnt : c->nops;

	*wraps = 0;
	for (i = 0; i < n; i++) {
		struct mop m;
		int j;

		if (model_decode((struct cpu_op *)&c->ops[i], &m))
			continue;
		for (j = 0; j < m.nopnd; j++) {
			if (m.o[j].addr > (uint64_t)UINTPTR_MAX ||
			    (uintptr_t)m.o[j].addr + (m.o[j].len - 1) < (uintptr_t)m.o[j].addr)
				*wraps = 1;
		}
	}
}

#define MSG_CONC_FAILURE "FAILURE in concurrent mode: seed %#llx, iteration %ld: %s\n"
#define MSG_CONC_MUTATIONS "concurrent mode: mapping changes: %lu remaps, %lu munmap+mmap, %lu mprotect, %lu MADV_DONTNEED, %lu forks\n"
#define MSG_CONC_CAPPED "concurrent mode: stopped by the time cap after %ld of %ld vectors\n"

static void test_concurrent(long iters, double deadline)
{
	pthread_t th[2];
	struct outcome exp, got;
	struct stats st;
	struct fcase c;
	char why[640] = "", a[64], b[64];
	double t0 = now();
	long it;
	int i, bad = 0, wraps, nth = 0;

	WRITE_ONCE(cur_phase, "concurrent mode");
	memset(&st, 0, sizeof(st));
	/* A child whose copy of the cow range must never change. */
	child_stop();
	memcpy(objs[O_CHILD].m, objs[O_COW].m, objs[O_COW].size);
	child_start();
	__atomic_store_n(&conc_stop, 0, __ATOMIC_RELAXED);
	for (i = 0; i < 2; i++)
		if (!pthread_create(&th[i], NULL, mutator, (void *)(uintptr_t)(i + 1)))
			nth++;
	if (!nth) {
		ksft_test_result_skip("concurrent mode: pthread_create failed\n");
		return;
	}
	for (it = 0; it < iters && now() < deadline && !bad; it++) {
		WRITE_ONCE(cur_iter, it);
		watchdog();
		gen_case(&c, 0);
		WRITE_ONCE(cur_case, &c);
		model_call(&c, &exp, 1);
		kernel_call(&c, &got);
		record(&c, &got, &st);
		any_wraps(&c, &wraps);
		if (exp.stage == ST_PRE) {
			if (!outcome_eq(&exp, &got))
				bad = snprintf(why, sizeof(why),
					       "returned %s before any operand mattered, the model expects %s",
					       outcome_str(&got, a, sizeof(a)),
					       outcome_str(&exp, b, sizeof(b)));
		} else if (got.ret == -1) {
			/*
			 * EAGAIN also without expect_fault: pages that went
			 * away again each time they were faulted in.
			 */
			if (!(got.err == EFAULT || got.err == ENOMEM || got.err == EAGAIN ||
			      (got.err == EINVAL && wraps)))
				bad = snprintf(why, sizeof(why), "returned %s",
					       outcome_str(&got, a, sizeof(a)));
		} else if (got.ret > c.opcnt || (got.ret > 0 &&
			   c.ops[got.ret - 1].op != CPU_COMPARE_EQ_OP &&
			   c.ops[got.ret - 1].op != CPU_COMPARE_NE_OP)) {
			bad = snprintf(why, sizeof(why),
				       "returned %d, which is no compare of the vector", got.ret);
		}
		if (!bad)
			bad = check_state(why, sizeof(why), 1);
		if (bad) {
			ksft_print_msg(MSG_CONC_FAILURE, (unsigned long long)opt_seed, it, why);
			print_case(&c);
		}
	}
	WRITE_ONCE(cur_case, NULL);
	__atomic_store_n(&conc_stop, 1, __ATOMIC_RELAXED);
	watchdog();
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	print_stats("concurrent mode", &st, now() - t0);
	st_conc = st;
	ksft_print_msg(MSG_CONC_MUTATIONS,
		       mut_count[0], mut_count[1], mut_count[2], mut_count[3], mut_count[4]);
	if (it < iters && !bad)
		ksft_print_msg(MSG_CONC_CAPPED, it, iters);
	if (!bad)
		bad = check_state(why, sizeof(why), 1);
	ksft_test_result(!bad, "concurrent mode: %lu vectors%s%s\n", st.runs,
			 bad ? ": " : "", bad ? why : "");
}

static void test_thp(void)
{
	unsigned long ran = 0;
	int t;

	if (!thp_ok) {
		ksft_test_result_skip("transparent huge page operands: %s\n", thp_why);
		return;
	}
	for (t = 0; t < NR_OP_TYPES; t++)
		ran += cov[t][K_THP][OUT_OK] + cov[t][K_THP][OUT_STOP];
	ksft_test_result(ran && !(mismatch_kinds & (1UL << K_THP)),
			 "transparent huge page operands: %lu ran, agreeing with the model\n",
			 ran);
}

static void test_coverage(long runs)
{
	unsigned long tot[NR_OUT] = { 0 };
	int t, k, o, missing = -1;

	if (runs < 500) {
		ksft_test_result_skip("coverage: only %ld vectors\n", runs);
		return;
	}
	for (t = 0; t <= NR_OP_TYPES; t++) {
		unsigned long ok = 0;

		for (k = 0; k < NR_KINDS; k++) {
			ok += cov[t][k][OUT_OK];
			for (o = 0; o < NR_OUT; o++)
				tot[o] += cov[t][k][o];
		}
		if (t < NR_OP_TYPES && !ok && missing < 0)
			missing = t;
	}
	if (missing >= 0) {
		ksft_test_result_fail("coverage: no vector with %s ran completely\n",
				      op_name[missing]);
		return;
	}
	for (o = OUT_OK; o <= OUT_EAGAIN; o++)
		if (!tot[o]) {
			ksft_test_result_fail("coverage: outcome %d never seen\n", o);
			return;
		}
	ksft_test_result_pass("coverage: every operation type ran, every outcome seen\n");
}

static void print_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SEED] [-n ITERS] [-k MISMATCHES] [-S] [-A|-a]\n", prog);
	exit(KSFT_FAIL);
}

#define MSG_START "seed %#llx (-s), %ld vectors (-n, CPU_OPV_FUZZ_ITERS), then %ld through aliases, %ld with CPU %d offline and %ld concurrent; time cap %.0f s (CPU_OPV_FUZZ_SECONDS)\n"
#define MSG_POOL "pool: %d mappings, page size %ld; vdso %s, vvar %s; huge page: %s; CPUs: %d possible, outside the mask: %d\n"

int main(int argc, char **argv)
{
	alignas(64) unsigned char stack_buf[STACK_BUF];
	struct stats st;
	double cap, t;
	char why[640];
	const char *e;
	int opt;

	main_pid = getpid();
	psz = sysconf(_SC_PAGESIZE);
	e = getenv("CPU_OPV_FUZZ_ITERS");
	if (e && *e)
		opt_iters = strtol(e, NULL, 0);
	e = getenv("CPU_OPV_FUZZ_SECONDS");
	if (e && *e)
		opt_seconds = strtod(e, NULL);
	while ((opt = getopt(argc, argv, "s:n:k:SAah")) != -1) {
		switch (opt) {
		case 's':
			opt_seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			opt_iters = strtol(optarg, NULL, 0);
			break;
		case 'S':
			opt_noshrink = 1;
			break;
		case 'A':
			opt_noalias = 1;
			break;
		case 'a':
			opt_noalias = 0;
			break;
		case 'k':
			opt_keep = strtol(optarg, NULL, 0);
			break;
		default:
			print_usage(argv[0]);
		}
	}
	if (opt_iters < 1 || opt_keep < 1)
		print_usage(argv[0]);

	ksft_print_header();
	opt = cpu_op_require();
	if (opt != NR_CPU_OPS)
		ksft_exit_skip("cpu_opv() knows %d operations, this test %d\n",
			       opt, NR_CPU_OPS);
	ksft_set_plan(6);
	setup_signals();
	atexit(cleanup);
	setup_cpus();
	t_start = now();
	cap = opt_seconds > 0 ? opt_seconds : 1e9;
	rng = opt_seed;
	ksft_print_msg(MSG_START,
		       (unsigned long long)opt_seed, opt_iters, opt_iters / 8 + 16,
		       opt_iters / 8 + 16, OFFLINE_CPU, opt_iters / 8 + 16, opt_seconds);

	pool_setup(stack_buf);
	pool_build();
	if (check_state(why, sizeof(why), 0))
		ksft_exit_fail_msg("the pool does not match the model after setup: %s\n", why);
	ksft_print_msg(MSG_POOL,
		       NR_REGIONS, psz, regions[R_VDSO].present ? "yes" : "not found",
		       regions[R_VVAR].present ? "yes" : "not found",
		       thp_ok ? "yes" : thp_why, nr_cpu_ids, outside_cpu);

	test_model(opt_iters, t_start + 0.55 * cap, &st);
	rng = opt_seed ^ 0xa11a5a11a5ULL;
	test_alias(opt_iters / 8 + 16, t_start + 0.62 * cap);
	rng = opt_seed ^ 0x0ff11e0ff11eULL;
	test_offline(opt_iters / 8 + 16, t_start + 0.7 * cap);
	rng = opt_seed ^ 0xc0cc0cc0ULL;
	test_concurrent(opt_iters / 8 + 16, t_start + cap);
	test_thp();
	print_coverage();
	test_coverage(st.runs + st_alias.runs + st_off.runs + st_conc.runs);
	alarm(0);
	t = now() - t_start;
	ksft_print_msg("total %.1f s\n", t);
	ksft_finished();
	return 0;
}
