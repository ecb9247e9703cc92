// SPDX-License-Identifier: GPL-2.0
/*
 * rseq id fields: the kernel must show a thread its current CPU in
 * cpu_id_start and cpu_id whenever the thread runs user code, and a
 * MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ fence must rewrite the id fields
 * of every thread of the process.
 *
 * - A thread moves to another CPU while the page of its area is write
 *   protected with userfaultfd, so that the kernel's store of its new ids
 *   sleeps in the fault; the fault handler moves it back meanwhile. When
 *   it returns to user space, the area must show the CPU it is on: in a
 *   few rounds with the handler moving it back, and in a stress test
 *   where the thread is moved at random times.
 * - A thread stores a tag into cpu_id_start, which no CPU number equals.
 *   A fence issued while it runs, or while it is blocked, must replace
 *   the tag before it next runs user code (TCMalloc depends on this).
 * - Another thread drops the page of a blocked thread's area, or stores
 *   a tag into it: the thread must see its ids when it wakes.
 *
 * Each test runs in a child process under a time limit, so that a thread
 * stuck in the kernel fails that test instead of hanging the run. The
 * program registers its own areas, so it re-executes itself with glibc's
 * rseq registration turned off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/auxvec.h>
#include <linux/compiler.h>
#include <linux/membarrier.h>
#include <linux/rseq.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"

#define TUNABLE		"glibc.pthread.rseq=0"
#define SIG		0x53053053U
/* Stored into cpu_id_start by the fence tests: no CPU has this number. */
#define TAG		0xdeadbeefU

#define MOVE_ROUNDS	3	/* moves with the id store waiting on a fault */
#define MOVE_LIMIT	8	/* seconds */
#define STRESS_SECONDS	5	/* run time of the stress test */
#define STRESS_CHECKS	200000	/* at most this many checks in it */
#define STRESS_FAILS	10	/* it stops after this many stale ids */
#define CHECKS_PER_MOVE	50	/* checks between two moves of its own */
#define FAULT_DELAY_US	1000	/* random delay before resolving a fault */
#define PUSH_DELAY_US	200	/* random delays of the thread moving it */
#define FENCE_SECONDS	3	/* how long a tag may survive fences */
#define ASLEEP_MS	2000	/* how long to wait for a thread to block */

#ifndef __NR_userfaultfd
#if defined(__x86_64__)
#define __NR_userfaultfd	323
#else
#define __NR_userfaultfd	282	/* asm-generic, arm64 */
#endif
#endif
#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE	27
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW	_IO(0xAA, 0x00)
#endif
/*
 * Enum constants in <linux/membarrier.h>, which #ifndef cannot see: the
 * macros have the same values, for headers older than Linux 4.18.
 */
#ifndef MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ		0x80
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ	0x100
#endif

/* The verdict of the test running in the child, in shared memory. */
struct outcome {
	int verdict;
	char msg[512];
};

static struct outcome *outcome;
static pthread_mutex_t outcome_lock = PTHREAD_MUTEX_INITIALIZER;
static int cpus[CPU_SETSIZE];
static int ncpus;

/* Records a verdict; a failure or skip stays, whatever follows it. */
static void __printf(2, 3) report(int verdict, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&outcome_lock);
	if (outcome->verdict != KSFT_FAIL && outcome->verdict != KSFT_SKIP) {
		outcome->verdict = verdict;
		va_start(ap, fmt);
		vsnprintf(outcome->msg, sizeof(outcome->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&outcome_lock);
}

static int failed(void)
{
	int ret;

	pthread_mutex_lock(&outcome_lock);
	ret = outcome->verdict == KSFT_FAIL || outcome->verdict == KSFT_SKIP;
	pthread_mutex_unlock(&outcome_lock);
	return ret;
}

static long sys_rseq(struct rseq *area, int flags)
{
	return syscall(__NR_rseq, area, 32, flags, SIG) ? -errno : 0;
}

static long fence(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0, 0) < 0 ? -errno : 0;
}

/* The CPU the caller runs on, from the system call, never from rseq. */
static int current_cpu(void)
{
	unsigned int cpu;

	if (syscall(__NR_getcpu, &cpu, NULL, NULL))
		return -1;
	return cpu;
}

static pid_t thread_id(void)
{
	return syscall(SYS_gettid);
}

