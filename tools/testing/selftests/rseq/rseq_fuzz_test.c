// SPDX-License-Identifier: GPL-2.0
/*
 * rseq fuzz test: random rseq() calls and random critical section
 * descriptors, each checked against a model of the ABI of Linux 6.12 (its
 * kernel/rseq.c, and Documentation/userspace-api/rseq.rst), while other
 * threads and processes hammer unrelated system calls. Debian's trinity
 * cannot fuzz rseq, which is why this program exists.
 *
 * - Registration: four threads make random sequences of rseq() calls: the
 *   area valid, misaligned, NULL, unmapped, PROT_NONE, read-only, past
 *   TASK_SIZE or in kernel space; the length 0, 31, 32, the
 *   AT_RSEQ_FEATURE_SIZE, larger, not a multiple of AT_RSEQ_ALIGN; the
 *   flags 0, RSEQ_FLAG_UNREGISTER or unknown bits; the signature right or
 *   wrong; repeated and mismatched. Each thread keeps a model of its
 *   registration and predicts every result (0, EINVAL, EPERM, EBUSY,
 *   EFAULT) in the order 6.12 checks them. After a registration the id
 *   fields must be valid (and agree with getcpu()) when the thread first
 *   reads them and a stale rseq_cs must be cleared; after an
 *   unregistration they must be reset (cpu_id RSEQ_CPU_ID_UNINITIALIZED)
 *   and never written again. Forked children check that fork keeps the
 *   registration; that a read-only area is accepted and the thread then
 *   dies of SIGSEGV; that unregistering an area made read-only fails with
 *   EFAULT; that an area unmapped or made read-only kills the thread at
 *   its next context switch (6.12 stores the ids after every switch); new
 *   threads must start unregistered. For the same reason the ids must be
 *   valid after the page of the area was dropped (MADV_DONTNEED) and the
 *   thread slept.
 * - Critical sections: random struct rseq_cs descriptors (valid, a
 *   superset or a part of the section, empty, another section's,
 *   misaligned in memory; with flags in rseq_cs or in struct rseq; bad
 *   signature, unreadable signature, abort_ip inside, version != 0,
 *   addresses past TASK_SIZE, an end that overflows; rseq_cs unmapped,
 *   PROT_NONE, past TASK_SIZE, or straddling an unmapped page) around the
 *   assembly sections of rseq_abi_cs.h, while the thread is preempted (a
 *   busy thread pinned to its CPU), migrated (another thread changes its
 *   affinity), signalled (a timer, another thread, itself from inside the
 *   section) or fenced (MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ). The model
 *   says which of "completes", "aborts" (rseq_cs then 0, the ids
 *   rewritten) and "SIGSEGV" may happen: a sure event in a section the
 *   thread spins in "forever" must abort it, or kill the thread if 6.12
 *   finds the descriptor bad (flags count only inside the section); a
 *   section without a sure event may complete or abort; another
 *   section's descriptor is cleared by a signal, never acted on. Cases
 *   that may die run in forked children. Signal handlers check that they
 *   never start inside a section, and start with rseq_cs 0 and valid ids.
 *   6.12 warns once per boot about deprecated and unknown flags: the
 *   kernel log must have those warnings, worded as 6.12 words them.
 * - Meanwhile threads fork children that exit, check the registration
 *   they inherit, exec /bin/true or exec this program (which checks that
 *   it starts unregistered), map and unmap memory, and send signals to
 *   the registered threads.
 *
 * With CONFIG_DEBUG_RSEQ a system call inside a section, or while
 * rseq_cs points to a bad descriptor, kills the thread: a child finds out
 * which behaviour the kernel has, and the model follows it.
 *
 * Options: -s SEED (default: from the clock), -n ITERS (rseq() calls per
 * registration thread, ITERS/2 sections in this process and ITERS/8 in
 * children; default 8000, or RSEQ_FUZZ_ITERS), -t SECONDS (time cap,
 * default 150, or RSEQ_FUZZ_SECONDS; what it leaves undone is reported,
 * not failed). Every mismatch is printed with the seed, the thread and
 * iteration or the case number, the call or the descriptor, and what was
 * expected and seen; the same seed makes the same calls and cases, though
 * preemption and signal timing are not reproducible. At the end the
 * program prints how many calls and cases had each outcome.
 *
 * The program registers its own areas, so it re-executes itself with
 * glibc's rseq registration turned off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/auxvec.h>
#include <linux/compiler.h>
#include <linux/membarrier.h>
#include <linux/rseq.h>

#include "../kselftest.h"
#include "rseq_abi_cs.h"

#define TUNABLE		"glibc.pthread.rseq=0"
#define TAG		0xdeadbeefU	/* no CPU, node or mm_cid has it */

#define DEFAULT_ITERS	8000
#define DEFAULT_SECONDS	150
#define NREG		4	/* registration fuzzing threads */
#define NHAMMER		3	/* fork/exec, mmap, signal threads */
#define MAX_MSGS	10	/* mismatches printed per test */
#define CHILD_LIMIT	60	/* seconds a child case may take */
#define SHORT_SPIN	200000	/* most iterations of a section with no sure event */
#define LONG_SPIN	0xffffffffUL	/* "forever": a sure event must end it */

/*
 * One load or store, never merged or left out: for fields the kernel or
 * another thread writes behind the compiler's back.
 */
#define LOAD_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/*
 * What rseq() returns on a kernel without the system call: the errno of a
 * system call number no kernel has, learnt at start (see main()).
 */
static long no_syscall = 1;

#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE	27
#define AT_RSEQ_ALIGN		28
#endif
#ifndef MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ		0x80
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ	0x100
#endif

enum {
	T_REG, T_REG_CHILD, T_SWITCH, T_IDS, T_CS_SELF, T_CS_CHILD, T_HAMMER,
	NTESTS
};

static const char *const test_names[NTESTS] = {
	"registration model", "registration in children and threads",
	"store after every switch", "id fields", "sections in this process",
	"sections in children", "hammer",
};

/* Settings and what the program learns about the system at start. */
static uint64_t seed;
static unsigned long iters = DEFAULT_ITERS;
static unsigned int seconds = DEFAULT_SECONDS;
static double t_start;
static long page_size;
static int ncpus;
static int node_of[CPU_SETSIZE];
static int cpu_list[CPU_SETSIZE], ncpu_list;
static cpu_set_t main_cpus;
static uint32_t feature_size, rseq_align;
static uint64_t user_lo, user_hi;	/* where TASK_SIZE may be */
static int debug_rseq = -1;		/* syscalls in sections kill */
static int have_fence;
static char self_exe[PATH_MAX];
static pid_t main_pid;
static int stop_hammer;

static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long fails[NTESTS], checks[NTESTS];

static struct rseq main_area __aligned(32);
static struct rseq shared_area __aligned(32);
static struct rseq hammer_area[NHAMMER] __aligned(32);
static struct { char b[4096]; } priv_pages[NREG] __aligned(4096);

/* Stand-ins for abort handlers never jumped to: good, then bad signature. */
static uint32_t fake_sigs[4] = { SIG, 0, OTHER_SIG, 0 };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int time_left(double share)
{
	return now() - t_start < share * seconds;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rndn(uint64_t *s, uint32_t n)
{
	return rnd(s) % n;
}

/* The generator of one thread or case: reproducible from the seed. */
static uint64_t rng_for(uint64_t stream, uint64_t idx)
{
	uint64_t s = seed ^ (stream << 48) ^ (idx * 0x2545f4914f6cdd1dULL);

	rnd(&s);
	return s;
}

static void sleep_us(unsigned int us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	nanosleep(&ts, NULL);
}

/* Context switches of the calling thread so far, or -1. */
static long thread_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return -1;
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

/*
 * Sleeps @us, and again until the thread was switched out at least once
 * since the call: a short timer can expire before the sleep blocks (under
 * TCG, often enough), and then nothing was switched. Returns 0 once it
 * was (or when the count cannot be read), -1 after five sleeps without.
 */
static int sleep_switched(unsigned int us)
{
	long before = thread_switches();
	int i;

	for (i = 0; i < 5; i++) {
		sleep_us(us);
		if (before < 0 || thread_switches() != before)
			return 0;
	}
	return -1;
}

static pid_t gettid_(void)
{
	return syscall(SYS_gettid);
}

static long sys_rseq(uintptr_t area, uint32_t len, int flags, uint32_t sig)
{
	long ret = syscall(__NR_rseq, (void *)area, len, flags, sig);

	return ret < 0 ? -errno : ret;
}

static long sys_membarrier(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0, 0) < 0 ? -errno : 0;
}

static int getcpu_(void)
{
	unsigned int cpu, node;

	if (syscall(__NR_getcpu, &cpu, &node, NULL))
		return -1;
	return cpu;
}

static void count(unsigned long *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static void __printf(2, 3) mismatch(int test, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&msg_lock);
	fails[test]++;
	if (fails[test] <= MAX_MSGS)
		ksft_print_msg("MISMATCH %s: seed %llu %s\n", test_names[test],
			       (unsigned long long)seed, buf);
	else if (fails[test] == MAX_MSGS + 1)
		ksft_print_msg("%s: further mismatches not shown\n", test_names[test]);
	fflush(stdout);
	pthread_mutex_unlock(&msg_lock);
}

static const char *err_name(long e)
{
	static char other[4][24];
	static int n;
	char *b;

	switch (e) {
	case 0: return "0";
	case -EINVAL: return "EINVAL";
	case -EPERM: return "EPERM";
	case -EBUSY: return "EBUSY";
	case -EFAULT: return "EFAULT";
	case -ENOMEM: return "ENOMEM";
	}
	if (e == no_syscall)
		return "ENOSYS";
	b = other[__atomic_fetch_add(&n, 1, __ATOMIC_RELAXED) & 3];
	snprintf(b, sizeof(other[0]), "%ld", e);
	return b;
}

/*
 * Per-thread state the signal handler looks at: the area the thread has
 * registered (NULL while it is not, or when another thread may share it),
 * the section it is running, and what the handler found wrong.
 */
enum { H_CS_SET = 1, H_IDS, H_IP };

struct tstate {
	struct rseq *area;
	uint64_t armed_start, armed_len;
	unsigned long signals;
	unsigned long hfails;
	int hwhat;
	uint64_t hv[4];
};

static __thread struct tstate ts;

struct idsnap {
	uint32_t start, cpu, node, cid;
};

/*
 * Whether the id fields of an area the kernel keeps up to date are wrong:
 * a CPU that does not exist, cpu_id_start other than cpu_id, the wrong
 * node, a concurrency id out of range. The fields are read again when the
 * thread was moved meanwhile. Async-signal-safe.
 */
static int ids_bad(struct rseq *area, struct idsnap *s)
{
	struct rseq *a = area;
	int i;

	for (i = 0; i < 8; i++) {
		s->start = LOAD_ONCE(a->cpu_id_start);
		s->cpu = LOAD_ONCE(a->cpu_id);
		s->node = LOAD_ONCE(a->node_id);
		s->cid = LOAD_ONCE(a->mm_cid);
		if (LOAD_ONCE(a->cpu_id_start) == s->start && LOAD_ONCE(a->cpu_id) == s->cpu)
			break;
	}
	if (s->cpu != s->start)
		return 1;
	if (s->cpu >= (uint32_t)ncpus)
		return 2;
	if (node_of[s->cpu] >= 0 && s->node != (uint32_t)node_of[s->cpu])
		return 3;
	if (s->cid >= (uint32_t)ncpus)
		return 4;
	return 0;
}

