// SPDX-License-Identifier: GPL-2.0
/*
 * rseq ABI test: every error the rseq() system call returns, and what the
 * kernel does on return to user space with a critical section set up:
 * move an interrupted thread to the abort handler, or kill it with
 * SIGSEGV when the descriptor or the signature is bad. It also checks
 * that a thread preempted inside a section (no signal) aborts, and that
 * the rseq tracepoints fire when tracefs has them, and that fork keeps a
 * registration while clone with CLONE_VM and exec drop it.
 *
 * The test registers its own area, so it re-executes itself with glibc's
 * own rseq registration turned off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/auxvec.h>
#include <linux/compiler.h>
#include <linux/rseq.h>

#include "../kselftest.h"
#include "rseq_abi_cs.h"

#define TUNABLE		"glibc.pthread.rseq=0"

#define REGISTRATION_TESTS	23
#define DESCRIPTOR_TESTS	7
#define INHERIT_TESTS		3
#define TRACE_TESTS		2
#define TRACEFS			"/sys/kernel/tracing"

static struct rseq area __aligned(256);

static long sys_rseq(void *a, uint32_t len, int flags, uint32_t sig)
{
	long ret = syscall(__NR_rseq, a, len, flags, sig);

	return ret < 0 ? -errno : ret;
}

static void expect(long got, long want, const char *what)
{
	if (got == want)
		ksft_test_result_pass("%s\n", what);
	else
		ksft_test_result_fail("%s: got %ld (%s), want %ld\n", what, got,
				      got < 0 ? strerror(-got) : "ok", want);
}

static void on_signal(int sig)
{
	(void)sig;
}

/* Runs fn in a child and returns how it ended: exit code, or -signal. */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	if (waitpid(pid, &status, 0) != pid)
		ksft_exit_fail_msg("waitpid: %s\n", strerror(errno));
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int register_area(void)
{
	memset(&area, 0, sizeof(area));
	area.cpu_id = RSEQ_CPU_ID_UNINITIALIZED;
	return sys_rseq(&area, 32, 0, SIG) ? 100 : 0;
}

/* Points rseq_cs at arg, then gets a signal delivered (outside any section). */
static int signal_with_cs(void *arg)
{
	if (register_area())
		return 100;
	signal(SIGUSR1, on_signal);
	area.rseq_cs = (uint64_t)(uintptr_t)arg;
	raise(SIGUSR1);
	return 0;
}

static struct rseq_cs cs;