static uint32_t load_u32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int load_int(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void store_int(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

/* Pins thread tid (0: the caller) to cpu; 0 or -errno. */
static int pin(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set) ? -errno : 0;
}

/*
 * For a test thread: publishes its id in *tid, moves it to cpu and
 * registers rs; 0, or -1 with the failure reported.
 */
static int pin_and_register(pid_t *tid, int cpu, struct rseq *rs)
{
	int err;

	store_int(tid, thread_id());
	err = pin(0, cpu);
	if (!err)
		err = sys_rseq(rs, 0);
	if (err) {
		report(KSFT_FAIL, "setup: pin or rseq registration: %s", strerror(-err));
		return -1;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

/* Runs fn in a child process and reports its verdict as one TAP line. */
static void run_test(const char *name, void (*fn)(void), int limit)
{
	long long deadline = now_ms() + limit * 1000;
	int status = 0;
	pid_t pid, ret;

	outcome->verdict = -1;
	outcome->msg[0] = '\0';
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (pid == 0) {
		fn();
		_exit(0);
	}
	for (;;) {
		ret = waitpid(pid, &status, WNOHANG);
		if (ret == pid)
			break;
		if (ret < 0)
			ksft_exit_fail_msg("waitpid: %s\n", strerror(errno));
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ksft_test_result_fail("%s: no verdict within %d s (killed)%s%s\n", name,
					      limit, outcome->msg[0] ? "; last note: " : "",
					      outcome->msg);
			return;
		}
		sleep_us(10000);
	}
	if (WIFSIGNALED(status))
		ksft_test_result_fail("%s: test process killed by signal %d%s%s\n", name,
				      WTERMSIG(status), outcome->msg[0] ? "; note: " : "",
				      outcome->msg);
	else if (outcome->verdict == KSFT_PASS)
		ksft_test_result_pass("%s: %s\n", name, outcome->msg);
	else if (outcome->verdict == KSFT_SKIP)
		ksft_test_result_skip("%s: %s\n", name, outcome->msg);
	else if (outcome->verdict == KSFT_FAIL)
		ksft_test_result_fail("%s: %s\n", name, outcome->msg);
	else
		ksft_test_result_fail("%s: the test process gave no verdict (exit %d)\n", name,
				      WEXITSTATUS(status));
}

/* The state letter of thread tid of this process, '?' if unknown. */
static char thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/* Waits up to ASLEEP_MS for thread tid to sleep; returns its last state. */
static char wait_asleep(pid_t tid)
{
	long long deadline = now_ms() + ASLEEP_MS;
	char state;

	for (;;) {
		state = thread_state(tid);
		if (state == 'S' || state == 'D' || state == '?' || now_ms() > deadline)
			return state;
		sleep_us(100);
	}
}

/*
 * A page holding one rseq area, registered with a userfaultfd for
 * write-protect faults: while it is protected, the kernel's store of the
 * ids sleeps until the fault is resolved. (A missing page would not do:
 * the scheduler looks at rseq_cs in the same page without faulting and,
 * finding it unreadable, makes the kernel redo the whole update.)
 */
struct wp_area {
	int uffd;
	long psize;
	char *page;
	struct rseq *rs;
};

/* Opens a userfaultfd, by the system call or /dev/userfaultfd. */
static int uffd_open(char *why, size_t len)
{
	int fd, dev, err;

	fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	err = errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		snprintf(why, len, "userfaultfd: %s; /dev/userfaultfd: %s", strerror(err),
			 strerror(errno));
		return -1;
	}
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		snprintf(why, len, "userfaultfd: %s; USERFAULTFD_IOC_NEW: %s", strerror(err),
			 strerror(errno));
	close(dev);
	return fd;
}

/* 0, or -1 with the reason to skip in why. */
static int wp_area_init(struct wp_area *wa, char *why, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };

	wa->psize = sysconf(_SC_PAGESIZE);
	wa->uffd = uffd_open(why, len);
	if (wa->uffd < 0)
		return -1;
	if (ioctl(wa->uffd, UFFDIO_API, &api)) {
		snprintf(why, len, "UFFDIO_API: %s", strerror(errno));
		return -1;
	}
	if (!(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		snprintf(why, len, "userfaultfd without write-protect faults");
		return -1;
	}
	wa->page = mmap(NULL, wa->psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (wa->page == MAP_FAILED) {
		snprintf(why, len, "mmap: %s", strerror(errno));
		return -1;
	}
	/* Write-protection applies to present pages only. */
	memset(wa->page, 0, wa->psize);
	reg.range.start = (uintptr_t)wa->page;
	reg.range.len = wa->psize;
	if (ioctl(wa->uffd, UFFDIO_REGISTER, &reg)) {
		snprintf(why, len, "UFFDIO_REGISTER write-protect: %s", strerror(errno));
		return -1;
	}
	wa->rs = (struct rseq *)wa->page;
	return 0;
}

/* Write-protects the page (on) or lifts the protection, waking waiters. */
static int wp_set(struct wp_area *wa, int on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)wa->page, .len = wa->psize },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	int i;

	for (i = 0; i < 100; i++) {
		if (!ioctl(wa->uffd, UFFDIO_WRITEPROTECT, &wp))
			return 0;
		if (errno != EAGAIN)
			break;
	}
	return -errno;
}

