// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of the kernel's rseq paths, with rseq registered:
 *
 *  ctxsw     two threads pinned to one CPU pass a token through a futex,
 *            so every hand-off is a context switch followed by a return
 *            to user space;
 *  signal    a thread sends itself a signal and handles it;
 *  regunreg  one rseq() registration and one unregistration;
 *  null      getppid(), the null system call, as a yardstick.
 *
 * Usage: rseq_bench [iterations [repetitions [jobs]]]
 *
 * Prints, per repetition, nanoseconds per iteration of each path:
 *
 *   rseq_bench rep=N ctxsw_ns=X signal_ns=X regunreg_ns=X null_ns=X
 *
 * When the kernel has CONFIG_RSEQ_STATS, it also prints how the rseq
 * counters in debugfs moved during the first repetition of each path and
 * during a build-like workload ("build": processes started by fork and
 * exec, two per CPU, each computing like a compiler run and writing its
 * result to /dev/null), as
 *
 *   rseq_bench stats phase=P name=value ...
 *
 * glibc's own registration is turned off for the timed paths (the program
 * re-executes itself with the tunable) so that each thread registers an
 * area of its own; the build workload's processes keep glibc's.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/compiler.h>
#include <linux/futex.h>
#include <linux/rseq.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIG		0x53053053U
#define TUNABLE		"glibc.pthread.rseq=0"
#define STATS		"/sys/kernel/debug/rseq/stats"
#define MAX_STATS	16

static __thread struct rseq area __aligned(32);

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static long sys_rseq(struct rseq *a, int flags)
{
	return syscall(__NR_rseq, a, 32, flags, SIG);
}