#ifndef NO_CS_ASM
static void arm_timer(void)
{
	struct itimerval it = { .it_value = { .tv_usec = 20000 } };

	signal(SIGALRM, on_signal);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void spin_cs(uint32_t flags, char *abort_ip)
{
	memset(&cs, 0, sizeof(cs));
	cs.flags = flags;
	cs.start_ip = (uintptr_t)cs_spin_start;
	cs.post_commit_offset = (uintptr_t)cs_spin_end - (uintptr_t)cs_spin_start;
	cs.abort_ip = (uintptr_t)abort_ip;
}

/* Spins in a section until a timer signal interrupts it. */
static int spin_until_signal(void *arg)
{
	long ret;

	(void)arg;
	if (register_area())
		return 100;
	arm_timer();
	ret = cs_spin((uint64_t *)&area.rseq_cs, &cs, ~0UL);
	/* The kernel clears rseq_cs when it aborts the section. */
	if (ret == 1 && area.rseq_cs != 0)
		return 101;
	return ret;
}

static int kill_in_section(void *arg)
{
	(void)arg;
	if (register_area())
		return 100;
	signal(SIGUSR1, on_signal);
	memset(&cs, 0, sizeof(cs));
	cs.start_ip = (uintptr_t)cs_kill_start;
	cs.post_commit_offset = (uintptr_t)cs_kill_end - (uintptr_t)cs_kill_start;
	cs.abort_ip = (uintptr_t)cs_kill_abort;
	return cs_kill((uint64_t *)&area.rseq_cs, &cs, getpid(), SIGUSR1);
}

static int spin_done;

/*
 * Sleeps and wakes up on the spinner's CPU until the spinner is done, so
 * that the spinner is switched out while inside its section; gives up
 * (killing the process) after about ten seconds.
 */
static void *preempter(void *arg)
{
	struct timespec ts = { .tv_nsec = 1000000 };
	int i;

	(void)arg;
	for (i = 0; i < 10000; i++) {
		if (__atomic_load_n(&spin_done, __ATOMIC_ACQUIRE))
			return NULL;
		nanosleep(&ts, NULL);
	}
	kill(getpid(), SIGKILL);
	return NULL;
}

/* Spins in a section, with no signal, until another thread preempts it. */
static int spin_until_preempted(void *arg)
{
	cpu_set_t set;
	pthread_t t;
	long ret;

	(void)arg;
	if (register_area())
		return 100;
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 102;
	if (pthread_create(&t, NULL, preempter, NULL))
		return 103;
	ret = cs_spin((uint64_t *)&area.rseq_cs, &cs, ~0UL);
	__atomic_store_n(&spin_done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	if (ret == 1 && area.rseq_cs != 0)
		return 101;
	return ret;
}

static int thread_flags_in_section(void *arg)
{
	(void)arg;
	if (register_area())
		return 100;
	area.flags = RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT;
	spin_cs(0, cs_spin_abort);
	arm_timer();
	return cs_spin((uint64_t *)&area.rseq_cs, &cs, ~0UL);
}
#endif

static int register_at(void *arg)
{
	sys_rseq(arg, 32, 0, SIG);
	return 0;
}

static void expect_death(int how, const char *what)
{
	if (how == -SIGSEGV)
		ksft_test_result_pass("%s\n", what);
	else
		ksft_test_result_fail("%s: ended with %d, want SIGSEGV\n", what, how);
}

static void registration_tests(void)
{
	struct rseq *other;
	void *page;
	long ret;

	ret = sys_rseq(&area, 32, 0, SIG);
	expect(ret, 0, "register a 32-byte area");
	ksft_test_result(ret == 0 && (int)area.cpu_id >= 0 &&
			 area.cpu_id == area.cpu_id_start &&
			 area.cpu_id < (unsigned int)sysconf(_SC_NPROCESSORS_CONF),
			 "cpu_id and cpu_id_start set before returning (%d)\n",
			 (int)area.cpu_id);
	expect(sys_rseq(&area, 32, 0, SIG), -EBUSY, "register the same area again: EBUSY");
	other = aligned_alloc(32, 64);
	expect(sys_rseq(other, 32, 0, SIG), -EINVAL, "register another area: EINVAL");
	expect(sys_rseq(&area, 64, 0, SIG), -EINVAL, "register with another length: EINVAL");
	expect(sys_rseq(&area, 32, 0, OTHER_SIG), -EPERM, "register with another signature: EPERM");
	expect(sys_rseq(other, 32, RSEQ_FLAG_UNREGISTER, SIG), -EINVAL,
	       "unregister another area: EINVAL");
	expect(sys_rseq(&area, 64, RSEQ_FLAG_UNREGISTER, SIG), -EINVAL,
	       "unregister with another length: EINVAL");
	expect(sys_rseq(&area, 32, RSEQ_FLAG_UNREGISTER, OTHER_SIG), -EPERM,
	       "unregister with another signature: EPERM");
	expect(sys_rseq(&area, 32, RSEQ_FLAG_UNREGISTER | 2, SIG), -EINVAL,
	       "unregister with an unknown flag too: EINVAL");
	expect(sys_rseq(&area, 32, RSEQ_FLAG_UNREGISTER, SIG), 0, "unregister");
	ksft_test_result(area.cpu_id == (uint32_t)RSEQ_CPU_ID_UNINITIALIZED &&
			 area.cpu_id_start == 0 && area.node_id == 0 && area.mm_cid == 0,
			 "unregister resets the id fields\n");
	expect(sys_rseq(&area, 32, RSEQ_FLAG_UNREGISTER, SIG), -EINVAL,
	       "unregister when not registered: EINVAL");

	expect(sys_rseq(&area, 32, 2, SIG), -EINVAL, "register with an unknown flag: EINVAL");
	expect(sys_rseq(&area, 31, 0, SIG), -EINVAL, "register 31 bytes: EINVAL");
	expect(sys_rseq((char *)&area + 16, 32, 0, SIG), -EINVAL,
	       "register 32 bytes on a 16-byte boundary: EINVAL");
	expect(sys_rseq((char *)&area + 16, 64, 0, SIG), -EINVAL,
	       "register 64 bytes on a 16-byte boundary: EINVAL");
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	munmap(page, 4096);
	expect(sys_rseq(page, 32, 0, SIG), -EFAULT, "register an unmapped area: EFAULT");
	expect(sys_rseq((void *)(uintptr_t)(-4096UL), 32, 0, SIG), -EFAULT,
	       "register a kernel address: EFAULT");
	/* Accepted, but the id update on the way back to user space fails. */
	page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect_death(in_child(register_at, page), "register a read-only area: SIGSEGV on return");

	expect(sys_rseq(&area, 64, 0, SIG), 0, "register 64 bytes (longer than the original)");
	expect(sys_rseq(&area, 64, RSEQ_FLAG_UNREGISTER, SIG), 0, "unregister 64 bytes");

	area.rseq_cs = 0xdead0000;
	ret = sys_rseq(&area, 32, 0, SIG);
	ksft_test_result(ret == 0 && area.rseq_cs == 0,
			 "registration clears a stale rseq_cs\n");
	sys_rseq(&area, 32, RSEQ_FLAG_UNREGISTER, SIG);
	free(other);
}

static void descriptor_tests(void)
{
	static struct rseq_cs bad;
	void *page;

	memset(&bad, 0, sizeof(bad));
	bad.start_ip = 0x10000;
	bad.post_commit_offset = 0x100;
	bad.abort_ip = 0x20000;
	bad.version = 1;
	expect_death(in_child(signal_with_cs, &bad), "version 1 descriptor: SIGSEGV");
	bad.version = 0;
	bad.abort_ip = 0x10080;
	expect_death(in_child(signal_with_cs, &bad), "abort handler inside the section: SIGSEGV");
	bad.abort_ip = 0x20000;
	bad.start_ip = 1ULL << 63;
	expect_death(in_child(signal_with_cs, &bad), "section beyond user space: SIGSEGV");
	bad.start_ip = 0x10000;
	bad.post_commit_offset = ~0ULL - 0x100;
	expect_death(in_child(signal_with_cs, &bad), "section end overflows: SIGSEGV");
	bad.post_commit_offset = 0x100;
	/* Valid section, but nothing is mapped before the abort handler. */
	expect_death(in_child(signal_with_cs, &bad), "unreadable signature: SIGSEGV");
	expect_death(in_child(signal_with_cs, (void *)(uintptr_t)(1ULL << 63)),
		     "rseq_cs beyond user space: SIGSEGV");
	page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page, 4096);
	expect_death(in_child(signal_with_cs, page), "rseq_cs unmapped: SIGSEGV");
}

static void section_tests(void)
{
#ifdef NO_CS_ASM
	ksft_test_result_skip("critical sections: no assembly for this architecture\n");
#else
	int how;

	spin_cs(0, cs_spin_abort);
	how = in_child(spin_until_signal, NULL);
	ksft_test_result(how == 1, "signal inside a section moves to the abort handler (%d)\n",
			 how);
	spin_cs(0, cs_spin_badsig);
	expect_death(in_child(spin_until_signal, NULL),
		     "wrong signature before abort handler: SIGSEGV");
	spin_cs(RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL, cs_spin_abort);
	expect_death(in_child(spin_until_signal, NULL), "deprecated flag in rseq_cs: SIGSEGV");
	expect_death(in_child(thread_flags_in_section, NULL),
		     "deprecated flag in rseq flags: SIGSEGV");
	spin_cs(0, cs_spin_abort);
	how = in_child(spin_until_preempted, NULL);
	ksft_test_result(how == 1, "preemption inside a section moves to the abort handler (%d)\n",
			 how);
	how = in_child(kill_in_section, NULL);
	if (how == 1)
		ksft_test_result_skip("system call in a section: aborted (no CONFIG_DEBUG_RSEQ)\n");
	else
		expect_death(how, "system call in a section: SIGSEGV (CONFIG_DEBUG_RSEQ)");
#endif
}

/* In a child of a registered process: still registered, ids stored. */
static int forked_is_registered(void *arg)
{
	(void)arg;
	sched_yield();
	if (sys_rseq(&area, 32, 0, SIG) != -EBUSY)
		return 1;
	return (int)area.cpu_id >= 0 ? 0 : 2;
}

static void *thread_is_unregistered(void *arg)
{
	static struct rseq thread_area __aligned(32);

	(void)arg;
	/* Unregistering fails when the thread has no registration. */
	return (void *)(long)(sys_rseq(&thread_area, 32, RSEQ_FLAG_UNREGISTER, SIG) ==
			      -EINVAL);
}

static int exec_check(void *arg)
{
	execl("/proc/self/exe", "rseq_abi_test", "--exec-check", (char *)NULL);
	(void)arg;
	return 3;
}

static void inheritance_tests(void)
{
	pthread_t t;
	void *ok = NULL;

	if (sys_rseq(&area, 32, 0, SIG))
		ksft_exit_fail_msg("register: %s\n", strerror(errno));
	ksft_test_result(in_child(forked_is_registered, NULL) == 0,
			 "fork keeps the registration\n");
	if (pthread_create(&t, NULL, thread_is_unregistered, NULL) || pthread_join(t, &ok))
		ksft_exit_fail_msg("pthread: %s\n", strerror(errno));
	ksft_test_result(!!ok, "a new thread (CLONE_VM) is not registered\n");
	ksft_test_result(in_child(exec_check, NULL) == 0, "exec drops the registration\n");
	sys_rseq(&area, 32, RSEQ_FLAG_UNREGISTER, SIG);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Whether the trace buffer holds an event named @event. */
static int trace_has(const char *event)
{
	static char buf[1 << 16];
	int fd = open(TRACEFS "/trace", O_RDONLY);
	ssize_t n, len = 0;

	if (fd < 0)
		return 0;
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	return !!strstr(buf, event);
}

/*
 * The rseq_update and rseq_ip_fixup tracepoints fire for a registration
 * and for an abort (in a section interrupted by a signal).
 */
static void tracepoint_tests(void)
{
#ifdef NO_CS_ASM
	ksft_test_result_skip("tracepoints: no assembly for this architecture\n");
	ksft_test_result_skip("tracepoints: no assembly for this architecture\n");
#else
	if (access(TRACEFS "/events/rseq/enable", W_OK)) {
		/* No CONFIG_FTRACE, or tracefs is not mounted. */
		ksft_test_result_skip("rseq_update tracepoint: no %s/events/rseq\n", TRACEFS);
		ksft_test_result_skip("rseq_ip_fixup tracepoint: no %s/events/rseq\n", TRACEFS);
		return;
	}
	if (write_file(TRACEFS "/trace", "") || write_file(TRACEFS "/events/rseq/enable", "1") ||
	    write_file(TRACEFS "/tracing_on", "1"))
		ksft_exit_fail_msg("cannot enable the rseq events: %s\n", strerror(errno));
	spin_cs(0, cs_spin_abort);
	in_child(spin_until_signal, NULL);
	write_file(TRACEFS "/events/rseq/enable", "0");
	ksft_test_result(trace_has("rseq_update:"), "rseq_update tracepoint fires\n");
	ksft_test_result(trace_has("rseq_ip_fixup:"), "rseq_ip_fixup tracepoint fires\n");
	write_file(TRACEFS "/trace", "");
#endif
}

int main(int argc, char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if (!t || !strstr(t, TUNABLE)) {
		setenv("GLIBC_TUNABLES", TUNABLE, 1);
		execv("/proc/self/exe", argv);
		ksft_exit_fail_msg("execv /proc/self/exe: %s\n", strerror(errno));
	}
	if (argc > 1 && !strcmp(argv[1], "--exec-check"))
		return sys_rseq(&area, 32, RSEQ_FLAG_UNREGISTER, SIG) == -EINVAL ? 0 : 1;
	ksft_print_header();
	if (getauxval(AT_RSEQ_FEATURE_SIZE) == 0)
		ksft_exit_skip("kernel without rseq (no AT_RSEQ_FEATURE_SIZE)\n");
#ifdef NO_CS_ASM
	ksft_set_plan(REGISTRATION_TESTS + DESCRIPTOR_TESTS + 1 + INHERIT_TESTS + TRACE_TESTS);
#else
	ksft_set_plan(REGISTRATION_TESTS + DESCRIPTOR_TESTS + 6 + INHERIT_TESTS + TRACE_TESTS);
#endif
	registration_tests();
	descriptor_tests();
	section_tests();
	inheritance_tests();
	tracepoint_tests();
	ksft_finished();
}