static const char *const ids_why[] = {
	"ok", "cpu_id_start differs from cpu_id", "cpu_id is no CPU",
	"node_id is not the CPU's node", "mm_cid out of range",
};

static uint64_t uc_ip(void *ucv)
{
	ucontext_t *uc = ucv;

#if defined(__x86_64__)
	return uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return uc->uc_mcontext.pc;
#elif defined(__arm__)
	return uc->uc_mcontext.arm_pc;
#else
	(void)uc;
	return 0;
#endif
}

static void hfail(int what, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	if (!ts.hfails++) {
		ts.hwhat = what;
		ts.hv[0] = a;
		ts.hv[1] = b;
		ts.hv[2] = c;
		ts.hv[3] = d;
	}
}

/*
 * On signal delivery the kernel looks at the area: it moves a thread
 * inside its section to the abort handler, clears rseq_cs (6.12 does
 * outside the section too) and stores the ids, all before the handler
 * runs.
 */
static void on_signal(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct rseq *a = ts.area;
	uint64_t ip = uc_ip(ucv);
	struct idsnap s;
	int bad;

	(void)sig;
	(void)si;
	ts.signals++;
	if (a) {
		uint64_t cs = LOAD_ONCE(a->rseq_cs);

		if (cs)
			hfail(H_CS_SET, cs, ip, 0, 0);
		bad = ids_bad(a, &s);
		if (bad)
			hfail(H_IDS, bad, s.start, s.cpu, ((uint64_t)s.node << 32) | s.cid);
	}
	if (ts.armed_len && ip - ts.armed_start < ts.armed_len)
		hfail(H_IP, ip, ts.armed_start, ts.armed_len, 0);
	errno = saved;
}

static void describe_hfail(char *buf, size_t len)
{
	switch (ts.hwhat) {
	case H_CS_SET:
		snprintf(buf, len, "signal handler started with rseq_cs %#llx (ip %#llx), want 0",
			 (unsigned long long)ts.hv[0], (unsigned long long)ts.hv[1]);
		break;
	case H_IDS:
		snprintf(buf, len,
			 "signal handler started with bad ids (%s): cpu_id_start %u cpu_id %u node_id %u mm_cid %u",
			 ids_why[ts.hv[0]], (unsigned int)ts.hv[1], (unsigned int)ts.hv[2],
			 (unsigned int)(ts.hv[3] >> 32), (unsigned int)ts.hv[3]);
		break;
	case H_IP:
		snprintf(buf, len,
			 "signal handler started at ip %#llx, inside the section [%#llx, +%#llx): no abort",
			 (unsigned long long)ts.hv[0], (unsigned long long)ts.hv[1],
			 (unsigned long long)ts.hv[2]);
		break;
	default:
		snprintf(buf, len, "?");
	}
}

/* Reports what the handler found since the last call, in test @t. */
static void check_handler(int t, const char *ctx)
{
	char buf[256];

	if (!ts.hfails)
		return;
	describe_hfail(buf, sizeof(buf));
	mismatch(t, "%s: %s (%lu times)", ctx, buf, ts.hfails);
	ts.hfails = 0;
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR2, &sa, NULL) ||
	    sigaction(SIGALRM, &sa, NULL))
		ksft_exit_fail_msg("sigaction: %s\n", strerror(errno));
}

static void block_sigalrm(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(how, &set, NULL);
}

/*
 * Right after a successful registration the ids must already be valid,
 * and show the CPU the thread runs on: compared with getcpu(), with a few
 * retries in case the thread moves.
 */
