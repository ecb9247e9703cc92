// SPDX-License-Identifier: GPL-2.0
/*
 * rseq ABI test: every error the rseq() system call returns, and what the
 * kernel does on return to user space with a critical section set up:
 * move an interrupted thread to the abort handler, or kill it with
 * SIGSEGV when the descriptor or the signature is bad. It also checks
 * that a thread preempted inside a section (no signal) aborts, and that
 * the rseq tracepoints fire when tracefs has them, and that fork keeps a
 * registration while clone with CLONE_VM and exec drop it. Then: a thread
 * that switches out outside its section gets rseq_cs cleared, a tracer
 * moving a stopped tracee into its section makes it abort, and a bad
 * signature is reported in the kernel log.
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
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
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
#define CS_CLEAR_TESTS		2
#define PTRACE_TESTS		2
#define KMSG_TESTS		1
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

static pid_t last_child;

/* Runs fn in a child and returns how it ended: exit code, or -signal. */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	last_child = pid;
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

/*
 * Stand-ins for the abort handlers of sections a thread never enters: the
 * kernel checks the word before abort_ip against the registered signature
 * whenever it looks at a section, but moves only a thread inside the
 * section to abort_ip.
 */
static uint32_t fake_abort[4] = { SIG, 0, OTHER_SIG, 0 };

/* A valid descriptor of a section at a made-up address, run by no one. */
static void outside_cs(struct rseq_cs *d, uint32_t *abort_ip)
{
	memset(d, 0, sizeof(*d));
	d->start_ip = 0x10000;
	d->post_commit_offset = 0x100;
	d->abort_ip = (uintptr_t)abort_ip;
}

static struct rseq_cs idle_cs;

/* Points rseq_cs at a section it is not in, then blocks for a while. */
static int sleep_outside_cs(void *arg)
{
	(void)arg;
	if (register_area())
		return 100;
	outside_cs(&idle_cs, &fake_abort[1]);
	area.rseq_cs = (uint64_t)(uintptr_t)&idle_cs;
	usleep(10000);
	if (area.rseq_cs == 0)
		return 0;
	return area.rseq_cs == (uint64_t)(uintptr_t)&idle_cs ? 1 : 2;
}

/* The same with the descriptor on a page it unmaps after the sleep. */
static int unmap_descriptor(void *arg)
{
	long psize = sysconf(_SC_PAGESIZE);
	struct rseq_cs *d;

	(void)arg;
	if (register_area())
		return 100;
	d = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d == MAP_FAILED)
		return 101;
	outside_cs(d, &fake_abort[1]);
	area.rseq_cs = (uint64_t)(uintptr_t)d;
	usleep(10000);
	munmap(d, psize);
	usleep(10000);
	return 0;
}

/*
 * A thread switched out outside its section gets rseq_cs cleared before
 * it runs user code again, so that user space may free the descriptor.
 */
static void cs_clear_tests(void)
{
	const char *what = "a sleep outside the section clears rseq_cs";
	int how = in_child(sleep_outside_cs, NULL);

	if (how == 0)
		ksft_test_result_pass("%s\n", what);
	else if (how == 1)
		ksft_test_result_fail("%s: still points at the descriptor after the sleep\n", what);
	else if (how == 2)
		ksft_test_result_fail("%s: changed to another value\n", what);
	else
		ksft_test_result_fail("%s: child ended with %d (100: no registration)\n", what,
				      how);
	what = "unmapping a descriptor after a sleep outside its section";
	how = in_child(unmap_descriptor, NULL);
	if (how == 0)
		ksft_test_result_pass("%s: thread lives on\n", what);
	else if (how == -SIGSEGV)
		ksft_test_result_fail("%s: SIGSEGV, the stale rseq_cs was read after the unmap\n",
				      what);
	else
		ksft_test_result_fail("%s: child exit %d (100: unregistered, 101: no mmap)\n",
				      what, how);
}

#if defined(__x86_64__) || defined(__aarch64__)
#define ABORT_SLACK	16	/* bytes: the first few instructions of the handler */

static uintptr_t regs_ip(const struct user_regs_struct *r)
{
#ifdef __x86_64__
	return r->rip;
#else
	return r->pc;
#endif
}

/* Moves the tracee to the start of the cs_spin loop, with a long count. */
static void regs_enter_cs_spin(struct user_regs_struct *r)
{
#ifdef __x86_64__
	r->rip = (uintptr_t)cs_spin_start;
	r->rdx = 1ULL << 40;
#else
	r->pc = (uintptr_t)cs_spin_start;
	r->regs[2] = 1ULL << 40;
#endif
}

/* In a child: registers, optionally points rseq_cs at arg, stops. */
static int stop_for_tracer(void *arg)
{
	if (register_area())
		return 100;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		return 101;
	if (arg)
		area.rseq_cs = (uint64_t)(uintptr_t)arg;
	raise(SIGSTOP);
	return 102;
}

static void describe_ip(char *buf, size_t len, uintptr_t ip)
{
	uintptr_t start = (uintptr_t)cs_spin_start, end = (uintptr_t)cs_spin_end;
	uintptr_t abort_ip = (uintptr_t)cs_spin_abort;

	if (ip >= start && ip < end)
		snprintf(buf, len, "cs_spin_start+%lu, inside the section",
			 (unsigned long)(ip - start));
	else if (ip >= abort_ip && ip < abort_ip + ABORT_SLACK)
		snprintf(buf, len, "cs_spin_abort+%lu", (unsigned long)(ip - abort_ip));
	else
		snprintf(buf, len, "%#lx (cs_spin_start %#lx, cs_spin_abort %#lx)",
			 (unsigned long)ip, (unsigned long)start, (unsigned long)abort_ip);
}