/* Waits for the next fault: 1, or 0 once *stop is set, or -1 on error. */
static int next_fault(struct wp_area *wa, struct uffd_msg *msg, int *stop)
{
	struct pollfd pfd = { .fd = wa->uffd, .events = POLLIN };
	ssize_t n;

	while (!load_int(stop)) {
		n = poll(&pfd, 1, 50);
		if (n < 0 && errno != EINTR) {
			report(KSFT_FAIL, "monitor: poll: %s", strerror(errno));
			return -1;
		}
		if (n <= 0)
			continue;
		n = read(wa->uffd, msg, sizeof(*msg));
		if (n == sizeof(*msg) && msg->event == UFFD_EVENT_PAGEFAULT)
			return 1;
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			report(KSFT_FAIL, "monitor: read userfaultfd: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void resolve(struct wp_area *wa)
{
	int err = wp_set(wa, 0);

	if (err)
		report(KSFT_FAIL, "monitor: UFFDIO_WRITEPROTECT off: %s", strerror(-err));
}

enum { MOVE_IDLE, MOVE_AWAY, MOVE_SENT_BACK };

struct move_ctx {
	struct wp_area wa;
	int home, away;
	int stop;
	int phase;
	pid_t tid;
	int sent_back;		/* rounds in which the monitor moved it back */
	int stale;		/* rounds that ended with stale ids */
	char first[200];
};

/*
 * Resolves faults on the area. A write-protect fault while the mover
 * moves away is the kernel storing its new ids: move it back home while
 * it sleeps in the fault, then let the store go on.
 */
static void *move_monitor(void *arg)
{
	struct move_ctx *c = arg;
	struct uffd_msg msg;
	int err;

	while (next_fault(&c->wa, &msg, &c->stop) > 0) {
		if ((msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) &&
		    load_int(&c->phase) == MOVE_AWAY) {
			/* Normally asleep by now; moving it back works either way. */
			wait_asleep(load_int(&c->tid));
			err = pin(load_int(&c->tid), c->home);
			if (err)
				report(KSFT_FAIL, "monitor: sched_setaffinity to CPU %d: %s",
				       c->home, strerror(-err));
			store_int(&c->phase, MOVE_SENT_BACK);
		}
		resolve(&c->wa);
	}
	return NULL;
}

static void *mover(void *arg)
{
	struct move_ctx *c = arg;
	struct rseq *rs = c->wa.rs;
	uint32_t start, id;
	int round, cpu, err, phase;

	if (pin_and_register(&c->tid, c->home, rs))
		return NULL;
	for (round = 0; round < MOVE_ROUNDS; round++) {
		err = pin(0, c->home);
		if (err) {
			report(KSFT_FAIL, "round %d: sched_setaffinity to CPU %d: %s", round,
			       c->home, strerror(-err));
			break;
		}
		/* A sleep, so that a stale area left by a round gets rewritten. */
		sleep_us(1000);
		cpu = current_cpu();
		id = load_u32(&rs->cpu_id);
		if (cpu != c->home || id != (uint32_t)cpu) {
			report(KSFT_FAIL,
			       "round %d: pinned to CPU %d before the move: getcpu %d, cpu_id %u",
			       round, c->home, cpu, id);
			break;
		}
		err = wp_set(&c->wa, 1);
		if (err) {
			report(KSFT_FAIL, "UFFDIO_WRITEPROTECT: %s", strerror(-err));
			break;
		}
		/* From here to the check, nothing in the area's page is touched. */
		store_int(&c->phase, MOVE_AWAY);
		err = pin(0, c->away);
		phase = __atomic_exchange_n(&c->phase, MOVE_IDLE, __ATOMIC_SEQ_CST);
		start = load_u32(&rs->cpu_id_start);
		id = load_u32(&rs->cpu_id);
		cpu = current_cpu();
		if (err) {
			report(KSFT_FAIL, "round %d: sched_setaffinity to CPU %d: %s", round,
			       c->away, strerror(-err));
			break;
		}
		if (phase == MOVE_SENT_BACK)
			c->sent_back++;
		if ((id != (uint32_t)cpu || start != (uint32_t)cpu) && !c->stale++)
			snprintf(c->first, sizeof(c->first),
				 "round %d: moved to CPU %d%s; on CPU %d it reads cpu_id %u, cpu_id_start %u",
				 round, c->away,
				 phase == MOVE_SENT_BACK ?
				 " and back while its id store slept in the fault" : "",
				 cpu, id, start);
		/* Unprotected already if the kernel stored, but it may not have. */
		err = wp_set(&c->wa, 0);
		if (err) {
			report(KSFT_FAIL, "UFFDIO_WRITEPROTECT off: %s", strerror(-err));
			break;
		}
	}
	sys_rseq(rs, RSEQ_FLAG_UNREGISTER);
	if (c->stale)
		report(KSFT_FAIL, "stale ids in %d of %d rounds; first: %s", c->stale, round,
		       c->first);
	else if (!failed() && !c->sent_back)
		report(KSFT_FAIL,
		       "in %d moves to CPU %d the kernel's id store never faulted on the write-protected area",
		       MOVE_ROUNDS, c->away);
	else if (!failed())
		report(KSFT_PASS,
		       "%d rounds; %d times moved back to CPU %d while the id store slept in the fault; the area showed the CPU every time",
		       MOVE_ROUNDS, c->sent_back, c->home);
	return NULL;
}

/* CPU for the helper threads, away from the CPUs under test, or -1. */
static int helper_cpu(void)
{
	return ncpus > 2 ? cpus[ncpus - 1] : -1;
}

static void test_move_during_store(void)
{
	struct move_ctx c = { .home = cpus[0], .away = cpus[1] };
	pthread_t monitor_thread, mover_thread;
	char why[256];

	if (wp_area_init(&c.wa, why, sizeof(why))) {
		report(KSFT_SKIP, "%s", why);
		return;
	}
	/* Threads inherit this: the monitor stays off the mover's CPUs. */
	if (helper_cpu() >= 0)
		pin(0, helper_cpu());
	if (pthread_create(&monitor_thread, NULL, move_monitor, &c)) {
		report(KSFT_FAIL, "pthread_create failed");
		return;
	}
	if (pthread_create(&mover_thread, NULL, mover, &c))
		report(KSFT_FAIL, "pthread_create failed");
	else
		pthread_join(mover_thread, NULL);
	store_int(&c.stop, 1);
	pthread_join(monitor_thread, NULL);
}

/*
 * The stress test: a thread checks its area against getcpu while it moves
 * from CPU to CPU, moved by itself and at random times by a pusher thread,
 * which also keeps write-protecting the area; a monitor resolves each
 * fault after a random delay, and half the time moves the thread first.
 * A move is complete when sched_setaffinity returns; the checker counts
 * only checks during which no move was under way (seq even and
 * unchanged), when it must be on the CPU in pinned.
 */
struct stress_ctx {
	struct wp_area wa;
	int roam[CPU_SETSIZE];	/* the CPUs the checker is moved among */
	int nroam;
	int stop;
	pid_t tid;
	pthread_mutex_t move_lock;
	int seq;
	int pinned;
	long checks, stale, self_moves, pushes, faults, fault_moves;
	char first[200];
};

/*
 * Moves thread tid (0: the caller) to cpu, in step with the checker; with
 * try, only if no other move is under way. 0 or -errno.
 */
static int stress_move(struct stress_ctx *c, pid_t tid, int cpu, int try)
{
	int err;

	if (!try)
		pthread_mutex_lock(&c->move_lock);
	else if (pthread_mutex_trylock(&c->move_lock))
		return -EBUSY;
	__atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
	err = pin(tid, cpu);
	if (!err)
		store_int(&c->pinned, cpu);
	__atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&c->move_lock);
	return err;
}

static void stress_check(struct stress_ctx *c, struct rseq *rs)
{
	uint32_t start, id;
	int s1, s2, want, cpu;

	s1 = load_int(&c->seq);
	if (s1 & 1)
		return;
	want = load_int(&c->pinned);
	start = load_u32(&rs->cpu_id_start);
	id = load_u32(&rs->cpu_id);
	cpu = current_cpu();
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	s2 = load_int(&c->seq);
	if (s1 != s2)
		return;
	c->checks++;
	if (id == (uint32_t)want && start == (uint32_t)want && cpu == want)
		return;
	if (!c->stale++)
		snprintf(c->first, sizeof(c->first),
			 "pinned to CPU %d: cpu_id %u, cpu_id_start %u, getcpu %d", want, id, start,
			 cpu);
}

/* A CPU to move the checker to, other than the one it is pinned to. */
static int other_cpu(struct stress_ctx *c, unsigned int *seed)
{
	int cpu;

	do {
		cpu = c->roam[rand_r(seed) % c->nroam];
	} while (cpu == load_int(&c->pinned));
	return cpu;
}

static void *stress_monitor(void *arg)
{
	struct stress_ctx *c = arg;
	unsigned int seed = 1;
	struct uffd_msg msg;
	int err, cpu;

	while (next_fault(&c->wa, &msg, &c->stop) > 0) {
		if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
			c->faults++;
		sleep_us(rand_r(&seed) % FAULT_DELAY_US);
		/*
		 * Not while the checker moves itself: it may be the one
		 * waiting on this fault, with the lock held.
		 */
		if (rand_r(&seed) & 1) {
			cpu = other_cpu(c, &seed);
			err = stress_move(c, load_int(&c->tid), cpu, 1);
			if (!err)
				c->fault_moves++;
			else if (err != -EBUSY)
				report(KSFT_FAIL, "monitor: sched_setaffinity to CPU %d: %s", cpu,
				       strerror(-err));
		}
		resolve(&c->wa);
	}
	return NULL;
}

static void *pusher(void *arg)
{
	struct stress_ctx *c = arg;
	unsigned int seed = 2;
	int err, cpu;

	while (!load_int(&c->stop)) {
		err = wp_set(&c->wa, 1);
		if (err) {
			report(KSFT_FAIL,
			       "pushing thread: UFFDIO_WRITEPROTECT: %s",
			       strerror(-err));
			break;
		}
		sleep_us(rand_r(&seed) % PUSH_DELAY_US);
		cpu = other_cpu(c, &seed);
		err = stress_move(c, load_int(&c->tid), cpu, 0);
		if (err && !load_int(&c->stop)) {
			report(KSFT_FAIL, "pushing thread: sched_setaffinity to CPU %d: %s", cpu,
			       strerror(-err));
			break;
		}
		c->pushes++;
		sleep_us(rand_r(&seed) % PUSH_DELAY_US);
	}
	return NULL;
}

static void *checker(void *arg)
{
	struct stress_ctx *c = arg;
	struct rseq *rs = c->wa.rs;
	unsigned int seed = 3;
	long long deadline;
	int err, i;

	err = stress_move(c, 0, c->roam[0], 0);
	if (!err)
		err = sys_rseq(rs, 0);
	if (err) {
		report(KSFT_FAIL, "setup: pin or rseq registration: %s", strerror(-err));
		store_int(&c->stop, 1);
		return NULL;
	}
	store_int(&c->tid, thread_id());
	deadline = now_ms() + STRESS_SECONDS * 1000;
	while (now_ms() < deadline && c->checks < STRESS_CHECKS && c->stale < STRESS_FAILS &&
	       !failed()) {
		for (i = 0; i < CHECKS_PER_MOVE; i++)
			stress_check(c, rs);
		err = stress_move(c, 0, c->roam[rand_r(&seed) % c->nroam], 0);
		if (err) {
			report(KSFT_FAIL, "sched_setaffinity: %s", strerror(-err));
			break;
		}
		c->self_moves++;
	}
	store_int(&c->stop, 1);
	return NULL;
}

static void test_stress(void)
{
	static struct stress_ctx c;
	pthread_t monitor_thread, pusher_thread, checker_thread;
	char why[256];
	int i;

	if (wp_area_init(&c.wa, why, sizeof(why))) {
		report(KSFT_SKIP, "%s", why);
		return;
	}
	pthread_mutex_init(&c.move_lock, NULL);
	c.nroam = helper_cpu() >= 0 ? ncpus - 1 : ncpus;
	for (i = 0; i < c.nroam; i++)
		c.roam[i] = cpus[i];
	if (helper_cpu() >= 0)
		pin(0, helper_cpu());
	if (pthread_create(&monitor_thread, NULL, stress_monitor, &c)) {
		report(KSFT_FAIL, "pthread_create failed");
		return;
	}
	if (pthread_create(&checker_thread, NULL, checker, &c)) {
		report(KSFT_FAIL, "pthread_create failed");
		store_int(&c.stop, 1);
		pthread_join(monitor_thread, NULL);
		return;
	}
	while (!load_int(&c.tid) && !load_int(&c.stop))
		sleep_us(100);
	if (pthread_create(&pusher_thread, NULL, pusher, &c)) {
		report(KSFT_FAIL, "pthread_create failed");
		store_int(&c.stop, 1);
	} else {
		pthread_join(checker_thread, NULL);
		pthread_join(pusher_thread, NULL);
	}
	store_int(&c.stop, 1);
	pthread_join(monitor_thread, NULL);
	if (c.stale)
		report(KSFT_FAIL,
		       "%ld of %ld checks saw ids of another CPU; first: %s (moves: %ld own, %ld by the pusher, %ld during a fault; %ld id stores faulted)",
		       c.stale, c.checks, c.first, c.self_moves, c.pushes, c.fault_moves,
		       c.faults);
	else if (!c.faults)
		report(KSFT_FAIL, "no id store faulted in %ld moves: nothing was tested",
		       c.self_moves + c.pushes);
	else
		report(KSFT_PASS,
		       "%ld checks over %d CPUs, no stale ids (moves: %ld own, %ld by the pusher, %ld during a fault; %ld id stores faulted)",
		       c.checks, c.nroam, c.self_moves, c.pushes, c.fault_moves, c.faults);
}

/* The fence tests: a thread tags cpu_id_start, a fence must rewrite it. */
struct fence_ctx {
	int cpu;		/* of the tagging thread */
	pid_t tid;
	int tagged;
	int done;
	int pipe[2];
	uint32_t seen_start, seen_id;
	int seen_cpu;
};

/*
 * Moves the caller to cpus[0] and starts fn(arg) in a new thread; 0, or
 * -1 with the failure reported.
 */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pin(0, cpus[0]);
	if (pthread_create(t, NULL, fn, arg)) {
		report(KSFT_FAIL, "pthread_create failed");
		return -1;
	}
	return 0;
}

static struct rseq fence_area __aligned(32);

/* 0, or -1 with the reason to skip in why. */
static int fence_setup(char *why, size_t len)
{
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	long err;

	if (cmds < 0) {
		snprintf(why, len, "membarrier: %s", strerror(errno));
		return -1;
	}
	if (!(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ)) {
		snprintf(why, len, "membarrier without PRIVATE_EXPEDITED_RSEQ (commands %#lx)",
			 cmds);
		return -1;
	}
	err = fence(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ);
	if (err) {
		snprintf(why, len, "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: %s",
			 strerror(-err));
		return -1;
	}
	return 0;
}

/* Registers the area on the tagging thread's CPU and stores the tag. */
static int tag_area(struct fence_ctx *c)
{
	struct rseq *rs = &fence_area;
	uint32_t start;
	int cpu;

	if (pin_and_register(&c->tid, c->cpu, rs))
		return -1;
	start = load_u32(&rs->cpu_id_start);
	cpu = current_cpu();
	if (cpu != c->cpu || start != (uint32_t)cpu) {
		report(KSFT_FAIL, "pinned to CPU %d before the tag: getcpu %d, cpu_id_start %u",
		       c->cpu, cpu, start);
		return -1;
	}
	__atomic_store_n(&rs->cpu_id_start, TAG, __ATOMIC_RELAXED);
	store_int(&c->tagged, 1);
	return 0;
}

static void *tag_and_spin(void *arg)
{
	struct fence_ctx *c = arg;
	struct rseq *rs = &fence_area;
	long long deadline = now_ms() + FENCE_SECONDS * 1000;
	uint32_t v = TAG;
	unsigned long n;

	if (!tag_area(c)) {
		for (n = 0; v == TAG; n++) {
			v = load_u32(&rs->cpu_id_start);
			if (!(n & 1023) && now_ms() > deadline)
				break;
		}
		c->seen_start = v;
		c->seen_id = load_u32(&rs->cpu_id);
		c->seen_cpu = current_cpu();
		sys_rseq(rs, RSEQ_FLAG_UNREGISTER);
	}
	store_int(&c->done, 1);
	return NULL;
}

/* Waits for the tag (1) or for the thread to give up (0). */
static int wait_tagged(struct fence_ctx *c)
{
	long long deadline = now_ms() + (FENCE_SECONDS + 2) * 1000;

	while (!load_int(&c->tagged) && !load_int(&c->done) && now_ms() < deadline)
		sleep_us(100);
	return load_int(&c->tagged);
}

static void check_tag(struct fence_ctx *c, int fences, const char *when)
{
	if (c->seen_start == TAG)
		report(KSFT_FAIL,
		       "tag %#x in cpu_id_start survived %d fence(s) %s (on CPU %d, cpu_id %u)",
		       TAG, fences, when, c->seen_cpu, c->seen_id);
	else if (c->seen_start != (uint32_t)c->cpu || c->seen_cpu != c->cpu)
		report(KSFT_FAIL, "cpu_id_start became %u after the fence, on CPU %d, pinned to %d",
		       c->seen_start, c->seen_cpu, c->cpu);
	else
		report(KSFT_PASS, "%d fence(s) %s replaced the tag with CPU %u", fences, when,
		       c->seen_start);
}

static void test_fence_running(void)
{
	struct fence_ctx c = { .cpu = cpus[1] };
	long long deadline;
	pthread_t t;
	char why[256];
	int fences = 0;
	long err;

	if (fence_setup(why, sizeof(why))) {
		report(KSFT_SKIP, "%s", why);
		return;
	}
	if (start_thread(&t, tag_and_spin, &c))
		return;
	if (wait_tagged(&c)) {
		deadline = now_ms() + (FENCE_SECONDS + 1) * 1000;
		while (!load_int(&c.done) && now_ms() < deadline) {
			err = fence(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ);
			if (err) {
				report(KSFT_FAIL, "MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: %s",
				       strerror(-err));
				break;
			}
			fences++;
			sleep_us(1000);
		}
	}
	pthread_join(t, NULL);
	if (load_int(&c.tagged))
		check_tag(&c, fences, "issued while the thread ran");
	else if (!failed())
		report(KSFT_FAIL, "the thread never stored its tag");
}

static void *tag_and_block(void *arg)
{
	struct fence_ctx *c = arg;
	struct rseq *rs = &fence_area;
	ssize_t n;
	char b;

	if (!tag_area(c)) {
		n = read(c->pipe[0], &b, 1);
		/* The first thing after the wake-up, before any other system call. */
		c->seen_start = load_u32(&rs->cpu_id_start);
		c->seen_id = load_u32(&rs->cpu_id);
		c->seen_cpu = current_cpu();
		if (n != 1)
			report(KSFT_FAIL, "read from the pipe: %zd (%s)", n, strerror(errno));
		sys_rseq(rs, RSEQ_FLAG_UNREGISTER);
	}
	store_int(&c->done, 1);
	return NULL;
}

static void test_fence_blocked(void)
{
	struct fence_ctx c = { .cpu = cpus[1] };
	const char *when = "issued while the thread was blocked";
	pthread_t t;
	char why[256], state;
	int fences = 0;
	long err;

	if (fence_setup(why, sizeof(why))) {
		report(KSFT_SKIP, "%s", why);
		return;
	}
	if (pipe(c.pipe)) {
		report(KSFT_FAIL, "pipe: %s", strerror(errno));
		return;
	}
	if (start_thread(&t, tag_and_block, &c))
		return;
	if (wait_tagged(&c)) {
		state = wait_asleep(load_int(&c.tid));
		if (state == '?') {
			/* No /proc: give it time to block. */
			when = "issued 100 ms after the thread started to block (no /proc)";
			sleep_us(100000);
		} else if (state != 'S' && state != 'D') {
			report(KSFT_FAIL, "the thread did not block in read() (state %c)", state);
		}
		/* Let it get off its CPU for good. */
		sleep_us(10000);
		if (!failed()) {
			err = fence(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ);
			if (err)
				report(KSFT_FAIL, "MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: %s",
				       strerror(-err));
			else
				fences++;
		}
	}
	if (write(c.pipe[1], "x", 1) != 1)
		report(KSFT_FAIL, "write to the pipe: %s", strerror(errno));
	pthread_join(t, NULL);
	if (load_int(&c.tagged) && fences)
		check_tag(&c, fences, when);
	else if (!failed())
		report(KSFT_FAIL, "the thread never stored its tag");
}

/*
 * Another thread changes a blocked thread's area: it drops the page
 * (MADV_DONTNEED, after which it reads zeros) or stores a tag into
 * cpu_id_start. 6.12 stored the ids after every switch, so the thread
 * sees its CPU again when it wakes, before any system call of its own.
 */
#define OUTSIDE_ROUNDS	20

struct outside_ctx {
	int cpu;		/* of the blocking thread */
	pid_t tid;
	int ready;		/* rounds the thread has started */
	int done;
	int pipe[2];
	char *page;		/* holds its area, alone */
	uint32_t seen_start[OUTSIDE_ROUNDS], seen_id[OUTSIDE_ROUNDS];
	int seen_cpu[OUTSIDE_ROUNDS];
};

static void *block_rounds(void *arg)
{
	struct outside_ctx *c = arg;
	struct rseq *rs = (struct rseq *)c->page;
	int i;
	char b;

	if (pin_and_register(&c->tid, c->cpu, rs)) {
		store_int(&c->done, 1);
		return NULL;
	}
	for (i = 0; i < OUTSIDE_ROUNDS; i++) {
		store_int(&c->ready, i + 1);
		if (read(c->pipe[0], &b, 1) != 1) {
			report(KSFT_FAIL, "read from the pipe: %s", strerror(errno));
			break;
		}
		/* The first thing after the wake-up, before any other system call. */
		c->seen_start[i] = load_u32(&rs->cpu_id_start);
		c->seen_id[i] = load_u32(&rs->cpu_id);
		c->seen_cpu[i] = current_cpu();
	}
	sys_rseq(rs, RSEQ_FLAG_UNREGISTER);
	store_int(&c->done, 1);
	return NULL;
}

static void test_outside_change(void)
{
	struct outside_ctx c = { .cpu = cpus[1] };
	long psize = sysconf(_SC_PAGESIZE);
	int i, bad = 0, first = -1;
	long long deadline;
	pthread_t t;
	char state;

	c.page = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c.page == MAP_FAILED || pipe(c.pipe)) {
		report(KSFT_FAIL, "mmap or pipe: %s", strerror(errno));
		return;
	}
	if (start_thread(&t, block_rounds, &c))
		return;
	for (i = 0; i < OUTSIDE_ROUNDS && !failed(); i++) {
		deadline = now_ms() + ASLEEP_MS;
		while (load_int(&c.ready) <= i && !load_int(&c.done) && now_ms() < deadline)
			sleep_us(100);
		if (load_int(&c.ready) <= i)
			break;
		state = wait_asleep(load_int(&c.tid));
		if (state != 'S' && state != 'D' && state != '?') {
			report(KSFT_FAIL, "round %d: the thread did not block in read() (state %c)",
			       i, state);
			break;
		}
		/* Let it get off its CPU for good. */
		sleep_us(10000);
		if (i & 1)
			__atomic_store_n(&((struct rseq *)c.page)->cpu_id_start, TAG,
					 __ATOMIC_RELAXED);
		else if (madvise(c.page, psize, MADV_DONTNEED))
			report(KSFT_FAIL, "madvise: %s", strerror(errno));
		if (write(c.pipe[1], "x", 1) != 1)
			report(KSFT_FAIL, "write to the pipe: %s", strerror(errno));
	}
	if (write(c.pipe[1], "x", 1) < 0)
		report(KSFT_FAIL, "write to the pipe: %s", strerror(errno));
	pthread_join(t, NULL);
	if (failed())
		return;
	if (i < OUTSIDE_ROUNDS) {
		report(KSFT_FAIL, "the thread stopped after %d rounds", i);
		return;
	}
	for (i = 0; i < OUTSIDE_ROUNDS; i++) {
		if (c.seen_start[i] == (uint32_t)c.seen_cpu[i] &&
		    c.seen_id[i] == (uint32_t)c.seen_cpu[i])
			continue;
		bad++;
		if (first < 0)
			first = i;
	}
	if (bad)
		report(KSFT_FAIL,
		       "%d of %d wake-ups saw stale ids; first, after %s: cpu_id_start %#x, cpu_id %u, on CPU %d",
		       bad, OUTSIDE_ROUNDS, first & 1 ? "a tag was stored" : "MADV_DONTNEED",
		       c.seen_start[first], c.seen_id[first], c.seen_cpu[first]);
	else
		report(KSFT_PASS,
		       "%d wake-ups after MADV_DONTNEED or a tag stored by another thread showed CPU %d",
		       OUTSIDE_ROUNDS, c.cpu);
}