static int ids_now(struct rseq *a, char *buf, size_t len)
{
	struct idsnap s;
	int bad = ids_bad(a, &s), i, g = -1;
	uint32_t c1 = s.cpu, c2 = s.cpu;

	count(&checks[T_IDS]);
	if (bad) {
		snprintf(buf, len, "%s: cpu_id_start %u cpu_id %u node_id %u mm_cid %u",
			 ids_why[bad], s.start, s.cpu, s.node, s.cid);
		return 1;
	}
	for (i = 0; i < 10; i++) {
		c1 = LOAD_ONCE(a->cpu_id);
		g = getcpu_();
		c2 = LOAD_ONCE(a->cpu_id);
		if (c1 == (uint32_t)g && c2 == c1)
			return 0;
	}
	snprintf(buf, len, "cpu_id %u then %u, getcpu() %d, ten times in a row", c1, c2, g);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Registration fuzzing                                                */

enum akind {
	A_PRIV0, A_PRIV1, A_PRIV_END, A_EDGE, A_SHARED, A_NULL, A_HOLE,
	A_PROTNONE, A_RO_CS, A_HIGH, A_KERNEL, NAKINDS,
	A_RO_ZERO = NAKINDS, A_ALL
};

enum aprop { P_PRIV, P_SHARED, P_NOREAD, P_ROCS, P_ROZERO };

static const char *const akind_names[A_ALL] = {
	"priv0", "priv1", "priv_end", "edge", "shared", "null", "hole",
	"protnone", "ro_cs", "high", "kernel", "ro_zero",
};

static const int akind_prop[A_ALL] = {
	P_PRIV, P_PRIV, P_PRIV, P_PRIV, P_SHARED, P_NOREAD, P_NOREAD,
	P_NOREAD, P_ROCS, P_NOREAD, P_NOREAD, P_ROZERO,
};

/* Addresses shared by all threads. */
static char *ro_page;		/* +0: rseq_cs set, +64: all zero */
static char *cs_map;		/* the same, for descriptors */

/*
 * Three pages: read-write, unmapped, PROT_NONE. They are placed low in
 * the address space, where mmap() does not look for room while there is
 * any higher up: a one-page hole near the others would soon be filled.
 */
static char *map_with_hole(void)
{
	static uintptr_t next = 0x20000000;
	char *p;
	int i;

	for (i = 0; i < 256; i++, next += 16 * page_size) {
		p = mmap((void *)next, 3 * page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			continue;
		if (p != (void *)next) {	/* a kernel without the flag */
			munmap(p, 3 * page_size);
			continue;
		}
		if (munmap(p + page_size, page_size) ||
		    mprotect(p + 2 * page_size, page_size, PROT_NONE))
			break;
		next += 16 * page_size;
		return p;
	}
	ksft_exit_fail_msg("cannot map pages with a hole: %s\n", strerror(errno));
}

/*
 * An area past TASK_SIZE on every configuration: above 2^56 (x86-64 with
 * five-level page tables), or the last bytes below 4 GiB (above the 3 GiB
 * of a 32-bit arm kernel, and past the end of the compat address space of
 * an arm64 kernel).
 */
static uintptr_t high_addr(void)
{
	return sizeof(long) == 8 ? (uintptr_t)(1ULL << 56) : (uintptr_t)0xffffffe0UL;
}

enum { RES_OK, RES_EINVAL, RES_EPERM, RES_EBUSY, RES_EFAULT, RES_OTHER, RES_SKIP, NRES };
static const char *const res_names[NRES] = {
	"ok", "EINVAL", "EPERM", "EBUSY", "EFAULT", "other", "unsure",
};

static unsigned long reg_cov[A_ALL][NRES];

static int res_of(long r)
{
	switch (r) {
	case 0: return RES_OK;
	case -EINVAL: return RES_EINVAL;
	case -EPERM: return RES_EPERM;
	case -EBUSY: return RES_EBUSY;
	case -EFAULT: return RES_EFAULT;
	}
	return RES_OTHER;
}

enum {
	F_INHERIT, F_RO_ZERO, F_UNREG_RO, F_UNMAP, F_THREAD, F_SILENT, F_RO_SLEEP,
	F_DONTNEED, NFORKOPS
};

static const char *const forkop_names[NFORKOPS] = {
	"fork keeps the registration", "read-only area: SIGSEGV on return",
	"unregister a read-only area", "area unmapped, then a sleep: SIGSEGV",
	"new thread unregistered", "unregistered area left alone",
	"area made read-only, a sleep and a signal: SIGSEGV",
	"area page dropped, then a sleep: ids",
};

static unsigned long forkop_cov[NFORKOPS][2];	/* passed, failed */

/* A thread's registration, as the model sees it. */
struct mstate {
	int reg;
	uintptr_t area;
	int kind;
	uint32_t len, sig;
};

struct regthr {
	int idx;
	pthread_t th;
	uint64_t rng;
	unsigned long calls, skipped;
	uintptr_t base[A_ALL];
	char *edge;		/* RW page, hole, PROT_NONE */
	struct mstate m;
};

static struct regthr regthr[NREG];

/*
 * The errno Linux 6.12 returns for rseq(a, len, flags, sig) given the
 * thread's registration @m, for an area with property @prop. Sets
 * *unsure when the answer depends on exactly where TASK_SIZE is.
 */
static long predict(const struct mstate *m, uintptr_t a, int prop, uint32_t len,
		    int flags, uint32_t sig, int *unsure)
{
	uint64_t end;

	*unsure = 0;
	if (flags & RSEQ_FLAG_UNREGISTER) {
		if (flags & ~RSEQ_FLAG_UNREGISTER)
			return -EINVAL;
		if (!m->reg || m->area != a || m->len != len)
			return -EINVAL;
		if (m->sig != sig)
			return -EPERM;
		return 0;	/* the areas the model registers stay writable */
	}
	if (flags)
		return -EINVAL;
	if (m->reg) {
		if (m->area != a || m->len != len)
			return -EINVAL;
		if (m->sig != sig)
			return -EPERM;
		return -EBUSY;
	}
	if (len < 32)
		return -EINVAL;
	if (len == 32 && a % 32)
		return -EINVAL;
	if (len != 32 && (a % rseq_align || len < feature_size))
		return -EINVAL;
	/* access_ok(), then the read of rseq_cs. */
	if (prop == P_NOREAD)
		return -EFAULT;
	end = (uint64_t)a + len;
	if (end > user_hi)
		return -EFAULT;
	if (end > user_lo) {
		*unsure = 1;
		return 0;
	}
	/* A non-zero rseq_cs is cleared: that store faults. */
	if (prop == P_ROCS)
		return -EFAULT;
	return 0;	/* P_ROZERO: then SIGSEGV on the way back */
}

static void describe_call(char *buf, size_t len, int kind, uintptr_t off, uintptr_t a,
			  uint32_t rlen, int flags, uint32_t sig)
{
	char sigs[16];

	if (sig == SIG)
		snprintf(sigs, sizeof(sigs), "SIG");
	else
		snprintf(sigs, sizeof(sigs), "%#x", sig);
	snprintf(buf, len, "rseq(%s+%lu = %#lx, len %u, flags %#x, sig %s)", akind_names[kind],
		 (unsigned long)off, (unsigned long)a, rlen, (unsigned int)flags, sigs);
}

static void describe_state(char *buf, size_t len, const struct mstate *m)
{
	if (!m->reg)
		snprintf(buf, len, "unregistered");
	else
		snprintf(buf, len, "registered %s %#lx len %u sig %#x", akind_names[m->kind],
			 (unsigned long)m->area, m->len, m->sig);
}

static const uint32_t some_lens[] = {
	0, 1, 16, 28, 31, 33, 40, 48, 63, 64, 96, 128, 4096, 65536, 1U << 20,
	0x7fffffff, 0xfffffffe, 0xffffffff,
};

static const int some_flags[] = {
	2, 3, 4, 0x100, 0x101, INT_MIN, INT_MIN | 1, -1,
};

static const uintptr_t some_offsets[] = { 1, 2, 4, 8, 16, 24 };

static uint32_t pick_len(struct regthr *t)
{
	uint32_t r = rndn(&t->rng, 100);

	if (r < 45)
		return 32;
	if (r < 55)
		return feature_size;
	if (r < 60)
		return (feature_size + rseq_align - 1) / rseq_align * rseq_align;
	if (r < 65 && t->m.reg)
		return t->m.len;
	if (r < 95)
		return some_lens[rndn(&t->rng, ARRAY_SIZE(some_lens))];
	return (uint32_t)rnd(&t->rng);
}

static int pick_flags(struct regthr *t)
{
	uint32_t r = rndn(&t->rng, 100);

	if (r < 60)
		return 0;
	if (r < 85)
		return RSEQ_FLAG_UNREGISTER;
	if (r < 97)
		return some_flags[rndn(&t->rng, ARRAY_SIZE(some_flags))];
	return (int)rnd(&t->rng);
}

static uint32_t pick_sig(struct regthr *t)
{
	static const uint32_t sigs[] = { OTHER_SIG, 0, ~SIG, SIG ^ 1 };
	uint32_t r = rndn(&t->rng, 100);

	if (r < 85)
		return SIG;
	if (r < 97)
		return sigs[rndn(&t->rng, ARRAY_SIZE(sigs))];
	return (uint32_t)rnd(&t->rng);
}

static int pick_kind(struct regthr *t)
{
	static const int weights[NAKINDS] = { 30, 15, 8, 8, 8, 5, 5, 5, 6, 5, 5 };
	uint32_t r = rndn(&t->rng, 100);
	int k;

	for (k = 0; k < NAKINDS - 1; k++) {
		if (r < (uint32_t)weights[k])
			return k;
		r -= weights[k];
	}
	return NAKINDS - 1;
}

/* Junk in an area about to be registered: the kernel must overwrite it. */
static void prefill(struct regthr *t, struct rseq *a)
{
	a->cpu_id_start = TAG;
	a->cpu_id = rndn(&t->rng, 2) ? TAG : (uint32_t)RSEQ_CPU_ID_UNINITIALIZED;
	a->node_id = TAG;
	a->mm_cid = TAG;
	/* A stale rseq_cs, as a libc reusing an area leaves it: cleared. */
	a->rseq_cs = rndn(&t->rng, 3) ? 0 : (rnd(&t->rng) | 1) & 0xffffffffUL;
	a->flags = rndn(&t->rng, 5) ? 0 : (uint32_t)rnd(&t->rng);
}

static int overlaps(uintptr_t a, uintptr_t b)
{
	return a < b + 32 && b < a + 32;
}

/* In a forked child: does it still have the registration of @m? */
static int child_inherit(struct regthr *t)
{
	struct mstate *m = &t->m;
	char buf[160];

	sched_yield();
	if (!m->reg)
		return sys_rseq(t->base[A_PRIV0], 32, RSEQ_FLAG_UNREGISTER, SIG) == -EINVAL ? 0 : 1;
	if (sys_rseq(m->area, m->len, 0, m->sig) != -EBUSY)
		return 2;
	if (akind_prop[m->kind] == P_PRIV && ids_now((struct rseq *)m->area, buf, sizeof(buf)))
		return 3;
	return sys_rseq(m->area, m->len, RSEQ_FLAG_UNREGISTER, m->sig) == 0 ? 0 : 4;
}

/*
 * In a forked child: a read-only area full of zeros is accepted (6.12
 * reads rseq_cs, finds 0, does not store) and the kernel's store of the
 * ids on the way back kills the thread. With a registration inherited it
 * is refused with EINVAL instead.
 */
static int child_ro_zero(struct regthr *t)
{
	long want = t->m.reg ? -EINVAL : 0;
	long ret = sys_rseq(t->base[A_RO_ZERO], 32, 0, SIG);

	if (ret != want)
		return 10 + res_of(ret);
	return ret == 0 ? 20 : 0;	/* 20: alive after a registration */
}

/*
 * In a forked child: register a fresh page, make it read-only and
 * unregister. 6.12's reset of the ids faults: EFAULT, still registered;
 * the thread dies when the kernel next stores its ids (a signal), or
 * earlier if it was preempted (6.12 stores the ids after every switch).
 */
static int child_unreg_ro(struct regthr *t)
{
	struct rseq *a;
	long ret;

	if (t->m.reg && sys_rseq(t->m.area, t->m.len, RSEQ_FLAG_UNREGISTER, t->m.sig))
		return 30;
	a = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return 31;
	ts.area = NULL;
	if (sys_rseq((uintptr_t)a, 32, 0, SIG))
		return 32;
	if (mprotect(a, page_size, PROT_READ))
		return 33;
	ret = sys_rseq((uintptr_t)a, 32, RSEQ_FLAG_UNREGISTER, SIG);
	if (ret != -EFAULT)
		return 40 + res_of(ret);
	if (sys_rseq((uintptr_t)a, 32, 0, SIG) != -EBUSY)
		return 50;
	raise(SIGUSR1);
	return 51;	/* survived a signal with an unwritable area */
}

/*
 * In a forked child: the area is unmapped, or made read-only, then the
 * thread sleeps. An unmapped area cannot be read at the switch, so the
 * ids are stored on the way back: the store faults and the thread dies
 * of SIGSEGV. A read-only area still shows the ids last stored, which
 * this implementation then leaves alone (6.12 stored them after every
 * switch, documented in rseq.rst), so a signal follows the sleep: its
 * delivery stores them, and the thread dies of SIGSEGV on both.
 */
static int child_gone(struct regthr *t, int unmap)
{
	struct rseq *a;

	if (t->m.reg && sys_rseq(t->m.area, t->m.len, RSEQ_FLAG_UNREGISTER, t->m.sig))
		return 30;
	ts.area = NULL;
	a = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return 31;
	if (sys_rseq((uintptr_t)a, 32, 0, SIG))
		return 32;
	if (unmap ? munmap(a, page_size) : mprotect(a, page_size, PROT_READ))
		return 33;
	if (sleep_switched(1000) && unmap)
		return 61;	/* not judged: the sleeps never switched */
	if (!unmap)
		raise(SIGUSR1);
	return 60;	/* survived */
}

static int child_unmap(struct regthr *t)
{
	return child_gone(t, 1);
}

static int child_ro_sleep(struct regthr *t)
{
	return child_gone(t, 0);
}

static int in_fork(struct regthr *t, int (*fn)(struct regthr *))
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1000;
	if (pid == 0)
		_exit(fn(t));
	if (waitpid(pid, &status, 0) != pid)
		return -1001;
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void *thread_unregistered(void *arg)
{
	struct regthr *t = arg;
	uintptr_t a = (uintptr_t)priv_pages[t->idx].b + 1024;
	char buf[160];
	long r;

	if (t->m.reg && sys_rseq(t->m.area, t->m.len, RSEQ_FLAG_UNREGISTER, t->m.sig) != -EINVAL)
		return (void *)71L;
	if (sys_rseq(a, 32, RSEQ_FLAG_UNREGISTER, SIG) != -EINVAL)
		return (void *)71L;
	prefill(t, (struct rseq *)a);
	r = sys_rseq(a, 32, 0, SIG);
	if (r)
		return (void *)72L;
	if (ids_now((struct rseq *)a, buf, sizeof(buf)) || ((struct rseq *)a)->rseq_cs)
		return (void *)73L;
	return (void *)(sys_rseq(a, 32, RSEQ_FLAG_UNREGISTER, SIG) ? 74L : 0L);
}

/* What the exit code of a child_*() function, or -signal, means. */
static void child_result(char *buf, size_t len, int how)
{
	static const char *const codes[] = {
		[0] = "passed",
		[1] = "unregistration did not fail with EINVAL",
		[2] = "inherited registration: registering it again not EBUSY",
		[3] = "inherited registration: ids not valid",
		[4] = "inherited registration: unregistration failed",
		[20] = "lived on after registering a read-only area",
		[30] = "could not unregister the inherited area",
		[31] = "mmap failed", [32] = "registration failed",
		[33] = "mprotect or munmap failed",
		[50] = "registering again after EFAULT: not EBUSY",
		[51] = "lived on after a signal with an unwritable area",
		[60] = "lived on after the sleep",
		[61] = "five sleeps without a context switch",
		[71] = "new thread: unregistration did not fail with EINVAL",
		[72] = "new thread: registration failed",
		[73] = "new thread: ids not valid or rseq_cs not cleared",
		[74] = "new thread: unregistration failed",
	};

	if (how < 0)
		snprintf(buf, len, "%s %d", how <= -1000 ? "could not fork or wait:" :
			 "killed by signal", how <= -1000 ? how : -how);
	else if (how >= 10 && how < 10 + NRES)
		snprintf(buf, len, "registration returned %s", res_names[how - 10]);
	else if (how >= 40 && how < 40 + NRES)
		snprintf(buf, len, "unregistration returned %s, want EFAULT",
			 res_names[how - 40]);
	else if (how < (int)ARRAY_SIZE(codes) && codes[how])
		snprintf(buf, len, "%s", codes[how]);
	else
		snprintf(buf, len, "exit code %d", how);
}

static void fork_op(struct regthr *t, unsigned long it, int op)
{
	char st[128], got[96];
	void *res = NULL;
	pthread_t th;
	int how, ok;

	describe_state(st, sizeof(st), &t->m);
	switch (op) {
	case F_INHERIT:
		how = in_fork(t, child_inherit);
		ok = how == 0;
		break;
	case F_RO_ZERO:
		how = in_fork(t, child_ro_zero);
		ok = t->m.reg ? how == 0 : how == -SIGSEGV;
		break;
	case F_UNREG_RO:
		how = in_fork(t, child_unreg_ro);
		ok = how == -SIGSEGV;
		break;
	case F_UNMAP:
		how = in_fork(t, child_unmap);
		if (how == 61)
			return;		/* nothing to judge */
		ok = how == -SIGSEGV;
		break;
	case F_RO_SLEEP:
		how = in_fork(t, child_ro_sleep);
		ok = how == -SIGSEGV;
		break;
	default:
		if (pthread_create(&th, NULL, thread_unregistered, t) || pthread_join(th, &res))
			how = -1000;
		else
			how = (int)(long)res;
		ok = how == 0;
		break;
	}
	count(&forkop_cov[op][ok ? 0 : 1]);
	count(&checks[op == F_RO_SLEEP ? T_SWITCH : T_REG_CHILD]);
	if (!ok) {
		child_result(got, sizeof(got), how);
		mismatch(op == F_RO_SLEEP ? T_SWITCH : T_REG_CHILD,
			 "thread %d iter %lu [%s]: %s: %s",
			 t->idx, it, st, forkop_names[op], got);
	}
}

/*
 * After an unregistration: tags in the id fields, a signal, a yield; the
 * kernel must not write the area any more.
 */
static int left_alone(struct rseq *a)
{
	STORE_ONCE(a->cpu_id_start, TAG);
	STORE_ONCE(a->cpu_id, TAG);
	STORE_ONCE(a->node_id, TAG);
	STORE_ONCE(a->mm_cid, TAG);
	raise(SIGUSR2);
	sched_yield();
	return LOAD_ONCE(a->cpu_id_start) == TAG && LOAD_ONCE(a->cpu_id) == TAG &&
	       LOAD_ONCE(a->node_id) == TAG && LOAD_ONCE(a->mm_cid) == TAG;
}

static void reg_call(struct regthr *t, unsigned long it)
{
	struct mstate *m = &t->m;
	uintptr_t off = 0, a;
	int kind, flags, prop, unsure, priv;
	uint32_t len, sig;
	char call[192], st[128], buf[192];
	long want, got;

	if (m->reg && rndn(&t->rng, 100) < 35) {
		/* Near the registration: one parameter changed, or none. */
		kind = m->kind;
		len = m->len;
		sig = m->sig;
		flags = rndn(&t->rng, 2) ? RSEQ_FLAG_UNREGISTER : 0;
		switch (rndn(&t->rng, 6)) {
		case 0:
			len = pick_len(t);
			break;
		case 1:
			sig = pick_sig(t);
			break;
		case 2:
			flags = pick_flags(t);
			break;
		case 3:
			off = some_offsets[rndn(&t->rng, ARRAY_SIZE(some_offsets))];
			break;
		}
	} else {
		kind = pick_kind(t);
		len = pick_len(t);
		flags = pick_flags(t);
		sig = pick_sig(t);
		if (rndn(&t->rng, 100) < 12)
			off = some_offsets[rndn(&t->rng, ARRAY_SIZE(some_offsets))];
	}
	a = t->base[kind] + off;
	prop = akind_prop[kind];
	priv = prop == P_PRIV && off == 0;
	want = predict(m, a, prop, len, flags, sig, &unsure);
	if (unsure) {
		count(&reg_cov[kind][RES_SKIP]);
		t->skipped++;
		return;
	}
	/* Junk in a private area this thread has not registered. */
	if (priv && !(flags & RSEQ_FLAG_UNREGISTER) &&
	    !(m->reg && overlaps(m->area, a)) && rndn(&t->rng, 2))
		prefill(t, (struct rseq *)a);
	if (flags & RSEQ_FLAG_UNREGISTER && m->reg && m->area == a)
		ts.area = NULL;	/* the handler must not check it any more */
	got = sys_rseq(a, len, flags, sig);
	t->calls++;
	count(&reg_cov[kind][res_of(got)]);
	count(&checks[T_REG]);
	describe_call(call, sizeof(call), kind, off, a, len, flags, sig);
	describe_state(st, sizeof(st), m);
	if (got != want)
		mismatch(T_REG, "thread %d iter %lu: %s [%s]: expected %s, got %s", t->idx, it,
			 call, st, err_name(want), err_name(got));
	if (got == 0 && !(flags & RSEQ_FLAG_UNREGISTER)) {
		m->reg = 1;
		m->area = a;
		m->kind = kind;
		m->len = len;
		m->sig = sig;
		if (priv) {
			if (ids_now((struct rseq *)a, buf, sizeof(buf)))
				mismatch(T_IDS, "thread %d iter %lu: after %s: %s", t->idx, it,
					 call, buf);
			if (((struct rseq *)a)->rseq_cs)
				mismatch(T_REG,
					 "thread %d iter %lu: after %s: rseq_cs %#llx not cleared",
					 t->idx, it, call,
					 (unsigned long long)((struct rseq *)a)->rseq_cs);
			ts.area = (struct rseq *)a;
		}
	} else if (got == 0) {
		struct rseq *r = (struct rseq *)a;

		m->reg = 0;
		if (priv) {
			count(&checks[T_IDS]);
			if (r->cpu_id_start || r->cpu_id != (uint32_t)RSEQ_CPU_ID_UNINITIALIZED ||
			    r->node_id || r->mm_cid)
				mismatch(T_IDS,
					 "thread %d iter %lu: after %s: cpu_id_start %u cpu_id %d node_id %u mm_cid %u, want 0 -1 0 0",
					 t->idx, it, call, r->cpu_id_start, (int)r->cpu_id,
					 r->node_id, r->mm_cid);
			if (rndn(&t->rng, 8) == 0) {
				int ok = left_alone(r);

				count(&forkop_cov[F_SILENT][ok ? 0 : 1]);
				count(&checks[T_REG_CHILD]);
				if (!ok)
					mismatch(T_REG_CHILD,
						 "thread %d iter %lu: after %s: the kernel wrote the unregistered area",
						 t->idx, it, call);
			}
		}
	} else if (m->reg && m->area == a && (flags & RSEQ_FLAG_UNREGISTER)) {
		/* The unregistration failed: still registered. */
		if (akind_prop[m->kind] == P_PRIV)
			ts.area = (struct rseq *)a;
	}
	/* Still registered after a failed call: the ids stay valid. */
	if (got && m->reg && akind_prop[m->kind] == P_PRIV && rndn(&t->rng, 4) == 0 &&
	    ids_now((struct rseq *)m->area, buf, sizeof(buf)))
		mismatch(T_IDS, "thread %d iter %lu: [%s], after %s: %s", t->idx, it, st, call,
			 buf);
	check_handler(T_IDS, "registration thread");
}

/* A tag in cpu_id_start, as TCMalloc stores: a signal must overwrite it. */
static void tag_signal(struct regthr *t, unsigned long it)
{
	struct rseq *a = (struct rseq *)t->m.area;
	char buf[192];

	if (!t->m.reg || akind_prop[t->m.kind] != P_PRIV)
		return;
	a->cpu_id_start = TAG;
	raise(SIGUSR1);
	count(&checks[T_IDS]);
	if (a->cpu_id_start == TAG)
		mismatch(T_IDS, "thread %d iter %lu: cpu_id_start still %#x after a signal",
			 t->idx, it, TAG);
	else if (ids_now(a, buf, sizeof(buf)))
		mismatch(T_IDS, "thread %d iter %lu: after a signal: %s", t->idx, it, buf);
}

/*
 * The page of the area is dropped (MADV_DONTNEED: it reads as zeros),
 * then the thread sleeps until it was switched out. 6.12 stores the ids
 * after every context switch: they must be valid when the sleep returns.
 */
static void dontneed(struct regthr *t, unsigned long it)
{
	char buf[192];
	int bad;

	if (!t->m.reg || t->m.kind != A_EDGE)
		return;
	if (madvise(t->edge, page_size, MADV_DONTNEED)) {
		mismatch(T_SWITCH, "thread %d iter %lu: madvise: %s", t->idx, it, strerror(errno));
		return;
	}
	if (sleep_switched(1000))
		return;		/* no switch: nothing to judge */
	bad = ids_now((struct rseq *)t->m.area, buf, sizeof(buf));
	count(&forkop_cov[F_DONTNEED][bad ? 1 : 0]);
	count(&checks[T_SWITCH]);
	if (bad) {
		mismatch(T_SWITCH,
			 "thread %d iter %lu: page of the registered area dropped with MADV_DONTNEED, then a 1 ms sleep: %s",
			 t->idx, it, buf);
		/* A signal makes the kernel store them: no knock-on failures. */
		raise(SIGUSR2);
	}
}

static void *reg_thread(void *arg)
{
	struct regthr *t = arg;
	unsigned long it;
	uint32_t r;

	for (it = 0; it < iters && time_left(0.9); it++) {
		r = rndn(&t->rng, 1000);
		if (r < 6)
			fork_op(t, it, F_INHERIT);
		else if (r < 10)
			fork_op(t, it, F_RO_ZERO);
		else if (r < 13)
			fork_op(t, it, F_UNREG_RO);
		else if (r < 16)
			fork_op(t, it, F_UNMAP);
		else if (r < 19)
			fork_op(t, it, F_RO_SLEEP);
		else if (r < 24)
			fork_op(t, it, F_THREAD);
		else if (r < 36)
			tag_signal(t, it);
		else if (r < 60 && t->m.reg && t->m.kind == A_EDGE)
			dontneed(t, it);
		else
			reg_call(t, it);
	}
	if (t->m.reg) {
		ts.area = NULL;
		if (sys_rseq(t->m.area, t->m.len, RSEQ_FLAG_UNREGISTER, t->m.sig))
			mismatch(T_REG, "thread %d: final unregistration failed", t->idx);
	}
	return NULL;
}

static void setup_reg_threads(void)
{
	int i;

	ro_page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (ro_page == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	((struct rseq *)ro_page)->rseq_cs = 0x1000;
	if (mprotect(ro_page, page_size, PROT_READ))
		ksft_exit_fail_msg("mprotect: %s\n", strerror(errno));
	for (i = 0; i < NREG; i++) {
		struct regthr *t = &regthr[i];
		char *p = map_with_hole();

		t->idx = i;
		t->rng = rng_for(1, i);
		t->edge = p;
		t->base[A_PRIV0] = (uintptr_t)priv_pages[i].b;
		t->base[A_PRIV1] = (uintptr_t)priv_pages[i].b + 256;
		t->base[A_PRIV_END] = (uintptr_t)priv_pages[i].b + 4096 - 32;
		t->base[A_EDGE] = (uintptr_t)p + page_size - 32;
		t->base[A_SHARED] = (uintptr_t)&shared_area;
		t->base[A_NULL] = 0;
		t->base[A_HOLE] = (uintptr_t)p + page_size + 64 * i;
		t->base[A_PROTNONE] = (uintptr_t)p + 2 * page_size + 64 * i;
		t->base[A_RO_CS] = (uintptr_t)ro_page;
		t->base[A_HIGH] = high_addr();
		t->base[A_KERNEL] = (uintptr_t)-4096L;
		t->base[A_RO_ZERO] = (uintptr_t)ro_page + 64;
	}
}

/* ------------------------------------------------------------------ */
/* Critical sections                                                   */

#ifndef NO_CS_ASM

enum cskind {
	K_VALID, K_SUPER, K_PARTIAL, K_EMPTY, K_ELSEWHERE, K_MISALIGNED,
	K_FLAGS_ELSEWHERE, K_FLAGS, K_TFLAGS,
	K_BADSIG, K_SIG_UNREADABLE, K_ABORT_LOW, K_ABORT_INSIDE, K_VERSION,
	K_START_HIGH, K_END_HIGH, K_OVERFLOW, K_ABORT_HIGH, K_PTR_HOLE,
	K_PTR_HIGH, K_PTR_PROTNONE, K_STRADDLE, K_BAD_ELSEWHERE, NKINDS
};

enum { ST_VALID, ST_FLAGS, ST_BAD };
enum { C_FULL, C_PART, C_NONE };

static const struct {
	const char *name;
	int status, contain, spin_only;
} kinds[NKINDS] = {
	[K_VALID] = { "valid", ST_VALID, C_FULL, 0 },
	[K_SUPER] = { "valid_superset", ST_VALID, C_FULL, 1 },
	[K_PARTIAL] = { "valid_partial", ST_VALID, C_PART, 1 },
	[K_EMPTY] = { "valid_empty", ST_VALID, C_NONE, 1 },
	[K_ELSEWHERE] = { "valid_elsewhere", ST_VALID, C_NONE, 0 },
	[K_MISALIGNED] = { "valid_misaligned", ST_VALID, C_FULL, 0 },
	[K_FLAGS_ELSEWHERE] = { "flags_elsewhere", ST_FLAGS, C_NONE, 0 },
	[K_FLAGS] = { "cs_flags", ST_FLAGS, C_FULL, 0 },
	[K_TFLAGS] = { "rseq_flags", ST_FLAGS, C_FULL, 0 },
	[K_BADSIG] = { "bad_sig", ST_BAD, C_FULL, 0 },
	[K_SIG_UNREADABLE] = { "sig_unreadable", ST_BAD, C_FULL, 0 },
	[K_ABORT_LOW] = { "abort_low", ST_BAD, C_FULL, 0 },
	[K_ABORT_INSIDE] = { "abort_inside", ST_BAD, C_FULL, 0 },
	[K_VERSION] = { "version", ST_BAD, C_FULL, 0 },
	[K_START_HIGH] = { "start_high", ST_BAD, C_NONE, 0 },
	[K_END_HIGH] = { "end_high", ST_BAD, C_FULL, 0 },
	[K_OVERFLOW] = { "end_overflows", ST_BAD, C_FULL, 0 },
	[K_ABORT_HIGH] = { "abort_high", ST_BAD, C_FULL, 0 },
	[K_PTR_HOLE] = { "ptr_unmapped", ST_BAD, C_FULL, 0 },
	[K_PTR_HIGH] = { "ptr_high", ST_BAD, C_FULL, 0 },
	[K_PTR_PROTNONE] = { "ptr_protnone", ST_BAD, C_FULL, 0 },
	[K_STRADDLE] = { "ptr_straddles", ST_BAD, C_FULL, 0 },
	[K_BAD_ELSEWHERE] = { "badsig_elsewhere", ST_BAD, C_NONE, 0 },
};

enum evmode {
	EVT_NONE, EVT_PREEMPT, EVT_MIGRATE, EVT_TIMER, EVT_TGKILL, EVT_FENCE, EVT_SELF,
	EVT_SYSCALL, NMODES
};

static const char *const mode_names[NMODES] = {
	"none", "preempt", "migrate", "timer", "tgkill", "fence", "kill_self",
	"syscall",
};

enum { OUT_COMPLETE, OUT_ABORT, OUT_BADSIG_JUMP, OUT_SEGV, OUT_OTHER, NOUT };
static const char *const out_names[NOUT] = {
	"complete", "abort", "badsig_jump", "SIGSEGV", "other",
};

/* Low bits of a case's result: OUT_*; these flag broken postconditions. */
#define CF_NOCLEAR	0x08	/* aborted, rseq_cs not cleared */
#define CF_TAG		0x10	/* aborted, cpu_id_start not rewritten */
#define CF_STALE	0x20	/* rseq_cs not cleared after a signal outside */
#define CF_HANDLER	0x40	/* the signal handler found something */
#define CF_SETUP	0x80	/* could not set the case up */

enum { POST_NONE, POST_RAISE };
enum { LOC_NORMAL, LOC_MISALIGNED, LOC_STRADDLE, LOC_RAW };

struct cs_case {
	unsigned long idx;
	int kind, mode, post, tag, loc;
	uint32_t tflags;
	unsigned long count;
	struct rseq_cs d;
	uintptr_t raw_ptr;	/* LOC_RAW: the value stored into rseq_cs */
	unsigned int allowed;	/* 1 << OUT_* */
	unsigned int interval;	/* us between events */
};

static struct rseq_cs desc_normal;
static char desc_buf[96] __aligned(32);
static int desc_mis_off;

static unsigned long cs_cov[2][NKINDS][NOUT];
static unsigned long flag_deaths[2];	/* deprecated, unknown bits */
static unsigned long mode_cov[2][NMODES][NOUT];

static uint64_t high_u64(uint64_t *r)
{
	static const uint64_t h64[] = {
		1ULL << 56, 1ULL << 63, ~0ULL - 4095, 0xffff800000000000ULL, ~0ULL,
	};
	/* At or past TASK_SIZE of 32-bit arm and of arm64's compat tasks. */
	static const uint64_t h32[] = {
		0xfffff000ULL, 0xffffffe0ULL, 1ULL << 32, 1ULL << 63, ~0ULL,
	};

	if (sizeof(long) == 8)
		return h64[rndn(r, ARRAY_SIZE(h64))];
	return h32[rndn(r, ARRAY_SIZE(h32))];
}

struct section {
	uintptr_t func, start, end, abort, badsig_abort;
};

static void target_sections(int kill, struct section *s, struct section *o)
{
	struct section spin = {
		(uintptr_t)cs_spin, (uintptr_t)cs_spin_start, (uintptr_t)cs_spin_end,
		(uintptr_t)cs_spin_abort, (uintptr_t)cs_spin_badsig,
	};
	struct section killsec = {
		(uintptr_t)cs_kill, (uintptr_t)cs_kill_start, (uintptr_t)cs_kill_end,
		(uintptr_t)cs_kill_abort, (uintptr_t)&fake_sigs[3],
	};

	*s = kill ? killsec : spin;
	*o = kill ? spin : killsec;
}

static int is_kill_mode(int mode)
{
	return mode == EVT_SELF || mode == EVT_SYSCALL;
}

/*
 * What Linux 6.12 may do with case @c: 1 << OUT_* for each outcome the
 * model allows. "Forced" means an event surely makes the kernel look at
 * rseq_cs while the thread is inside the loop: the thread then spins
 * "forever" (LONG_SPIN), so the event must end the section.
 */
static unsigned int expect_cs(const struct cs_case *c)
{
	int st = kinds[c->kind].status, ct = kinds[c->kind].contain;
	int forced;

	if (st == ST_BAD && c->post == POST_RAISE)
		return 1 << OUT_SEGV;	/* the signal after it looks at it */
	if (is_kill_mode(c->mode)) {
		int sig = c->mode == EVT_SELF;

		/* CONFIG_DEBUG_RSEQ: rseq_syscall() on the way out. */
		if (debug_rseq && (st == ST_BAD || ct == C_FULL))
			return 1 << OUT_SEGV;
		if (st == ST_BAD)
			return sig ? 1 << OUT_SEGV : (1 << OUT_COMPLETE) | (1 << OUT_SEGV);
		if (ct == C_NONE)
			return 1 << OUT_COMPLETE;
		if (st == ST_FLAGS)
			return sig ? 1 << OUT_SEGV : (1 << OUT_COMPLETE) | (1 << OUT_SEGV);
		return sig ? 1 << OUT_ABORT : (1 << OUT_COMPLETE) | (1 << OUT_ABORT);
	}
	forced = c->mode != EVT_NONE && ct == C_FULL;
	if (st == ST_BAD)
		return forced ? 1 << OUT_SEGV : (1 << OUT_COMPLETE) | (1 << OUT_SEGV);
	if (ct == C_NONE)
		return 1 << OUT_COMPLETE;
	if (st == ST_FLAGS)
		return forced ? 1 << OUT_SEGV : (1 << OUT_COMPLETE) | (1 << OUT_SEGV);
	return forced ? 1 << OUT_ABORT : (1 << OUT_COMPLETE) | (1 << OUT_ABORT);
}

static int mode_available(int mode)
{
	if (mode == EVT_MIGRATE)
		return ncpu_list > 1;
	if (mode == EVT_FENCE)
		return have_fence;
	return 1;
}

static void gen_case(struct cs_case *c, uint64_t *r, unsigned long idx)
{
	struct section s, o;
	uint64_t len;
	int kind;

	memset(c, 0, sizeof(*c));
	c->idx = idx;
	do {
		c->mode = rndn(r, NMODES);
	} while (!mode_available(c->mode));
	do {
		kind = rndn(r, NKINDS);
	} while (is_kill_mode(c->mode) && kinds[kind].spin_only);
	c->kind = kind;
	c->post = rndn(r, 4) == 0 ? POST_RAISE : POST_NONE;
	c->tag = rndn(r, 3) == 0;
	c->interval = 200 + rndn(r, 1800);
	target_sections(is_kill_mode(c->mode), &s, &o);
	len = s.end - s.start;
	c->d.start_ip = s.start;
	c->d.post_commit_offset = len;
	c->d.abort_ip = s.abort;
	c->loc = LOC_NORMAL;
	switch (kind) {
	case K_SUPER:
		c->d.start_ip = s.func + rndn(r, s.start - s.func + 1);
		c->d.post_commit_offset = s.end + rndn(r, s.abort - s.end + 1) - c->d.start_ip;
		break;
	case K_PARTIAL:
		do {
			c->d.start_ip = s.start + rndn(r, len);
			c->d.post_commit_offset = 1 + rndn(r, s.end - c->d.start_ip);
		} while (c->d.start_ip == s.start && c->d.post_commit_offset == len);
		break;
	case K_EMPTY:
		c->d.start_ip = s.start + rndn(r, len);
		c->d.post_commit_offset = 0;
		break;
	case K_ELSEWHERE:
	case K_FLAGS_ELSEWHERE:
	case K_BAD_ELSEWHERE:
		c->d.start_ip = o.start;
		c->d.post_commit_offset = o.end - o.start;
		c->d.abort_ip = kind == K_BAD_ELSEWHERE ? o.badsig_abort : o.abort;
		if (kind == K_FLAGS_ELSEWHERE)
			c->d.flags = 1 + rndn(r, 0xff);
		break;
	case K_MISALIGNED:
		c->loc = LOC_MISALIGNED;
		break;
	case K_FLAGS:
		c->d.flags = rndn(r, 2) ? 1U << rndn(r, 3) : (uint32_t)rnd(r) | 1U << rndn(r, 32);
		break;
	case K_TFLAGS:
		c->tflags = rndn(r, 2) ? 1U << rndn(r, 3) : (uint32_t)rnd(r) | 1U << rndn(r, 32);
		break;
	case K_BADSIG:
		c->d.abort_ip = s.badsig_abort;
		break;
	case K_SIG_UNREADABLE:
		/* The word before it is in the unmapped or PROT_NONE page. */
		c->d.abort_ip = (uintptr_t)cs_map + page_size + 4 +
				4 * rndn(r, 2 * page_size / 4 - 1);
		break;
	case K_ABORT_LOW:
		c->d.abort_ip = rndn(r, 4096);
		break;
	case K_ABORT_INSIDE:
		c->d.abort_ip = s.start + rndn(r, len);
		break;
	case K_VERSION:
		c->d.version = 1 + rndn(r, 0xfffffffe);
		break;
	case K_START_HIGH:
		c->d.start_ip = high_u64(r);
		c->d.post_commit_offset = rndn(r, 64);
		break;
	case K_END_HIGH:
		c->d.post_commit_offset = high_u64(r) - s.start;
		break;
	case K_OVERFLOW:
		c->d.post_commit_offset = (uint64_t)0 - s.start + rndn(r, 256);
		break;
	case K_ABORT_HIGH:
		c->d.abort_ip = high_u64(r);
		break;
	case K_PTR_HOLE:
		c->loc = LOC_RAW;
		c->raw_ptr = (uintptr_t)cs_map + page_size + 32 * rndn(r, page_size / 32);
		break;
	case K_PTR_HIGH:
		c->loc = LOC_RAW;
		c->raw_ptr = sizeof(long) == 8 && rndn(r, 2) ? (uintptr_t)(1ULL << 56) :
			     (uintptr_t)-4096L;
		break;
	case K_PTR_PROTNONE:
		c->loc = LOC_RAW;
		c->raw_ptr = (uintptr_t)cs_map + 2 * page_size + 32 * rndn(r, page_size / 32);
		break;
	case K_STRADDLE:
		c->loc = LOC_STRADDLE;
		break;
	}
	c->allowed = expect_cs(c);
	/* A sure event needs a section that runs until it comes. */
	if (!is_kill_mode(c->mode) && c->mode != EVT_NONE && kinds[kind].contain == C_FULL)
		c->count = LONG_SPIN;
	else
		c->count = 1 + rndn(r, SHORT_SPIN);
}

static void describe_case(char *buf, size_t len, const struct cs_case *c)
{
	char where[64];

	if (c->loc == LOC_RAW)
		snprintf(where, sizeof(where), "rseq_cs = %#lx", (unsigned long)c->raw_ptr);
	else
		snprintf(where, sizeof(where), "descriptor %s",
			 c->loc == LOC_MISALIGNED ? "misaligned" :
			 c->loc == LOC_STRADDLE ? "straddling an unmapped page" : "aligned");
	snprintf(buf, len,
		 "case %lu: %s, event %s%s%s, count %lu, %s {version %u, flags %#x, start_ip %#llx, post_commit_offset %#llx, abort_ip %#llx}, rseq flags %#x",
		 c->idx, kinds[c->kind].name, mode_names[c->mode],
		 c->post == POST_RAISE ? ", then raise()" : "", c->tag ? ", tagged" : "",
		 c->count, where, c->d.version, c->d.flags, (unsigned long long)c->d.start_ip,
		 (unsigned long long)c->d.post_commit_offset, (unsigned long long)c->d.abort_ip,
		 c->tflags);
}

static void describe_allowed(char *buf, size_t len, unsigned int allowed)
{
	int o, n = 0;

	buf[0] = 0;
	for (o = 0; o < NOUT; o++)
		if (allowed & (1 << o))
			n += snprintf(buf + n, len - n, "%s%s", n ? " or " : "", out_names[o]);
}

/* Places the descriptor and returns the value for rseq_cs. */
static uintptr_t place_desc(const struct cs_case *c)
{
	char *p;

	switch (c->loc) {
	case LOC_RAW:
		return c->raw_ptr;
	case LOC_MISALIGNED:
		p = desc_buf + desc_mis_off;
		memcpy(p, &c->d, sizeof(c->d));
		return (uintptr_t)p;
	case LOC_STRADDLE:
		/* Half of it in the last bytes before the unmapped page. */
		p = cs_map + page_size - 16;
		memcpy(p, &c->d, 16);
		return (uintptr_t)p;
	}
	desc_normal = c->d;
	return (uintptr_t)&desc_normal;
}

struct helper {
	pthread_t th;
	int mode, cpu;
	pid_t target;
	unsigned int interval;
	uint64_t rng;
	int done;
	int err;
};

static int pin(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set);
}

static void *helper_fn(void *arg)
{
	struct helper *h = arg;
	int i = 0;

	block_sigalrm(SIG_BLOCK);
	switch (h->mode) {
	case EVT_PREEMPT:
		if (pin(0, h->cpu))
			h->err = errno;
		while (!LOAD_ONCE(h->done))
			;
		break;
	case EVT_MIGRATE:
		while (!LOAD_ONCE(h->done)) {
			if (pin(h->target, cpu_list[(h->cpu + 1 + i++) % ncpu_list]) &&
			    errno != ESRCH)
				h->err = errno;
			sleep_us(h->interval);
		}
		break;
	case EVT_TGKILL:
		while (!LOAD_ONCE(h->done)) {
			syscall(SYS_tgkill, getpid(), h->target, SIGUSR1);
			sleep_us(h->interval);
		}
		break;
	case EVT_FENCE:
		while (!LOAD_ONCE(h->done)) {
			if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ))
				h->err = errno;
			sleep_us(h->interval);
		}
		break;
	}
	return NULL;
}