/*
 * A tracer moves a stopped tracee into the section its rseq_cs describes
 * (set up by the tracee before the stop, or by the tracer with poke) and
 * single-steps it: the kernel must move it to the abort handler first.
 */
static void ptrace_into_section(int poke, const char *what)
{
	struct user_regs_struct regs;
	struct iovec iov = { .iov_base = &regs, .iov_len = sizeof(regs) };
	uintptr_t abort_ip = (uintptr_t)cs_spin_abort, ip;
	char where[128];
	int status = 0;
	long at_stop;
	pid_t pid;

	spin_cs(0, cs_spin_abort);
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (pid == 0)
		_exit(stop_for_tracer(poke ? NULL : &cs));
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status) ||
	    WSTOPSIG(status) != SIGSTOP) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 101)
			ksft_test_result_skip("%s: PTRACE_TRACEME failed\n", what);
		else
			ksft_test_result_fail("%s: the child did not stop (status %#x)\n", what,
					      status);
		goto out;
	}
	errno = 0;
	at_stop = ptrace(PTRACE_PEEKDATA, pid, &area.rseq_cs, NULL);
	if (errno ||
	    (poke && ptrace(PTRACE_POKEDATA, pid, &area.rseq_cs, (void *)(uintptr_t)&cs)) ||
	    ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov)) {
		ksft_test_result_fail("%s: peek, poke or PTRACE_GETREGSET: %s\n", what,
				      strerror(errno));
		goto out;
	}
	regs_enter_cs_spin(&regs);
	if (ptrace(PTRACE_SETREGSET, pid, (void *)NT_PRSTATUS, &iov) ||
	    ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL)) {
		ksft_test_result_fail("%s: PTRACE_SETREGSET or PTRACE_SINGLESTEP: %s\n", what,
				      strerror(errno));
		goto out;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status) ||
	    WSTOPSIG(status) != SIGTRAP) {
		ksft_test_result_fail("%s: after the step: status %#x, want a SIGTRAP stop\n",
				      what, status);
		goto out;
	}
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov)) {
		ksft_test_result_fail("%s: PTRACE_GETREGSET: %s\n", what, strerror(errno));
		goto out;
	}
	ip = regs_ip(&regs);
	describe_ip(where, sizeof(where), ip);
	ksft_test_result(ip >= abort_ip && ip < abort_ip + ABORT_SLACK,
			 "%s: one step from cs_spin_start ends at %s (rseq_cs at the stop: %#lx)\n",
			 what, where, at_stop);
out:
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}
#endif

static void ptrace_tests(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
	ptrace_into_section(0, "tracer moves a tracee into its section: abort");
	ptrace_into_section(1, "tracer sets rseq_cs and moves the tracee into it: abort");
#else
	ksft_test_result_skip("ptrace into a section: x86-64 and arm64 only\n");
	ksft_test_result_skip("ptrace into a section the tracer sets up: x86-64 and arm64 only\n");
#endif
}

static struct rseq_cs bad_sig_cs;

/*
 * A thread killed for a bad signature is reported with a warning naming
 * it: the message of Linux 6.12, which log scanners may look for.
 */
static void signature_message_test(void)
{
	const char *what = "bad signature reported in the kernel log";
	char want[160], seen[160] = "", buf[2048], *msg, *nl;
	int fd, how, level = -1, i;
	ssize_t n;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ksft_test_result_skip("%s: cannot open /dev/kmsg: %s\n", what, strerror(errno));
		return;
	}
	if (lseek(fd, 0, SEEK_END) < 0) {
		ksft_test_result_skip("%s: cannot seek /dev/kmsg: %s\n", what, strerror(errno));
		close(fd);
		return;
	}
	outside_cs(&bad_sig_cs, &fake_abort[3]);
	how = in_child(signal_with_cs, &bad_sig_cs);
	snprintf(want, sizeof(want),
		 "Possible attack attempt. Unexpected rseq signature 0x%x, expecting 0x%x (pid=%d, addr=",
		 OTHER_SIG, SIG, (int)last_child);
	for (i = 0; i < 10000; i++) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records were overwritten: read on */
		if (n <= 0)
			break;
		buf[n] = '\0';
		msg = strchr(buf, ';');
		msg = msg ? msg + 1 : buf;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		if (strstr(msg, want))
			level = atoi(buf) & 7;
		else if (!seen[0] && (strstr(msg, "rseq") || strstr(msg, "signature")))
			snprintf(seen, sizeof(seen), "%.150s", msg);
	}
	close(fd);
	if (how != -SIGSEGV)
		ksft_test_result_fail("%s: the child ended with %d, want SIGSEGV\n", what, how);
	else if (level < 0)
		ksft_test_result_fail("%s: no \"%s...\" line; %s%s\n", what, want,
				      seen[0] ? "saw: " : "no rseq line at all", seen);
	else
		ksft_test_result(level == 4, "%s at log level %d (want 4, warning)\n", what,
				 level);
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
	ksft_set_plan(REGISTRATION_TESTS + DESCRIPTOR_TESTS + 1 + INHERIT_TESTS + TRACE_TESTS +
		      CS_CLEAR_TESTS + PTRACE_TESTS + KMSG_TESTS);
#else
	ksft_set_plan(REGISTRATION_TESTS + DESCRIPTOR_TESTS + 6 + INHERIT_TESTS + TRACE_TESTS +
		      CS_CLEAR_TESTS + PTRACE_TESTS + KMSG_TESTS);
#endif
	registration_tests();
	descriptor_tests();
	section_tests();
	inheritance_tests();
	tracepoint_tests();
	cs_clear_tests();
	ptrace_tests();
	signature_message_test();
	ksft_finished();
}