static void register_self(void)
{
	if (sys_rseq(&area, 0))
		die("rseq register");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

struct stats {
	int n;
	char name[MAX_STATS][32];
	unsigned long val[MAX_STATS];
};

/* Returns 0 and fills @s, or -1 when the kernel has no counters. */
static int read_stats(struct stats *s)
{
	FILE *f = fopen(STATS, "r");

	if (!f)
		return -1;
	s->n = 0;
	while (s->n < MAX_STATS &&
	       fscanf(f, "%31s %lu", s->name[s->n], &s->val[s->n]) == 2)
		s->n++;
	fclose(f);
	return 0;
}

static void print_stats(const char *phase, const struct stats *a,
			const struct stats *b)
{
	int i;

	printf("rseq_bench stats phase=%s", phase);
	for (i = 0; i < a->n && i < b->n; i++)
		printf(" %s=%lu", b->name[i], b->val[i] - a->val[i]);
	printf("\n");
	fflush(stdout);
}

static int token;
static long rounds;

static void futex_wait(int *addr, int val)
{
	syscall(__NR_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(int *addr)
{
	syscall(__NR_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Waits until the token is @mine, then hands it to the other side. */
static void play(int mine)
{
	long i;

	for (i = 0; i < rounds; i++) {
		while (__atomic_load_n(&token, __ATOMIC_ACQUIRE) != mine)
			futex_wait(&token, !mine);
		__atomic_store_n(&token, !mine, __ATOMIC_RELEASE);
		futex_wake(&token);
	}
}

static void *partner(void *arg)
{
	(void)arg;
	pin(0);
	register_self();
	play(1);
	return NULL;
}

static double bench_ctxsw(long n)
{
	uint64_t start;
	pthread_t t;

	rounds = n;
	token = 0;
	pin(0);
	start = now_ns();
	if (pthread_create(&t, NULL, partner, NULL))
		die("pthread_create");
	play(0);
	pthread_join(t, NULL);
	/* Each round is two hand-offs, hence two context switches. */
	return (double)(now_ns() - start) / (2.0 * n);
}

static void on_signal(int sig)
{
	(void)sig;
}

static double bench_signal(long n)
{
	uint64_t start;
	long i;

	signal(SIGUSR1, on_signal);
	start = now_ns();
	for (i = 0; i < n; i++)
		raise(SIGUSR1);
	return (double)(now_ns() - start) / n;
}

static double bench_regunreg(long n)
{
	uint64_t start;
	long i;

	if (sys_rseq(&area, RSEQ_FLAG_UNREGISTER))
		die("rseq unregister");
	start = now_ns();
	for (i = 0; i < n; i++) {
		if (sys_rseq(&area, 0) || sys_rseq(&area, RSEQ_FLAG_UNREGISTER))
			die("rseq");
	}
	register_self();
	return (double)(now_ns() - start) / n;
}

static double bench_null(long n)
{
	uint64_t start = now_ns();
	long i;

	for (i = 0; i < n; i++)
		syscall(__NR_getppid);
	return (double)(now_ns() - start) / n;
}

/*
 * One job of the build workload: compute, and write the result out. Like
 * a compiler run it lasts long enough (a few hundred milliseconds under
 * QEMU's emulation) to be preempted many times.
 */
static int job(void)
{
	static unsigned char buf[1 << 14];
	uint32_t h = 2166136261U;
	int r, i;

	for (r = 0; r < 2048; r++) {
		for (i = 0; i < (int)sizeof(buf); i++) {
			buf[i] += (unsigned char)(h >> 7);
			h = (h ^ buf[i]) * 16777619U;
		}
		if (write(STDOUT_FILENO, &h, sizeof(h)) != sizeof(h))
			return 1;
	}
	return 0;
}

/* Runs @jobs jobs, two per CPU at a time, each a new process. */
static void build_workload(int jobs)
{
	long slots = 2 * sysconf(_SC_NPROCESSORS_ONLN);
	int started = 0, running = 0, status;
	int null = open("/dev/null", O_WRONLY);

	if (null < 0)
		die("/dev/null");
	/* The jobs use glibc's own rseq registration. */
	unsetenv("GLIBC_TUNABLES");
	while (started < jobs || running > 0) {
		if (started < jobs && running < slots) {
			pid_t pid = fork();

			if (pid < 0)
				die("fork");
			if (pid == 0) {
				dup2(null, STDOUT_FILENO);
				execl("/proc/self/exe", "rseq_bench", "--job", NULL);
				_exit(127);
			}
			started++;
			running++;
			continue;
		}
		if (wait(&status) < 0)
			die("wait");
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "rseq_bench: a job failed (status %d)\n", status);
		running--;
	}
	close(null);
}

int main(int argc, char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES");
	long n = argc > 1 ? atol(argv[1]) : 20000;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	int jobs = argc > 3 ? atoi(argv[3]) : 64;
	struct stats before, after;
	int have_stats, r;

	if (argc > 1 && !strcmp(argv[1], "--job"))
		return job();
	if (!t || !strstr(t, TUNABLE)) {
		setenv("GLIBC_TUNABLES", TUNABLE, 1);
		execv("/proc/self/exe", argv);
		die("execv /proc/self/exe");
	}
	if (n <= 0 || reps <= 0 || jobs < 0) {
		fprintf(stderr, "usage: %s [iterations [repetitions [jobs]]]\n", argv[0]);
		return 2;
	}
	register_self();
	have_stats = read_stats(&before) == 0;
	if (!have_stats)
		printf("rseq_bench stats unavailable: no %s\n", STATS);
	for (r = 1; r <= reps; r++) {
		double ctxsw, sig, reg, null;

#define PHASE(var, name, call)					\
		do {						\
			if (r == 1 && have_stats)		\
				read_stats(&before);		\
			var = call;				\
			if (r == 1 && have_stats) {		\
				read_stats(&after);		\
				print_stats(name, &before, &after); \
			}					\
		} while (0)
		PHASE(ctxsw, "ctxsw", bench_ctxsw(n));
		PHASE(sig, "signal", bench_signal(n));
		PHASE(reg, "regunreg", bench_regunreg(n));
		PHASE(null, "null", bench_null(n));
#undef PHASE
		printf("rseq_bench rep=%d ctxsw_ns=%.1f signal_ns=%.1f",
		       r, ctxsw, sig);
		printf(" regunreg_ns=%.1f null_ns=%.1f\n", reg, null);
		fflush(stdout);
	}
	if (have_stats && jobs > 0) {
		read_stats(&before);
		build_workload(jobs);
		read_stats(&after);
		print_stats("build", &before, &after);
	}
	return 0;
}