/*
 * Tells the signal handler which instructions it must never find the
 * thread at: those of the section from the first one after the store of
 * rseq_cs (a signal may come before that store, when there is no section
 * yet to abort).
 */
static void arm_check(const struct cs_case *c)
{
	int kill = is_kill_mode(c->mode);
	uint64_t func = kill ? (uintptr_t)cs_kill : (uintptr_t)cs_spin;
	uint64_t first = kill ? (uintptr_t)cs_kill_start : (uintptr_t)cs_spin_start;
	uint64_t start = c->d.start_ip, end = start + c->d.post_commit_offset;

	if (start >= func && start < first)
		start = first;
	if (end > start) {
		ts.armed_start = start;
		ts.armed_len = end - start;
	}
}

/*
 * Runs case @c in the calling thread, whose registered area is
 * main_area. Returns OUT_* and CF_* bits.
 */
static int run_case(const struct cs_case *c)
{
	struct rseq *a = &main_area;
	uint64_t *slot = (uint64_t *)&main_area.rseq_cs;
	struct helper h = { .mode = c->mode, .interval = c->interval };
	unsigned long hf = ts.hfails;
	uintptr_t ptr = place_desc(c);
	int code, helper = 0, st = kinds[c->kind].status;
	uint64_t after;
	long ret;

	if (c->mode == EVT_FENCE &&
	    sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ))
		return CF_SETUP;
	h.target = gettid_();
	h.cpu = getcpu_();
	if (c->mode == EVT_PREEMPT && (h.cpu < 0 || pin(0, h.cpu)))
		return CF_SETUP;
	if (c->mode == EVT_PREEMPT || c->mode == EVT_MIGRATE || c->mode == EVT_TGKILL ||
	    c->mode == EVT_FENCE) {
		if (pthread_create(&h.th, NULL, helper_fn, &h))
			return CF_SETUP;
		helper = 1;
	}
	if (c->mode == EVT_TIMER) {
		struct itimerval it = {
			.it_interval = { 0, c->interval },
			.it_value = { 0, c->interval },
		};

		setitimer(ITIMER_REAL, &it, NULL);
	}
	if (c->tflags)
		STORE_ONCE(a->flags, c->tflags);
	if (c->tag)
		STORE_ONCE(a->cpu_id_start, TAG);
	if (st != ST_BAD)
		arm_check(c);
	if (is_kill_mode(c->mode))
		ret = cs_kill(slot, (struct rseq_cs *)ptr, getpid(),
			      c->mode == EVT_SELF ? SIGALRM : 0);
	else
		ret = cs_spin(slot, (struct rseq_cs *)ptr, c->count);
	after = LOAD_ONCE(a->rseq_cs);
	if (c->post == POST_NONE)
		STORE_ONCE(a->rseq_cs, 0);
	ts.armed_len = 0;
	STORE_ONCE(h.done, 1);
	if (c->mode == EVT_TIMER) {
		struct itimerval it = { { 0, 0 }, { 0, 0 } };

		setitimer(ITIMER_REAL, &it, NULL);
	}
	if (helper)
		pthread_join(h.th, NULL);
	if (c->tflags)
		STORE_ONCE(a->flags, 0);
	if (ret == 1) {
		code = OUT_ABORT;
		if (after)
			code |= CF_NOCLEAR;
		if (c->tag && LOAD_ONCE(a->cpu_id_start) == TAG)
			code |= CF_TAG;
	} else if (ret == 0) {
		code = OUT_COMPLETE;
		/* Delivering the signal looked at rseq_cs, outside the section. */
		if (c->mode == EVT_SELF && after)
			code |= CF_STALE;
		if (after && after != (uint64_t)ptr)
			code |= CF_STALE;
	} else {
		code = OUT_BADSIG_JUMP;
	}
	if (c->post == POST_RAISE) {
		raise(SIGUSR1);
		if (LOAD_ONCE(a->rseq_cs))
			code |= CF_STALE;
		STORE_ONCE(a->rseq_cs, 0);
	}
	if (helper && h.err)
		code |= CF_SETUP;
	if (c->mode == EVT_PREEMPT || c->mode == EVT_MIGRATE)
		sched_setaffinity(0, sizeof(main_cpus), &main_cpus);
	if (ts.hfails != hf)
		code |= CF_HANDLER;
	return code;
}