int main(int argc, char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES");
	cpu_set_t set;
	int cpu;

	(void)argc;
	if (!t || !strstr(t, TUNABLE)) {
		setenv("GLIBC_TUNABLES", TUNABLE, 1);
		execv("/proc/self/exe", argv);
		ksft_exit_fail_msg("execv /proc/self/exe: %s\n", strerror(errno));
	}
	ksft_print_header();
	if (getauxval(AT_RSEQ_FEATURE_SIZE) == 0)
		ksft_exit_skip("kernel without rseq (no AT_RSEQ_FEATURE_SIZE)\n");
	if (sched_getaffinity(0, sizeof(set), &set))
		ksft_exit_fail_msg("sched_getaffinity: %s\n", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[ncpus++] = cpu;
	if (ncpus < 2)
		ksft_exit_skip("needs at least 2 CPUs, have %d\n", ncpus);
	outcome = mmap(NULL, sizeof(*outcome), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (outcome == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	ksft_set_plan(5);
	run_test("move back while the id store sleeps in a fault", test_move_during_store,
		 MOVE_LIMIT);
	/*
	 * The stress test stops itself after STRESS_SECONDS; the margin is
	 * for the faults in flight and the threads to wind down, which took
	 * more than 5 s once on a debug kernel (KASAN, lockdep) under QEMU.
	 */
	run_test("stress: moves while id stores fault", test_stress, STRESS_SECONDS + 25);
	run_test("fence rewrites the ids of a running thread", test_fence_running,
		 FENCE_SECONDS + 4);
	run_test("fence rewrites the ids of a blocked thread", test_fence_blocked, 8);
	run_test("ids shown again after another thread changed the area of a blocked one",
		 test_outside_change, 20);
	ksft_finished();
}