/* Shared with the children, for the handler's message. */
static char *child_msg;

static int child_case(const struct cs_case *c)
{
	int code;

	ts.hfails = 0;
	code = run_case(c);
	if (ts.hfails)
		describe_hfail(child_msg, 256);
	return code;
}

/* Runs @c in a forked child: the result, or OUT_SEGV / OUT_OTHER. */
static int fork_case(const struct cs_case *c, int *sig)
{
	double t0 = now();
	int status;
	pid_t pid;

	child_msg[0] = 0;
	*sig = 0;
	pid = fork();
	if (pid < 0)
		return CF_SETUP;
	if (pid == 0)
		_exit(child_case(c));
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return CF_SETUP;
		if (now() - t0 > CHILD_LIMIT) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			*sig = -1;
			return OUT_OTHER;
		}
		sleep_us(1000);
	}
	if (WIFSIGNALED(status)) {
		*sig = WTERMSIG(status);
		return *sig == SIGSEGV ? OUT_SEGV : OUT_OTHER;
	}
	return WEXITSTATUS(status);
}

static void judge(int t, const struct cs_case *c, int code, int sig)
{
	int out = code & 7, where = t == T_CS_CHILD;
	char desc[512], want[64], extra[320] = "";

	if (code & CF_SETUP) {
		describe_case(desc, sizeof(desc), c);
		mismatch(t, "%s: could not set up the case (%s)", desc, strerror(errno));
		return;
	}
	/* Only the flags check kills a thread spinning in such a section. */
	if (out == OUT_SEGV && (c->kind == K_FLAGS || c->kind == K_TFLAGS) &&
	    !is_kill_mode(c->mode)) {
		uint32_t f = c->kind == K_FLAGS ? c->d.flags : c->tflags;

		if (f & 7)
			count(&flag_deaths[0]);
		if (f & ~7U)
			count(&flag_deaths[1]);
	}
	count(&cs_cov[where][c->kind][out]);
	count(&mode_cov[where][c->mode][out]);
	count(&checks[t]);
	if ((c->allowed & (1 << out)) && !(code & ~7))
		return;
	if (code & CF_NOCLEAR)
		strcat(extra, ", rseq_cs not cleared by the abort");
	if (code & CF_TAG)
		strcat(extra, ", cpu_id_start not rewritten by the abort");
	if (code & CF_STALE)
		strcat(extra, ", rseq_cs not cleared after a signal outside the section");
	if (code & CF_HANDLER) {
		strcat(extra, ", signal handler: ");
		if (where)
			strncat(extra, child_msg, 200);
		else
			describe_hfail(extra + strlen(extra), sizeof(extra) - strlen(extra));
	}
	if (sig > 0 && sig != SIGSEGV)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 ", killed by signal %d", sig);
	if (sig < 0)
		strcat(extra, ", still running after the time limit");
	describe_case(desc, sizeof(desc), c);
	describe_allowed(want, sizeof(want), c->allowed);
	mismatch(t, "%s: expected %s, got %s%s", desc, want, out_names[out], extra);
}

static unsigned long self_cases, child_cases;

/*
 * 6.12 warns once per boot, whatever the structure and the value, the
 * first time it kills a thread for deprecated or unknown flags, at
 * KERN_WARNING: "Deprecated flags (%u) in %s ABI structure" and "Unknown
 * flags (%u) in %s ABI structure", with %s "rseq_cs" or "rseq" (no
 * prefix: kernel/rseq.c defines no pr_fmt).
 *
 * An earlier test may have used up the once, and its warning may have
 * left the log buffer since. So before the children run, the once flags
 * are reset through debugfs's clear_warn_once (which resets every
 * *_ONCE() in the kernel: fine on a test kernel) and the log is read
 * from that point on. Without clear_warn_once, the whole log is read,
 * and no warning found there is a skip, not a failure.
 */
static int kmsg_fd = -1;
static int once_cleared;

static void mark_flag_warnings(void)
{
	int fd;

	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	fd = open("/sys/kernel/debug/clear_warn_once", O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT &&
	    !mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL))
		fd = open("/sys/kernel/debug/clear_warn_once", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (kmsg_fd >= 0 && lseek(kmsg_fd, 0, SEEK_END) >= 0 && write(fd, "1", 1) == 1)
		once_cleared = 1;
	close(fd);
}

/* Returns KSFT_SKIP when no such death happened or the log is unreadable. */
static int flag_warnings(char *msg, size_t len)
{
	static const char *const want[2] = { "Deprecated flags (", "Unknown flags (" };
	char buf[2048], seen[2][128] = { "", "" }, *text, *nl;
	int found[2] = { 0, 0 }, fd = kmsg_fd, log_fd, i;
	ssize_t n;

	if (!flag_deaths[0] && !flag_deaths[1]) {
		snprintf(msg, len, "no thread was killed for flags");
		return KSFT_SKIP;
	}
	if (fd < 0) {
		snprintf(msg, len, "cannot open /dev/kmsg: %s", strerror(errno));
		return KSFT_SKIP;
	}
	if (!once_cleared)
		lseek(fd, 0, SEEK_SET);
	/*
	 * The warnings end without a newline, so each stays open for a
	 * continuation, invisible to readers of /dev/kmsg, until the kernel
	 * logs another record. Log one.
	 */
	log_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (log_fd >= 0) {
		static const char note[] = "rseq_fuzz_test: reading the log\n";
		ssize_t w = write(log_fd, note, sizeof(note) - 1);

		(void)w;	/* what got through, the reading below tells */
		close(log_fd);
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: read on */
		if (n <= 0)
			break;
		buf[n] = 0;
		text = strchr(buf, ';');
		if (!text)
			continue;
		text++;
		nl = strchr(text, '\n');
		if (nl)
			*nl = 0;
		for (i = 0; i < 2; i++) {
			char *at = strstr(text, want[i]);

			if (!at || !strstr(at, " ABI structure"))
				continue;
			if (at == text && (atoi(buf) & 7) == 4 &&
			    (strstr(at, ") in rseq_cs ABI structure") ||
			     strstr(at, ") in rseq ABI structure")))
				found[i] = 1;
			else if (!seen[i][0])
				snprintf(seen[i], sizeof(seen[i]), "<%d>%.100s", atoi(buf) & 7,
					 text);
		}
	}
	close(fd);
	snprintf(msg, len, "%lu deaths for deprecated flags: %s%s%s; %lu for unknown flags: %s%s%s",
		 flag_deaths[0], found[0] ? "warned" : "no warning",
		 !found[0] && seen[0][0] ? ", only: " : "", found[0] ? "" : seen[0],
		 flag_deaths[1], found[1] ? "warned" : "no warning",
		 !found[1] && seen[1][0] ? ", only: " : "", found[1] ? "" : seen[1]);
	for (i = 0; i < 2; i++) {
		if (!flag_deaths[i] || found[i])
			continue;
		if (once_cleared)
			return KSFT_FAIL;
		snprintf(msg + strlen(msg), len - strlen(msg),
			 " (no clear_warn_once: warned before this test, and out of the log?)");
		return KSFT_SKIP;
	}
	return KSFT_PASS;
}

static void cs_phase_self(unsigned long n)
{
	struct cs_case c;
	unsigned long i;
	uint64_t r;
	int code;

	for (i = 0; i < n && time_left(0.45); i++) {
		r = rng_for(2, i);
		do {
			gen_case(&c, &r, i);
		} while (c.allowed & (1 << OUT_SEGV));
		ts.hfails = 0;
		code = run_case(&c);
		judge(T_CS_SELF, &c, code, 0);
		ts.hfails = 0;
		self_cases++;
	}
}

static void cs_phase_child(unsigned long n)
{
	struct cs_case c;
	unsigned long i;
	uint64_t r;
	int code, sig;

	for (i = 0; i < n && time_left(0.9); i++) {
		r = rng_for(3, i);
		do {
			gen_case(&c, &r, i);
		} while (!(c.allowed & (1 << OUT_SEGV)));
		code = fork_case(&c, &sig);
		judge(T_CS_CHILD, &c, code, sig);
		child_cases++;
	}
}

/* Whether a system call inside a section kills: CONFIG_DEBUG_RSEQ. */
static void probe_debug_rseq(void)
{
	struct cs_case c;
	int code, sig;

	memset(&c, 0, sizeof(c));
	c.kind = K_VALID;
	c.mode = EVT_SYSCALL;
	c.d.start_ip = (uintptr_t)cs_kill_start;
	c.d.post_commit_offset = (uintptr_t)cs_kill_end - (uintptr_t)cs_kill_start;
	c.d.abort_ip = (uintptr_t)cs_kill_abort;
	code = fork_case(&c, &sig);
	debug_rseq = code == OUT_SEGV;
	ksft_print_msg("a system call inside a section %s (CONFIG_DEBUG_RSEQ %s)\n",
		       debug_rseq ? "kills" : "is allowed", debug_rseq ? "on" : "off");
}

static void setup_cs(void)
{
	cs_map = map_with_hole();
	desc_mis_off = 4;
	child_msg = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			 -1, 0);
	if (child_msg == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	have_fence = !sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ);
	if (!have_fence)
		ksft_print_msg("no MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: no fences\n");
}

static void print_cs_cov(void)
{
	int w, k, m, o;

	for (w = 0; w < 2; w++) {
		ksft_print_msg("sections %s: %-17s %8s %8s %8s %8s %8s\n",
			       w ? "in children" : "in-process ", "kind", out_names[0],
			       out_names[1], out_names[2], out_names[3], out_names[4]);
		for (k = 0; k < NKINDS; k++) {
			unsigned long *v = cs_cov[w][k];

			if (v[0] + v[1] + v[2] + v[3] + v[4])
				ksft_print_msg("  %-29s %8lu %8lu %8lu %8lu %8lu\n", kinds[k].name,
					       v[0], v[1], v[2], v[3], v[4]);
		}
		for (m = 0; m < NMODES; m++) {
			unsigned long *v = mode_cov[w][m], sum = 0;

			for (o = 0; o < NOUT; o++)
				sum += v[o];
			if (sum)
				ksft_print_msg("  event %-23s %8lu %8lu %8lu %8lu %8lu\n",
					       mode_names[m], v[0], v[1], v[2], v[3], v[4]);
		}
	}
}
#endif /* NO_CS_ASM */

/* ------------------------------------------------------------------ */
/* Hammering                                                           */

static pid_t reg_tids[NREG + NHAMMER + 1];
static unsigned long ham_forks[4], ham_maps, ham_signals;
static const char *const fork_names[4] = {
	"exit", "inherit", "/bin/true", "self",
};

static void register_hammer(int i)
{
	struct rseq *a = &hammer_area[i];
	char buf[192];

	a->cpu_id = RSEQ_CPU_ID_UNINITIALIZED;
	if (sys_rseq((uintptr_t)a, 32, 0, SIG))
		mismatch(T_HAMMER, "hammer %d: registration failed", i);
	else if (ids_now(a, buf, sizeof(buf)))
		mismatch(T_IDS, "hammer %d: after registration: %s", i, buf);
	else
		ts.area = a;
}

static void *hammer_fork(void *arg)
{
	uint64_t r = rng_for(4, 0);
	int status, what;
	pid_t pid;

	(void)arg;
	register_hammer(0);
	reg_tids[NREG] = gettid_();
	while (!LOAD_ONCE(stop_hammer)) {
		what = rndn(&r, 4);
		pid = fork();
		if (pid < 0) {
			mismatch(T_HAMMER, "fork: %s", strerror(errno));
			sleep_us(10000);
			continue;
		}
		if (pid == 0) {
			switch (what) {
			case 0:
				_exit(0);
			case 1:
				_exit(sys_rseq((uintptr_t)&hammer_area[0], 32, 0, SIG) == -EBUSY ?
				      0 : 1);
			case 2:
				execl("/bin/true", "true", (char *)NULL);
				_exit(errno == ENOENT ? 0 : 2);
			default:
				execl(self_exe, "rseq_fuzz_test", "--exec-child", (char *)NULL);
				_exit(3);
			}
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			mismatch(T_HAMMER, "hammer child (%s) ended with status %#x",
				 fork_names[what], status);
		count(&ham_forks[what]);
		count(&checks[T_HAMMER]);
		check_handler(T_IDS, "fork hammer");
		sleep_us(rndn(&r, 3000));
	}
	ts.area = NULL;
	sys_rseq((uintptr_t)&hammer_area[0], 32, RSEQ_FLAG_UNREGISTER, SIG);
	return NULL;
}

static void *hammer_mmap(void *arg)
{
	uint64_t r = rng_for(4, 1);
	size_t len;
	char *p;

	(void)arg;
	register_hammer(1);
	reg_tids[NREG + 1] = gettid_();
	while (!LOAD_ONCE(stop_hammer)) {
		/* Two pages at least, to leave one-page holes alone. */
		len = (2 + rndn(&r, 15)) * page_size;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			mismatch(T_HAMMER, "mmap: %s", strerror(errno));
			sleep_us(10000);
			continue;
		}
		memset(p, 1, len);
		if (rndn(&r, 2))
			mprotect(p, page_size, PROT_READ);
		if (rndn(&r, 4) == 0)
			madvise(p, len, MADV_DONTNEED);
		if (munmap(p, len))
			mismatch(T_HAMMER, "munmap: %s", strerror(errno));
		count(&ham_maps);
		count(&checks[T_HAMMER]);
		check_handler(T_IDS, "mmap hammer");
		sleep_us(rndn(&r, 500));
	}
	ts.area = NULL;
	sys_rseq((uintptr_t)&hammer_area[1], 32, RSEQ_FLAG_UNREGISTER, SIG);
	return NULL;
}

static void *hammer_signal(void *arg)
{
	uint64_t r = rng_for(4, 2);
	pid_t tid;

	(void)arg;
	register_hammer(2);
	reg_tids[NREG + 2] = gettid_();
	while (!LOAD_ONCE(stop_hammer)) {
		tid = reg_tids[rndn(&r, ARRAY_SIZE(reg_tids))];
		if (tid) {
			syscall(SYS_tgkill, main_pid, tid, rndn(&r, 2) ? SIGUSR1 : SIGUSR2);
			count(&ham_signals);
		}
		check_handler(T_IDS, "signal hammer");
		sleep_us(100 + rndn(&r, 3000));
	}
	ts.area = NULL;
	sys_rseq((uintptr_t)&hammer_area[2], 32, RSEQ_FLAG_UNREGISTER, SIG);
	return NULL;
}

static void *reg_thread_entry(void *arg)
{
	struct regthr *t = arg;

	reg_tids[t->idx] = gettid_();
	reg_thread(t);
	reg_tids[t->idx] = 0;
	check_handler(T_IDS, "registration thread");
	return NULL;
}

/* ------------------------------------------------------------------ */

/* After exec from a registered thread: nothing is registered. */
static int exec_child(void)
{
	static struct rseq a __aligned(32);

	a.cpu_id = TAG;
	if (sys_rseq((uintptr_t)&a, 32, 0, SIG))
		return 1;
	if (a.cpu_id != a.cpu_id_start || a.cpu_id >= (uint32_t)sysconf(_SC_NPROCESSORS_CONF))
		return 2;
	return 0;
}

static void learn_system(void)
{
	char line[512];
	FILE *f;
	int i;

	page_size = sysconf(_SC_PAGESIZE);
	ncpus = sysconf(_SC_NPROCESSORS_CONF);
	if (ncpus < 1 || ncpus > CPU_SETSIZE)
		ncpus = CPU_SETSIZE;
	feature_size = getauxval(AT_RSEQ_FEATURE_SIZE);
	rseq_align = getauxval(AT_RSEQ_ALIGN);
	if (!rseq_align)
		rseq_align = 32;
	if (sched_getaffinity(0, sizeof(main_cpus), &main_cpus))
		ksft_exit_fail_msg("sched_getaffinity: %s\n", strerror(errno));
	/* The node of each CPU, from getcpu() on it. */
	for (i = 0; i < CPU_SETSIZE; i++) {
		unsigned int cpu, node;

		node_of[i] = -1;
		if (!CPU_ISSET(i, &main_cpus))
			continue;
		cpu_list[ncpu_list++] = i;
		if (pin(0, i) || syscall(__NR_getcpu, &cpu, &node, NULL) || cpu != (unsigned int)i)
			continue;
		node_of[i] = node;
	}
	sched_setaffinity(0, sizeof(main_cpus), &main_cpus);
	/*
	 * TASK_SIZE lies between the end of the highest user mapping and
	 * the largest any configuration of the architecture has.
	 */
	if (sizeof(long) == 4)
		user_hi = 1ULL << 32;
	else
#if defined(__aarch64__)
		user_hi = 1ULL << 52;
#else
		user_hi = 1ULL << 56;
#endif
	f = fopen("/proc/self/maps", "r");
	if (!f)
		ksft_exit_fail_msg("/proc/self/maps: %s\n", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;

		/* Not the vectors page of 32-bit arm, above TASK_SIZE. */
		if (strstr(line, "[vectors]") || strstr(line, "[vsyscall]"))
			continue;
		if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && hi <= user_hi && hi > user_lo)
			user_lo = hi;
	}
	fclose(f);
	if (readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1) < 0)
		snprintf(self_exe, sizeof(self_exe), "/proc/self/exe");
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

static void print_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SEED] [-n ITERS] [-t SECONDS]\n", prog);
	exit(KSFT_FAIL);
}

static void result(int t, const char *what, unsigned long n)
{
	ksft_test_result(!fails[t], "%s: %lu checks, %lu mismatches%s\n", what, n, fails[t],
			 fails[t] ? " (see above)" : "");
}

/* Messages whose format is too long for one line with the call. */
#define SYSTEM_FMT \
	"%d CPUs, AT_RSEQ_FEATURE_SIZE %u, AT_RSEQ_ALIGN %u, TASK_SIZE in [%#llx, %#llx]\n"
#define HAMMER_FMT \
	"hammer: %lu forks (%lu exit, %lu inherit, %lu /bin/true, %lu self), %lu maps, %lu signals\n"
#define TIMES_FMT \
	"sections in this process done at %.1f s, in children at %.1f s, registration threads at %.1f s\n"

static const char main_thread[] = "main thread";

int main(int argc, char **argv)
{
	void *(*hfn[NHAMMER])(void *) = { hammer_fork, hammer_mmap, hammer_signal };
	const char *tun = getenv("GLIBC_TUNABLES");
	pthread_t hammers[NHAMMER];
	unsigned long calls = 0, skipped = 0;
	int opt, i, k, have_seed = 0;
	double elapsed, t_self = 0, t_child = 0, t_reg;

	if (argc > 1 && !strcmp(argv[1], "--exec-child"))
		return exec_child();
	if (!tun || !strstr(tun, TUNABLE)) {
		setenv("GLIBC_TUNABLES", TUNABLE, 1);
		execv("/proc/self/exe", argv);
		ksft_exit_fail_msg("execv /proc/self/exe: %s\n", strerror(errno));
	}
	iters = env_ul("RSEQ_FUZZ_ITERS", iters);
	seconds = env_ul("RSEQ_FUZZ_SECONDS", seconds);
	while ((opt = getopt(argc, argv, "s:n:t:h")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			have_seed = 1;
			break;
		case 'n':
			iters = strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtoul(optarg, NULL, 0);
			break;
		default:
			print_usage(argv[0]);
		}
	}
	if (!have_seed) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		seed = (uint64_t)t.tv_sec * 1000003 ^ t.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	t_start = now();
	main_pid = getpid();
	ksft_print_header();
	no_syscall = syscall(0x7fffffffL) < 0 ? -errno : 1;
	if (!getauxval(AT_RSEQ_FEATURE_SIZE) || sys_rseq(0, 0, 0, 0) == no_syscall)
		ksft_exit_skip("kernel without rseq\n");
	learn_system();
	ksft_print_msg("seed %llu (rerun with -s %llu), %lu iterations, at most %u seconds\n",
		       (unsigned long long)seed, (unsigned long long)seed, iters, seconds);
	ksft_print_msg(SYSTEM_FMT, ncpus, feature_size, rseq_align, (unsigned long long)user_lo,
		       (unsigned long long)user_hi);
	ksft_set_plan(8);
	install_handlers();
	setup_reg_threads();
	main_area.cpu_id = RSEQ_CPU_ID_UNINITIALIZED;
	if (sys_rseq((uintptr_t)&main_area, 32, 0, SIG))
		ksft_exit_fail_msg("cannot register: %s\n", strerror(errno));
	ts.area = &main_area;
	reg_tids[NREG + NHAMMER] = gettid_();
#ifndef NO_CS_ASM
	setup_cs();
	probe_debug_rseq();
#endif

	/*
	 * Only the thread running sections takes SIGALRM: from the timer,
	 * and from itself inside a section with kill(getpid()), which any
	 * thread that does not block the signal could dequeue.
	 */
	block_sigalrm(SIG_BLOCK);
	for (i = 0; i < NHAMMER; i++)
		if (pthread_create(&hammers[i], NULL, hfn[i], NULL))
			ksft_exit_fail_msg("pthread_create: %s\n", strerror(errno));
	for (i = 0; i < NREG; i++)
		if (pthread_create(&regthr[i].th, NULL, reg_thread_entry, &regthr[i]))
			ksft_exit_fail_msg("pthread_create: %s\n", strerror(errno));
	block_sigalrm(SIG_UNBLOCK);

#ifndef NO_CS_ASM
	cs_phase_self(iters / 2);
	t_self = now() - t_start;
	mark_flag_warnings();
	cs_phase_child(iters / 8);
	t_child = now() - t_start;
#endif
	for (i = 0; i < NREG; i++) {
		pthread_join(regthr[i].th, NULL);
		calls += regthr[i].calls;
		skipped += regthr[i].skipped;
	}
	t_reg = now() - t_start;
	STORE_ONCE(stop_hammer, 1);
	for (i = 0; i < NHAMMER; i++)
		pthread_join(hammers[i], NULL);
	check_handler(T_IDS, main_thread);
	elapsed = now() - t_start;

	ksft_print_msg("registration calls:   %-8s %7s %7s %7s %7s %7s %7s %7s\n", "area",
		       res_names[0], res_names[1], res_names[2], res_names[3], res_names[4],
		       res_names[5], res_names[6]);
	for (k = 0; k < NAKINDS; k++)
		ksft_print_msg("  %-28s %7lu %7lu %7lu %7lu %7lu %7lu %7lu\n", akind_names[k],
			       reg_cov[k][0], reg_cov[k][1], reg_cov[k][2], reg_cov[k][3],
			       reg_cov[k][4], reg_cov[k][5], reg_cov[k][6]);
	for (k = 0; k < NFORKOPS; k++)
		ksft_print_msg("  %-44s %5lu passed %5lu failed\n", forkop_names[k],
			       forkop_cov[k][0], forkop_cov[k][1]);
#ifndef NO_CS_ASM
	print_cs_cov();
#endif
	ksft_print_msg(HAMMER_FMT, ham_forks[0] + ham_forks[1] + ham_forks[2] + ham_forks[3],
		       ham_forks[0], ham_forks[1], ham_forks[2], ham_forks[3], ham_maps,
		       ham_signals);
	ksft_print_msg(TIMES_FMT, t_self, t_child, t_reg);
	ksft_print_msg("%.1f seconds%s\n", elapsed,
		       elapsed >= 0.9 * seconds ? " (time cap reached: fewer iterations run)" : "");

	ksft_test_result(!fails[T_REG],
			 "registration model: %lu calls in %d threads (%lu skipped), %lu mismatches\n",
			 calls, NREG, skipped, fails[T_REG]);
	result(T_REG_CHILD, "registration in forked children and new threads",
	       checks[T_REG_CHILD]);
	result(T_SWITCH,
	       "ids stored after a switch when the area no longer shows them (page dropped, unmapped, made read-only)",
	       checks[T_SWITCH]);
	result(T_IDS,
	       "id fields valid after registration, signals and aborts, reset after unregistration",
	       checks[T_IDS]);
#ifdef NO_CS_ASM
	ksft_test_result_skip("sections in this process: no assembly for this architecture\n");
	ksft_test_result_skip("sections in children: no assembly for this architecture\n");
	ksft_test_result_skip("flag warnings: no assembly for this architecture\n");
#else
	result(T_CS_SELF,
	       "sections in this process (complete or abort) under preemption, migration, signals, fences",
	       self_cases);
	result(T_CS_CHILD, "sections in forked children (SIGSEGV expected)", child_cases);
	{
		char msg[512];
		int how = flag_warnings(msg, sizeof(msg));

		ksft_test_result_report(how,
					"kernel log warns of deprecated and unknown flags: %s\n",
					msg);
	}
#endif
	result(T_HAMMER, "fork, exec, mmap and signal hammering", checks[T_HAMMER]);
	ksft_finished();
}
