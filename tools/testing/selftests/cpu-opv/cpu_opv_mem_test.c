// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_mem_test: where the stores of a cpu_opv() vector land, how
 * another CPU sees them, and which CPUs a caller may target, in TAP form.
 *
 * The kernel pins every operand, for writing only where the operation
 * writes. Each operand must be reached through its own pin: when an
 * operation reads an address and a later one writes it, the store must go
 * to the caller's private copy, never to the page the read pin reached,
 * which is the page cache of a file mapped MAP_PRIVATE, or the shared
 * zero page for anonymous memory never written. A release copy and an
 * aligned word-sized copy must each be one access as seen from another
 * CPU. A vector may target only a CPU of the caller's affinity mask, an
 * offline one included. A copy whose ranges overlap gives what memmove()
 * gives on the user addresses, however the kernel maps them, and a read
 * pin sees what the caller stores while the rest of the vector is pinned.
 * A call whose fault waits (in a userfaultfd) holds no pin and no share of
 * the vmalloc budget meanwhile, and neither does a call that waits for its
 * mmap lock: with the lock held forever by a read fault that a FUSE server
 * of the test's own never answers and a writer queued behind it, as many
 * callers as the budget holds aliases wait for the lock while another
 * process's vector that needs an alias must still return at once (with
 * every operand sent through an alias by debugfs, as kernels do where the
 * data cache aliases).
 *
 * A kernel that stores through a read pin writes the shared zero page;
 * the test then writes zeros back the same way, so that the rest of the
 * system (and the rest of the test) sees zeros again.
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
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/fuse.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "cpu-op.h"

/* Iterations of each writer/reader race. */
#define RACE_ITERS	3000
/* Pages of the test file: one per test that maps it. */
#define FILE_PAGES	16
#define FILE_PAGE_BASIC	0
#define FILE_PAGE_READ	1
#define FILE_PAGE_OPS	2
/* After the NR_WOPS pages of test_write_ops(). */
#define FILE_PAGE_UFFD	12

static long page_size;
static cpu_set_t orig_set;
static int allowed[CPU_SETSIZE], nr_allowed;

/* The call's result, with -errno for a failure. */
static int run(struct cpu_op *ops, int n, int cpu)
{
	int ret = cpu_opv(ops, n, cpu, 0);

	return ret < 0 ? -errno : ret;
}

static int this_cpu(void)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? 0 : cpu;
}

static const char *ret_str(int ret)
{
	if (ret < 0)
		return strerror(-ret);
	return ret ? "compare failed" : "ok";
}

static uint64_t peek(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

static void *map_anon(long pages, int prot)
{
	void *p = mmap(NULL, pages * page_size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	return p;
}

#define CHECK(cond, ...) ksft_test_result(cond, __VA_ARGS__)

/* What a test saw that it should not have, appended to its TAP line. */
struct obs {
	int ok;
	size_t len;
	char msg[640];
};

static void obs_init(struct obs *o)
{
	o->ok = 1;
	o->len = 0;
	o->msg[0] = '\0';
}

static __printf(2, 3) void obs_fail(struct obs *o, const char *fmt, ...)
{
	size_t room = sizeof(o->msg) - o->len;
	va_list ap;
	int n;

	o->ok = 0;
	if (room < 3)
		return;
	n = snprintf(o->msg + o->len, room, "%s", o->len ? "; " : ": ");
	o->len += n;
	room -= n;
	va_start(ap, fmt);
	n = vsnprintf(o->msg + o->len, room, fmt, ap);
	va_end(ap);
	o->len += (size_t)n < room ? (size_t)n : room - 1;
}

static void obs_ret(struct obs *o, int ret)
{
	if (ret)
		obs_fail(o, "returned %d (%s)", ret, ret_str(ret));
}

static void obs_u64(struct obs *o, const char *what, uint64_t got, uint64_t want)
{
	if (got != want)
		obs_fail(o, "%s reads %#llx, want %#llx", what, (unsigned long long)got,
			 (unsigned long long)want);
}

/* The first non-zero byte of the page at @p, or -1. */
static long page_dirty(const void *p, unsigned int *byte)
{
	const unsigned char *c = p;
	unsigned char v;
	long i;

	for (i = 0; i < page_size; i++) {
		v = __atomic_load_n(&c[i], __ATOMIC_RELAXED);
		if (v) {
			*byte = v;
			return i;
		}
	}
	return -1;
}

/*
 * The first non-zero byte of a freshly mapped, never-written anonymous
 * page, or -1. Reading it maps the shared zero page.
 */
static long fresh_anon_dirty(unsigned int *byte)
{
	void *p = map_anon(1, PROT_READ);
	long off = page_dirty(p, byte);

	munmap(p, page_size);
	return off;
}

/*
 * After a kernel stored into the shared zero page through a read pin,
 * stores zeros back through the same kind of pin: a never-written page is
 * read by one operation and written by the next. Only a kernel with that
 * bug reaches the zero page this way.
 */
static void repair_zero_page(void)
{
	char zeros[2048], sink[2048];
	struct cpu_op ops[2];
	unsigned int byte;
	int tries;

	memset(zeros, 0, sizeof(zeros));
	for (tries = 0; tries < 64; tries++) {
		long off = fresh_anon_dirty(&byte), n;
		char *p;

		if (off < 0) {
			ksft_print_msg("the shared zero page was written: cleaned it\n");
			return;
		}
		n = page_size - off < (long)sizeof(zeros) ? page_size - off : (long)sizeof(zeros);
		p = map_anon(1, PROT_READ | PROT_WRITE);
		cpu_op_memcpy(&ops[0], 0, sink, p + off, n);
		cpu_op_memcpy(&ops[1], 0, p + off, zeros, n);
		run(ops, 2, this_cpu());
		munmap(p, page_size);
	}
	ksft_print_msg("the shared zero page is still written: later results are unreliable\n");
}

/* Fails @o if fresh anonymous memory no longer reads as zeros. */
static void check_fresh_anon(struct obs *o)
{
	unsigned int byte;
	long off = fresh_anon_dirty(&byte);

	if (off < 0)
		return;
	obs_fail(o, "a fresh anonymous page reads %#x at offset %ld (shared zero page written)",
		 byte, off);
	repair_zero_page();
}

/* The test file: FILE_PAGES pages of known bytes, open read-only. */
static int file_fd = -1;
static char file_dir[64], file_path[128], file_why[256];

static __printf(1, 2) void why_add(const char *fmt, ...)
{
	size_t len = strlen(file_why);
	va_list ap;

	if (len + 3 >= sizeof(file_why))
		return;
	if (len) {
		file_why[len++] = ',';
		file_why[len++] = ' ';
	}
	va_start(ap, fmt);
	vsnprintf(file_why + len, sizeof(file_why) - len, fmt, ap);
	va_end(ap);
}

static unsigned char file_byte(long off)
{
	return 0xa5 ^ (off & 0xff);
}

static uint64_t file_word(long off)
{
	unsigned char b[8];
	uint64_t v;
	int i;

	for (i = 0; i < 8; i++)
		b[i] = file_byte(off + i);
	memcpy(&v, b, 8);
	return v;
}

static int fill_file(int fd)
{
	unsigned char *buf = malloc(page_size);
	long p, i;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (p = 0; p < FILE_PAGES && !ret; p++) {
		for (i = 0; i < page_size; i++)
			buf[i] = file_byte(p * page_size + i);
		if (pwrite(fd, buf, page_size, p * page_size) != page_size)
			ret = errno ? -errno : -EIO;
	}
	free(buf);
	return ret;
}

static void cleanup_file(void)
{
	/* A test that switched force_vmap on may have exited early. */
	cpu_op_force_vmap(0);
	if (file_fd >= 0)
		close(file_fd);
	if (file_dir[0]) {
		unlink(file_path);
		rmdir(file_dir);
	}
}

/*
 * Creates the file in a directory of its own under /dev/shm or /tmp, or
 * as a memfd, then opens it again read-only. Returns 0, or -1 with
 * file_why set.
 */
static int setup_file(void)
{
	static const char *const bases[] = { "/dev/shm", "/tmp" };
	unsigned int i;
	int fd, ret;

	for (i = 0; i < ARRAY_SIZE(bases); i++) {
		snprintf(file_dir, sizeof(file_dir), "%s/cpu_opv_mem.XXXXXX", bases[i]);
		if (!mkdtemp(file_dir)) {
			why_add("mkdtemp in %s: %s", bases[i], strerror(errno));
			continue;
		}
		snprintf(file_path, sizeof(file_path), "%s/data", file_dir);
		fd = open(file_path, O_RDWR | O_CREAT | O_EXCL, 0600);
		ret = fd < 0 ? -errno : fill_file(fd);
		if (fd >= 0)
			close(fd);
		if (!ret) {
			file_fd = open(file_path, O_RDONLY);
			if (file_fd >= 0)
				return 0;
			ret = -errno;
		}
		why_add("%s: %s", file_path, strerror(-ret));
		unlink(file_path);
		rmdir(file_dir);
	}
	file_dir[0] = '\0';

	fd = syscall(__NR_memfd_create, "cpu_opv_mem", 0);
	if (fd < 0) {
		why_add("memfd_create: %s", strerror(errno));
		return -1;
	}
	ret = fill_file(fd);
	snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", fd);
	if (!ret) {
		file_fd = open(file_path, O_RDONLY);
		ret = file_fd < 0 ? -errno : 0;
	}
	close(fd);
	if (ret) {
		why_add("memfd reopened read-only: %s", strerror(-ret));
		return -1;
	}
	snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
	return 0;
}

/* The file's word at @off as read(2) sees it now. */
static uint64_t pread_word(long off)
{
	uint64_t v = 0;

	if (pread(file_fd, &v, 8, off) != 8)
		ksft_exit_fail_msg("pread: %s\n", strerror(errno));
	return v;
}

/* Page @idx of the test file, mapped MAP_PRIVATE and writable. */
static char *map_file_page(int idx)
{
	char *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, file_fd,
		       idx * page_size);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap of the test file: %s\n", strerror(errno));
	return p;
}

/*
 * The vector of the first tests: op 0 copies 8 bytes from @m (reading
 * it), op 1 copies @newv to @m (writing it).
 */
static int read_then_write(void *m, uint64_t *scratch, const uint64_t *newv)
{
	struct cpu_op ops[2];

	*scratch = 0;
	cpu_op_memcpy(&ops[0], 0, scratch, m, 8);
	cpu_op_memcpy(&ops[1], 0, m, newv, 8);
	return run(ops, 2, this_cpu());
}

/* 1. A MAP_PRIVATE mapping of a file opened read-only. */
static void test_file_private(void)
{
	long off = FILE_PAGE_BASIC * page_size + 0x100;
	uint64_t old = file_word(off), newv = 0x5aa55aa5c33cc33cULL, scratch, v;
	char *p, *m, *shared;
	struct obs o;
	int ret, fd;

	if (file_fd < 0) {
		ksft_test_result_skip("file MAP_PRIVATE: no test file (%s)\n", file_why);
		ksft_test_result_skip("file MAP_PRIVATE, read first: no test file (%s)\n",
				      file_why);
		return;
	}

	obs_init(&o);
	p = map_file_page(FILE_PAGE_BASIC);
	m = p + 0x100;
	ret = read_then_write(m, &scratch, &newv);
	obs_ret(&o, ret);
	obs_u64(&o, "op 0's copy of the word", scratch, old);
	obs_u64(&o, "the private mapping", peek(m), newv);
	obs_u64(&o, "the file (pread)", pread_word(off), old);
	check_fresh_anon(&o);
	CHECK(o.ok, "file MAP_PRIVATE: read then write changes the private copy, not the file%s\n",
	      o.msg);
	munmap(p, page_size);

	/*
	 * The same with the page read through the mapping first, then the
	 * file looked at through a new shared read-only mapping and a new
	 * open file as well.
	 */
	obs_init(&o);
	off = FILE_PAGE_READ * page_size + 0x108;
	old = file_word(off);
	p = map_file_page(FILE_PAGE_READ);
	m = p + 0x108;
	obs_u64(&o, "the private mapping before the call", peek(m), old);
	ret = read_then_write(m, &scratch, &newv);
	obs_ret(&o, ret);
	obs_u64(&o, "op 0's copy of the word", scratch, old);
	obs_u64(&o, "the private mapping", peek(m), newv);
	obs_u64(&o, "the file (pread)", pread_word(off), old);
	shared = mmap(NULL, page_size, PROT_READ, MAP_SHARED, file_fd, FILE_PAGE_READ * page_size);
	if (shared == MAP_FAILED) {
		obs_fail(&o, "mmap MAP_SHARED: %s", strerror(errno));
	} else {
		obs_u64(&o, "a new MAP_SHARED mapping of the file", peek(shared + 0x108), old);
		munmap(shared, page_size);
	}
	fd = open(file_path, O_RDONLY);
	if (fd < 0 || pread(fd, &v, 8, off) != 8)
		obs_fail(&o, "reopening %s: %s", file_path, strerror(errno));
	else
		obs_u64(&o, "the file opened anew", v, old);
	if (fd >= 0)
		close(fd);
	check_fresh_anon(&o);
	CHECK(o.ok, "file MAP_PRIVATE, read first: pread, new mapping, new open see no change%s\n",
	      o.msg);
	munmap(p, page_size);
}

/* 2. A never-written anonymous page: its reads map the shared zero page. */
static void test_zero_page(void)
{
	uint64_t newv = 0x0f1e2d3c4b5a6978ULL, scratch;
	char *p = map_anon(2, PROT_READ | PROT_WRITE);
	unsigned int byte;
	struct obs o;
	long off;

	obs_init(&o);
	obs_ret(&o, read_then_write(p + 0x200, &scratch, &newv));
	obs_u64(&o, "op 0's copy of the word", scratch, 0);
	obs_u64(&o, "the mapping", peek(p + 0x200), newv);
	off = page_dirty(p + page_size, &byte);
	if (off >= 0)
		obs_fail(&o, "the next, never-written page of the mapping reads %#x at offset %ld",
			 byte, off);
	check_fresh_anon(&o);
	CHECK(o.ok, "never-written anonymous page: read then write misses the zero page%s\n",
	      o.msg);
	munmap(p, 2 * page_size);
}

/* What a child saw, in memory shared with the parent. */
struct child_report {
	int ret;
	uint64_t scratch;
	uint64_t seen;
};

#define FORK_OLD	0x1111222233334444ULL
#define FORK_NEW	0x9999888877776666ULL

static void check_child(struct obs *o, pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		obs_fail(o, "waitpid: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		obs_fail(o, "child ended with status %#x", status);
}

/* 3. Copy-on-write after fork(), the vector in the child or the parent. */
static void test_fork(void)
{
	struct child_report *rep = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t newv = FORK_NEW, scratch;
	char *p = map_anon(1, PROT_READ | PROT_WRITE);
	uint64_t *word = (uint64_t *)(p + 0x80);
	int pfd[2], ret;
	struct obs o;
	pid_t pid;
	char c = 0;

	if (rep == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));

	/* (a) The child runs the vector; the parent's copy stays. */
	obs_init(&o);
	*word = FORK_OLD;
	memset(rep, 0, sizeof(*rep));
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (pid == 0) {
		rep->ret = read_then_write(word, &scratch, &newv);
		rep->scratch = scratch;
		rep->seen = peek(word);
		_exit(0);
	}
	check_child(&o, pid);
	if (rep->ret)
		obs_fail(&o, "child's call returned %d (%s)", rep->ret, ret_str(rep->ret));
	obs_u64(&o, "child's op 0 copy", rep->scratch, FORK_OLD);
	obs_u64(&o, "child's page", rep->seen, FORK_NEW);
	obs_u64(&o, "parent's page", peek(word), FORK_OLD);
	CHECK(o.ok, "fork: read then write in the child changes the child's copy only%s\n", o.msg);

	/* (b) The parent runs the vector while the child waits. */
	obs_init(&o);
	*word = FORK_OLD;
	memset(rep, 0, sizeof(*rep));
	if (pipe(pfd))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (pid == 0) {
		close(pfd[1]);
		if (read(pfd[0], &c, 1) < 0)
			_exit(2);
		rep->seen = peek(word);
		_exit(0);
	}
	close(pfd[0]);
	ret = read_then_write(word, &scratch, &newv);
	if (write(pfd[1], &c, 1) != 1)
		obs_fail(&o, "write to pipe: %s", strerror(errno));
	close(pfd[1]);
	check_child(&o, pid);
	obs_ret(&o, ret);
	obs_u64(&o, "parent's op 0 copy", scratch, FORK_OLD);
	obs_u64(&o, "parent's page", peek(word), FORK_NEW);
	obs_u64(&o, "child's page", rep->seen, FORK_OLD);
	CHECK(o.ok, "fork: read then write in the parent changes the parent's copy only%s\n",
	      o.msg);
	munmap(p, page_size);
	munmap(rep, page_size);
}

/*
 * Room for one whole page of BSS that nothing writes before test_bss(),
 * whatever the page size (up to 64 KiB).
 */
static char bss_area[3 * 65536];

/* 4. The compare-and-store helper on a never-written BSS word. */
static void test_bss(void)
{
	uintptr_t page = ((uintptr_t)bss_area + page_size - 1) & ~(uintptr_t)(page_size - 1);
	intptr_t *word = (intptr_t *)(page + page_size + 0x140);
	struct obs o;
	int ret;

	obs_init(&o);
	ret = cpu_op_cmpeqv_storev(word, 0, 42, this_cpu());
	if (ret)
		obs_fail(&o, "cpu_op_cmpeqv_storev returned %d (%s)", ret,
			 ret < 0 ? strerror(errno) : "compare failed");
	obs_u64(&o, "the word", (uint64_t)__atomic_load_n(word, __ATOMIC_RELAXED), 42);
	check_fresh_anon(&o);
	CHECK(o.ok, "never-written BSS word: compare with 0 then store 42%s\n", o.msg);
}

/* 5. Every operation that writes, after an operation that read the same word. */
struct wop {
	const char *name;
	int type;
	uint64_t arg;	/* the bytes to copy, count, mask or bits */
};

static const struct wop wops[] = {
	{ "memcpy", CPU_MEMCPY_OP, 0x1122334455667788ULL },
	{ "memcpy_release", CPU_MEMCPY_RELEASE_OP, 0x8877665544332211ULL },
	{ "add", CPU_ADD_OP, 0x1111111111111111ULL },
	{ "add_release", CPU_ADD_RELEASE_OP, 0x2222222222222222ULL },
	{ "or", CPU_OR_OP, 0x5a5a5a5a5a5a5a5aULL },
	{ "and", CPU_AND_OP, 0x0f0f0f0f0f0f0f0fULL },
	{ "xor", CPU_XOR_OP, ~0ULL },
	{ "lshift", CPU_LSHIFT_OP, 8 },
	{ "rshift", CPU_RSHIFT_OP, 8 },
};

#define NR_WOPS ARRAY_SIZE(wops)

static_assert(FILE_PAGE_OPS + NR_WOPS <= FILE_PAGE_UFFD && FILE_PAGE_UFFD < FILE_PAGES,
	      "the test file's pages overlap");

/* Makes zeros visible to and/lshift/rshift: OR'ed in first. */
#define WOP_SEED 0x0123456789abcdefULL

static uint64_t wop_apply(const struct wop *w, uint64_t v)
{
	switch (w->type) {
	case CPU_MEMCPY_OP:
	case CPU_MEMCPY_RELEASE_OP:
		return w->arg;
	case CPU_ADD_OP:
	case CPU_ADD_RELEASE_OP:
		return v + w->arg;
	case CPU_OR_OP:
		return v | w->arg;
	case CPU_AND_OP:
		return v & w->arg;
	case CPU_XOR_OP:
		return v ^ w->arg;
	case CPU_LSHIFT_OP:
		return v << w->arg;
	default:
		return v >> w->arg;
	}
}

static void wop_make(struct cpu_op *op, const struct wop *w, void *p, const uint64_t *src)
{
	switch (w->type) {
	case CPU_MEMCPY_OP:
	case CPU_MEMCPY_RELEASE_OP:
		cpu_op_memcpy(op, w->type == CPU_MEMCPY_RELEASE_OP, p, src, 8);
		break;
	case CPU_ADD_OP:
	case CPU_ADD_RELEASE_OP:
		cpu_op_add(op, w->type == CPU_ADD_RELEASE_OP, p, (int64_t)w->arg, 8);
		break;
	case CPU_OR_OP:
	case CPU_AND_OP:
	case CPU_XOR_OP:
		cpu_op_bitwise(op, w->type, p, w->arg, 8);
		break;
	default:
		cpu_op_shift(op, w->type, p, (uint32_t)w->arg, 8);
	}
}

/*
 * Op 0 compares the word X with what it holds, op 1 copies it out, then
 * (on a zero word, where and/shifts would change nothing) an OR seeds it,
 * and the last op is the one under test. X is a word of a never-written
 * anonymous page, or of a private mapping of the read-only file.
 */
static void test_write_op(unsigned int i, int on_file)
{
	const struct wop *w = &wops[i];
	long off = 0x300 + 8 * i, foff = (FILE_PAGE_OPS + i) * page_size + off;
	uint64_t old = on_file ? file_word(foff) : 0, src = w->arg, scratch = 0, want;
	const char *where = on_file ? "file MAP_PRIVATE" : "never-written anonymous page";
	char *p = on_file ? map_file_page(FILE_PAGE_OPS + i) : map_anon(1, PROT_READ | PROT_WRITE);
	struct cpu_op ops[4];
	int n = 0, seed;
	struct obs o;

	obs_init(&o);
	seed = wop_apply(w, old) == old;
	want = wop_apply(w, seed ? old | WOP_SEED : old);
	cpu_op_compare(&ops[n++], 1, p + off, &old, 8);
	cpu_op_memcpy(&ops[n++], 0, &scratch, p + off, 8);
	if (seed)
		cpu_op_bitwise(&ops[n++], CPU_OR_OP, p + off, WOP_SEED, 8);
	wop_make(&ops[n++], w, p + off, &src);
	obs_ret(&o, run(ops, n, this_cpu()));
	obs_u64(&o, "op 1's copy of X", scratch, old);
	obs_u64(&o, "X through the caller's mapping", peek(p + off), want);
	if (on_file)
		obs_u64(&o, "the file (pread)", pread_word(foff), old);
	check_fresh_anon(&o);
	CHECK(o.ok, "%s: compare, copy of X, then %s%s of X: caller's copy only%s\n",
	      where, seed ? "or, " : "", w->name, o.msg);
	munmap(p, page_size);
}

static void test_write_ops(void)
{
	unsigned int i;

	for (i = 0; i < NR_WOPS; i++)
		test_write_op(i, 0);
	for (i = 0; i < NR_WOPS; i++) {
		if (file_fd < 0)
			ksft_test_result_skip("file MAP_PRIVATE, %s: no test file (%s)\n",
					      wops[i].name, file_why);
		else
			test_write_op(i, 1);
	}
}

/*
 * 6. A writer on CPU A publishes sequence numbers with cpu_opv, a reader
 * on CPU B loads them. Sequence s is stored as a word of @width bytes
 * whose every byte changes from s - 1 to s: bit 7 of each byte is the
 * parity of s, bits 0-6 of byte k are bits 7k to 7k + 6 of s. A value
 * made of bytes of two different stores has mixed bit-7 values.
 */
static uint64_t pattern(uint64_t s, int width)
{
	uint64_t v = 0;
	int k;

	for (k = 0; k < width; k++)
		v |= (((s >> (7 * k)) & 0x7f) | ((s & 1) << 7)) << (8 * k);
	return v;
}

/* Whether @v is a pattern; if so, its sequence number in @s. */
static int decode(uint64_t v, int width, uint64_t *s)
{
	unsigned int top = (v >> 7) & 1;
	uint64_t seq = 0;
	int k;

	for (k = 0; k < width; k++) {
		unsigned int b = (v >> (8 * k)) & 0xff;

		if (b >> 7 != top)
			return 0;
		seq |= (uint64_t)(b & 0x7f) << (7 * k);
	}
	if ((seq & 1) != top)
		return 0;
	*s = seq;
	return 1;
}

/* The payload, and the word published after it, on cache lines of their own. */
static alignas(64) uint64_t race_payload[8];
static alignas(64) uint64_t race_w8;
static alignas(64) uint32_t race_w4;

struct race {
	int width, release, cpu_a, cpu_b;
	int ready, done;
	/* the reader's findings */
	int reader_err;
	long loads, changes, torn, backwards, stale, payload_torn;
	uint64_t torn_val, back_from, back_to, stale_seq, stale_payload;
	/* the writer's */
	int writer_err, writer_ret;
	long written;
};

static int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static uint64_t race_load(int width)
{
	if (width == 8)
		return __atomic_load_n(&race_w8, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&race_w4, __ATOMIC_ACQUIRE);
}

static void reader_check_payload(struct race *r, uint64_t s)
{
	uint64_t pv, ps;
	int k;

	for (k = 0; k < 8; k++) {
		pv = __atomic_load_n(&race_payload[k], __ATOMIC_RELAXED);
		if (!decode(pv, 8, &ps)) {
			/* Being overwritten by a later payload: allowed. */
			r->payload_torn++;
		} else if (ps < s) {
			if (!r->stale++) {
				r->stale_seq = s;
				r->stale_payload = ps;
			}
			return;
		}
	}
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	uint64_t last = 0, v, s;

	r->reader_err = pin_self(r->cpu_b);
	__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	if (r->reader_err)
		return NULL;
	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
		v = race_load(r->width);
		r->loads++;
		if (!decode(v, r->width, &s)) {
			if (!r->torn++)
				r->torn_val = v;
			continue;
		}
		if (s < last) {
			if (!r->backwards++) {
				r->back_from = last;
				r->back_to = s;
			}
			continue;
		}
		/* Only a new value is worth the payload's loads: keep sampling fast. */
		if (s != last) {
			r->changes++;
			last = s;
			reader_check_payload(r, s);
		}
	}
	return NULL;
}

static void *race_writer(void *arg)
{
	struct race *r = arg;
	uint64_t buf[8], val;
	struct cpu_op ops[2];
	long i;
	int k;

	r->writer_err = pin_self(r->cpu_a);
	while (!__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE))
		;
	for (i = 1; !r->writer_err && i <= RACE_ITERS; i++) {
		for (k = 0; k < 8; k++)
			buf[k] = pattern(i, 8);
		val = pattern(i, r->width);
		if (r->width == 4) {
			uint32_t v4 = (uint32_t)val;

			memcpy(&val, &v4, 4);
		}
		cpu_op_memcpy(&ops[0], 0, race_payload, buf, sizeof(buf));
		cpu_op_memcpy(&ops[1], r->release, r->width == 8 ? (void *)&race_w8 :
			      (void *)&race_w4, &val, r->width);
		r->writer_ret = run(ops, 2, r->cpu_a);
		if (r->writer_ret)
			break;
		r->written++;
	}
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_race(int width, int release)
{
	const char *kind = release ? "release" : "plain";
	pthread_t reader, writer;
	struct race r;
	struct obs o;

	if (nr_allowed < 2) {
		ksft_test_result_skip("%d-byte %s copy seen from another CPU: %d CPU(s) usable\n",
				      width, kind, nr_allowed);
		return;
	}
	memset(&r, 0, sizeof(r));
	memset(race_payload, 0, sizeof(race_payload));
	race_w8 = 0;
	race_w4 = 0;
	r.width = width;
	r.release = release;
	r.cpu_a = allowed[0];
	r.cpu_b = allowed[1];
	if (pthread_create(&reader, NULL, race_reader, &r) ||
	    pthread_create(&writer, NULL, race_writer, &r))
		ksft_exit_fail_msg("pthread_create failed\n");
	pthread_join(writer, NULL);
	pthread_join(reader, NULL);

	obs_init(&o);
	if (r.writer_err || r.reader_err)
		obs_fail(&o, "sched_setaffinity: %s", strerror(-(r.writer_err ? r.writer_err :
								     r.reader_err)));
	if (r.writer_ret)
		obs_fail(&o, "writer's call %ld returned %d (%s)", r.written + 1, r.writer_ret,
			 ret_str(r.writer_ret));
	if (r.torn)
		obs_fail(&o, "%ld torn values (first %#llx: bytes of two stores)", r.torn,
			 (unsigned long long)r.torn_val);
	if (r.backwards)
		obs_fail(&o, "%ld values older than one seen before (%llu after %llu)",
			 r.backwards, (unsigned long long)r.back_to,
			 (unsigned long long)r.back_from);
	if (release && r.stale)
		obs_fail(&o, "%ld payloads older than the acquired sequence (%llu < %llu)",
			 r.stale, (unsigned long long)r.stale_payload,
			 (unsigned long long)r.stale_seq);
	CHECK(o.ok, "%d-byte %s copy on CPU %d, CPU %d: %ld calls, %ld loads, %ld values%s\n",
	      width, kind, r.cpu_a, r.cpu_b, r.written, r.loads, r.changes, o.msg);
	if (!release && r.stale)
		ksft_print_msg("plain copy: %ld stale payloads (no ordering promised)\n", r.stale);
}

static void restore_affinity(void)
{
	if (sched_setaffinity(0, sizeof(orig_set), &orig_set))
		ksft_print_msg("restoring the affinity mask: %s\n", strerror(errno));
}

/* 7. Only a CPU of the caller's affinity mask, online or not. */
#define T_OUT	"CPU outside the affinity mask"
#define T_IN	"CPU inside a one-CPU affinity mask"
#define T_OFF	"offline CPU inside the affinity mask"

static void test_affinity(void)
{
	int a, b, c = -1, i, ret, back;
	struct cpu_op op;
	char path[64];
	uint64_t w = 0;
	cpu_set_t set;

	if (nr_allowed < 2) {
		ksft_test_result_skip(T_OUT ": %d CPU(s) usable\n", nr_allowed);
		ksft_test_result_skip(T_IN ": %d CPU(s) usable\n", nr_allowed);
		ksft_test_result_skip(T_OFF ": %d CPU(s) usable\n", nr_allowed);
		return;
	}
	a = allowed[0];
	b = allowed[1];
	cpu_op_add(&op, 0, &w, 1, 8);
	ret = pin_self(a);
	if (ret) {
		ksft_test_result_skip(T_OUT ": sched_setaffinity: %s\n", strerror(-ret));
		ksft_test_result_skip(T_IN ": sched_setaffinity: %s\n", strerror(-ret));
	} else {
		ret = run(&op, 1, b);
		CHECK(ret == -EINVAL && w == 0,
		      T_OUT " {%d}: CPU %d returns %d (%s, want EINVAL), word %llu (want 0)\n",
		      a, b, ret, ret_str(ret), (unsigned long long)w);
		w = 0;
		ret = run(&op, 1, a);
		CHECK(ret == 0 && w == 1,
		      T_IN " {%d}: CPU %d returns %d (%s), word %llu (want 1)\n",
		      a, a, ret, ret_str(ret), (unsigned long long)w);
	}
	restore_affinity();

	for (i = nr_allowed - 1; i > 0 && c < 0; i--)
		if (!cpu_op_online_path(allowed[i], path, sizeof(path)))
			c = allowed[i];
	if (c < 0) {
		ksft_test_result_skip(T_OFF ": no CPU but %d has a sysfs online file\n", a);
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(a, &set);
	CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		ksft_test_result_skip(T_OFF ": sched_setaffinity: %s\n", strerror(errno));
		restore_affinity();
		return;
	}
	ret = cpu_op_set_online(c, 0);
	if (ret) {
		restore_affinity();
		ksft_test_result_skip(T_OFF ": cannot take CPU %d offline: %s\n", c,
				      strerror(-ret));
		return;
	}
	w = 0;
	cpu_op_add(&op, 0, &w, 5, 8);
	ret = run(&op, 1, c);
	/* Always back online, whatever the vector did. */
	back = cpu_op_set_online(c, 1);
	restore_affinity();
	CHECK(ret == 0 && w == 5 && !back,
	      T_OFF " {%d, %d}: CPU %d returns %d (%s), word %llu (want 5)%s%s\n",
	      a, c, c, ret, ret_str(ret), (unsigned long long)w,
	      back ? "; cannot bring it back online: " : "", back ? strerror(-back) : "");
}

/*
 * 8. Overlapping copies. Each operand is reached through a kernel mapping
 * of its own pin: a vmalloc alias of its own when it crosses a page (or
 * when force_vmap asks for one), so the kernel addresses of a copy's two
 * operands tell nothing of how the user ranges overlap. A memmove() on the
 * kernel addresses picks its direction from them, and the wrong direction
 * overwrites source bytes before they are read. This guards against such
 * a copy: the result must be what memmove() gives on the user addresses.
 */
/* dst - src of each overlapping copy */
static const int ovl_shift[] = { 1, -1, -17 };
/* Each shift, by a plain and a release copy. */
#define NR_OVL		(2 * ARRAY_SIZE(ovl_shift))
/* Both ranges cross the boundary between the two pages. */
#define OVL_CROSS_LEN	64
/* Both ranges lie in the first page. */
#define OVL_IN_SRC	100
#define OVL_IN_LEN	200

static void ovl_fill(unsigned char *buf, long len)
{
	long i;

	for (i = 0; i < len; i++)
		buf[i] = (i * 7 + 3) & 0xff;
}

/*
 * Copies @len bytes from @buf + @src_off to @shift bytes further with
 * cpu_opv, and compares the two pages of @buf with what memmove() makes
 * of the same bytes in @ref.
 */
static void ovl_run(struct obs *o, unsigned char *buf, unsigned char *ref, long src_off,
		    int shift, uint32_t len, int release)
{
	long dst_off = src_off + shift, first = -1, bad = 0, i;
	struct cpu_op op;

	ovl_fill(buf, 2 * page_size);
	ovl_fill(ref, 2 * page_size);
	memmove(ref + dst_off, ref + src_off, len);
	cpu_op_memcpy(&op, release, buf + dst_off, buf + src_off, len);
	obs_ret(o, run(&op, 1, this_cpu()));
	for (i = 0; i < 2 * page_size; i++)
		if (buf[i] != ref[i] && !bad++)
			first = i;
	if (bad)
		obs_fail(o, "%ld bytes differ from memmove()'s, first at dst %+ld: %#x, want %#x",
			 bad, first - dst_off, buf[first], ref[first]);
}

#define OVL_CROSS	"%s, dst = src %+d, %d bytes across a page boundary"
#define OVL_IN		"%s, dst = src %+d, %d bytes in one page, force_vmap on"

/*
 * One copy in one page, which the kernel reaches through the direct map
 * unless force_vmap makes it take an alias per operand. @why says why
 * force_vmap cannot be used, if it cannot.
 */
static void ovl_forced(unsigned char *buf, unsigned char *ref, int shift, int release,
		       const char *why)
{
	const char *name = release ? "memcpy_release" : "memcpy";
	struct obs o;
	int ret;

	if (why) {
		ksft_test_result_skip("overlapping " OVL_IN ": %s: %s (no debugfs?)\n", name,
				      shift, OVL_IN_LEN, CPU_OP_FORCE_VMAP, why);
		return;
	}
	ret = cpu_op_force_vmap(1);
	if (ret) {
		cpu_op_force_vmap(0);
		ksft_test_result_skip("overlapping " OVL_IN ": writing 1 to %s: %s\n", name,
				      shift, OVL_IN_LEN, CPU_OP_FORCE_VMAP, strerror(-ret));
		return;
	}
	obs_init(&o);
	ovl_run(&o, buf, ref, OVL_IN_SRC, shift, OVL_IN_LEN, release);
	/* Always back to 0, whatever the copy did. */
	ret = cpu_op_force_vmap(0);
	if (ret)
		obs_fail(&o, "writing 0 back to %s: %s", CPU_OP_FORCE_VMAP, strerror(-ret));
	CHECK(o.ok, "overlapping " OVL_IN ": memmove()'s result%s\n", name, shift, OVL_IN_LEN,
	      o.msg);
}

static void test_overlap(void)
{
	unsigned char *buf = map_anon(2, PROT_READ | PROT_WRITE), *ref = malloc(2 * page_size);
	const char *why = NULL;
	unsigned int i, k;
	struct obs o;

	if (!ref)
		ksft_exit_fail_msg("malloc: %s\n", strerror(errno));
	for (i = 0; i < ARRAY_SIZE(ovl_shift); i++) {
		for (k = 0; k < 2; k++) {
			obs_init(&o);
			ovl_run(&o, buf, ref, page_size - 5, ovl_shift[i], OVL_CROSS_LEN, k);
			CHECK(o.ok, "overlapping " OVL_CROSS ": memmove()'s result%s\n",
			      k ? "memcpy_release" : "memcpy", ovl_shift[i], OVL_CROSS_LEN, o.msg);
		}
	}

	if (access(CPU_OP_FORCE_VMAP, F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (access(CPU_OP_FORCE_VMAP, W_OK))
		why = strerror(errno);
	for (i = 0; i < ARRAY_SIZE(ovl_shift); i++)
		for (k = 0; k < 2; k++)
			ovl_forced(buf, ref, ovl_shift[i], k, why);
	free(ref);
	munmap(buf, 2 * page_size);
}

/*
 * 9. A read pin must see the caller's stores made after it was taken. The
 * kernel pins the operands in the vector's order, and may sleep between
 * two pins. A read pin of a page that is still shared copy-on-write (the
 * shared zero page, or the page cache behind a MAP_PRIVATE file mapping)
 * reaches a snapshot: a store the caller makes meanwhile breaks the
 * sharing and lands in a new page, which a later write pin of the same
 * word reaches. The vector then compares the stale snapshot and writes
 * over the caller's store, a lost update.
 *
 * Op 0 compares the word W with its current value, op 1 compares a word
 * of U, a page registered with userfaultfd for missing faults, with zero,
 * and op 2 copies 42 to W. Pinning U stops on the fault; the monitor
 * thread then stores 7 to W and resolves the fault. Op 0 must see the 7
 * (the call returns 1) and W must keep it.
 */
#define UFFD_WAIT_MS	30000
#define LOST_STORE	7ULL
#define LOST_NEWV	42ULL

struct uffd_mon {
	int uffd, stop_fd;
	uint64_t *word;
	char *u;
	const void *zeros;
	int faulted, resolved, timed_out;
	const char *failed;	/* the step that failed, with errno in err */
	int err;
	uint64_t fault_addr;
};

static void mon_fail(struct uffd_mon *m, const char *step)
{
	if (!m->failed) {
		m->failed = step;
		m->err = errno;
	}
}

/* Resolves the fault on U with a page of zeros. */
static void mon_resolve(struct uffd_mon *m)
{
	struct uffdio_copy copy = {
		.dst = (uintptr_t)m->u,
		.src = (uintptr_t)m->zeros,
		.len = page_size,
	};
	struct uffdio_zeropage zp = {
		.range = { .start = (uintptr_t)m->u, .len = page_size },
	};

	if (!ioctl(m->uffd, UFFDIO_COPY, &copy) || errno == EEXIST) {
		m->resolved = 1;
		return;
	}
	mon_fail(m, "UFFDIO_COPY");
	if (!ioctl(m->uffd, UFFDIO_ZEROPAGE, &zp) || errno == EEXIST) {
		m->resolved = 1;
		m->failed = NULL;
		return;
	}
	mon_fail(m, "UFFDIO_ZEROPAGE");
}

/*
 * Waits for the fault on U, stores to W, resolves the fault. Closing the
 * userfaultfd, which happens in every case, wakes any faulting thread
 * still waiting, so that the call cannot hang on a failed step.
 */
static void *uffd_monitor(void *arg)
{
	struct uffd_mon *m = arg;
	struct pollfd pfd[2] = {
		{ .fd = m->uffd, .events = POLLIN },
		{ .fd = m->stop_fd, .events = POLLIN },
	};
	struct uffd_msg msg;
	int n;

	for (;;) {
		n = poll(pfd, 2, UFFD_WAIT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mon_fail(m, "poll");
			break;
		}
		if (!n) {
			m->timed_out = 1;
			break;
		}
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			errno = EIO;
			mon_fail(m, "poll of the userfaultfd");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			if (read(m->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				mon_fail(m, "read of the userfaultfd");
				break;
			}
			if (msg.event != UFFD_EVENT_PAGEFAULT)
				continue;
			m->faulted = 1;
			m->fault_addr = msg.arg.pagefault.address;
			__atomic_store_n(m->word, LOST_STORE, __ATOMIC_SEQ_CST);
			mon_resolve(m);
			break;
		}
		/* The call returned, or the stop pipe broke, with no fault. */
		if (pfd[1].revents)
			break;
	}
	close(m->uffd);
	return NULL;
}

/*
 * Runs the vector on @word, which holds @old, and reports. @foff is the
 * word's offset in the test file, or -1 for anonymous memory.
 */
static void lost_update(const char *what, uint64_t *word, uint64_t old, long foff)
{
	uint64_t expect = old, zero8 = 0, newv = LOST_NEWV;
	struct uffdio_register reg;
	struct cpu_op ops[3];
	struct uffd_mon m;
	char why[160];
	pthread_t thr;
	int stop[2], ret;
	struct obs o;
	void *zeros;

	memset(&m, 0, sizeof(m));
	m.uffd = cpu_op_uffd_open(why, sizeof(why));
	if (m.uffd < 0) {
		ksft_test_result_skip("%s: %s\n", what, why);
		return;
	}
	m.u = map_anon(1, PROT_READ | PROT_WRITE);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)m.u;
	reg.range.len = page_size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(m.uffd, UFFDIO_REGISTER, &reg)) {
		ksft_test_result_skip("%s: UFFDIO_REGISTER (missing): %s\n", what,
				      strerror(errno));
		close(m.uffd);
		munmap(m.u, page_size);
		return;
	}
	zeros = calloc(1, page_size);
	if (!zeros || pipe(stop))
		ksft_exit_fail_msg("calloc or pipe: %s\n", strerror(errno));
	m.zeros = zeros;
	m.word = word;
	m.stop_fd = stop[0];
	if (pthread_create(&thr, NULL, uffd_monitor, &m))
		ksft_exit_fail_msg("pthread_create failed\n");

	cpu_op_compare(&ops[0], 1, word, &expect, 8);
	cpu_op_compare(&ops[1], 1, m.u, &zero8, 8);
	cpu_op_memcpy(&ops[2], 0, word, &newv, 8);
	ret = run(ops, 3, this_cpu());
	if (write(stop[1], "", 1) != 1)
		ksft_print_msg("write to the stop pipe: %s\n", strerror(errno));
	pthread_join(thr, NULL);

	obs_init(&o);
	if (m.timed_out)
		obs_fail(&o, "no fault on the userfaultfd page within %d ms", UFFD_WAIT_MS);
	else if (!m.faulted)
		obs_fail(&o, "the call returned with no fault on the userfaultfd page");
	else if ((m.fault_addr & ~(uint64_t)(page_size - 1)) != (uintptr_t)m.u)
		obs_fail(&o, "fault at %#llx, not on the registered page %p",
			 (unsigned long long)m.fault_addr, m.u);
	if (m.failed)
		obs_fail(&o, "%s: %s", m.failed, strerror(m.err));
	if (ret != 1)
		obs_fail(&o, "returned %d (%s), want 1: op 0 missed the %llu stored after its pin",
			 ret, ret_str(ret), LOST_STORE);
	obs_u64(&o, "the word", peek(word), LOST_STORE);
	if (foff >= 0)
		obs_u64(&o, "the file (pread)", pread_word(foff), old);
	check_fresh_anon(&o);
	CHECK(o.ok, "%s: a store made during pinning is seen by op 0, not lost to op 2%s\n",
	      what, o.msg);
	close(stop[0]);
	close(stop[1]);
	free(zeros);
	munmap(m.u, page_size);
}

/* Whole pages of BSS that nothing but test_lost_update() touches. */
static char lost_bss_area[2 * 65536];

static void test_lost_update(void)
{
	uintptr_t page = ((uintptr_t)lost_bss_area + page_size - 1) & ~(uintptr_t)(page_size - 1);
	long off = 0x188, foff = FILE_PAGE_UFFD * page_size + off;
	char *p;

	lost_update("never-written BSS word, userfaultfd", (uint64_t *)(page + 0x180), 0, -1);

	/*
	 * The file holds no zeros: op 0 compares the word with the file's
	 * bytes instead, which fail the same way once 7 is stored.
	 */
	if (file_fd < 0) {
		ksft_test_result_skip("file MAP_PRIVATE word, userfaultfd: no test file (%s)\n",
				      file_why);
		return;
	}
	p = map_file_page(FILE_PAGE_UFFD);
	lost_update("file MAP_PRIVATE word, userfaultfd", (uint64_t *)(p + off), file_word(foff),
		    foff);
	munmap(p, page_size);
}

/*
 * What a call holds while a fault of its own waits. BLOCKERS threads each
 * issue a vector of 16 compares whose 32 operands all cross a page, so
 * that, with <debugfs>/cpu_opv/force_vmap on (as kernels behave where the
 * data cache aliases; without it the budget check is skipped), each
 * reserves most of a maximal share of the vmalloc budget; the
 * last operand of each reaches into its own page registered for missing
 * faults with a userfaultfd, so that a kernel pinning operands in order
 * holds 62 pages when it gets there. The monitor resolves nothing until
 * every thread's fault has arrived. Then the pages pinned
 * (nr_foll_pin_acquired - nr_foll_pin_released, folded through
 * /proc/sys/vm/stat_refresh) must be what they were before the threads
 * started: no pin is held across the fault. And every
 * thread must have reached its fault: BLOCKERS shares exceed the budget,
 * so if a waiting call kept its share, the last ones would wait for the
 * budget instead.
 */
#define BLOCKERS	4
#define BLOCK_WAIT_MS	20000
#define BLOCK_PAGES	17

struct blocker {
	pthread_t thr;
	char *area;		/* BLOCK_PAGES pages, the last one registered */
	int ret, err;
};

static long foll_pins(void)
{
	long acquired = -1, released = -1, v;
	char name[64];
	FILE *f;
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);

	/* Fold the per-CPU deltas, which are up to a few dozen pages each. */
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			ksft_print_msg("stat_refresh: %s\n", strerror(errno));
		close(fd);
	}
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			acquired = v;
		else if (!strcmp(name, "nr_foll_pin_released"))
			released = v;
	}
	fclose(f);
	return acquired < 0 || released < 0 ? -1 : acquired - released;
}

static char *blocker_zeros;	/* 17 pages of zeros */

static void *blocker_run(void *arg)
{
	struct blocker *b = arg;
	struct cpu_op ops[16];
	int i;

	/*
	 * a: the 16 page boundaries of blocker_zeros; b: those of the area,
	 * the last one into the registered page.
	 */
	for (i = 0; i < 16; i++)
		cpu_op_compare(&ops[i], 1, blocker_zeros + (i + 1) * page_size - 4,
			       b->area + (i + 1) * page_size - 4, 8);
	b->ret = run(ops, 16, this_cpu());
	b->err = errno;
	return NULL;
}

static void test_blocked_fault(void)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct blocker b[BLOCKERS];
	struct pollfd pfd;
	struct uffd_msg msg;
	long before, during = -1;
	int uffd, i, faults = 0, seen[BLOCKERS] = { 0 }, vmap;
	char why[160];
	struct obs o;

	uffd = cpu_op_uffd_open(why, sizeof(why));
	if (uffd < 0) {
		ksft_test_result_skip("blocked fault: no pin held: %s\n", why);
		ksft_test_result_skip("blocked fault: no budget share held: %s\n", why);
		return;
	}
	/* Only calls that take aliases reserve budget. */
	vmap = cpu_op_force_vmap(1);
	blocker_zeros = map_anon(17, PROT_READ | PROT_WRITE);
	memset(blocker_zeros, 0, 17 * page_size);
	before = foll_pins();
	for (i = 0; i < BLOCKERS; i++) {
		b[i].area = map_anon(BLOCK_PAGES, PROT_READ | PROT_WRITE);
		memset(b[i].area, 0, (BLOCK_PAGES - 1) * page_size);
		reg.range.start = (uintptr_t)b[i].area + (BLOCK_PAGES - 1) * page_size;
		reg.range.len = page_size;
		if (ioctl(uffd, UFFDIO_REGISTER, &reg))
			ksft_exit_fail_msg("UFFDIO_REGISTER: %s\n", strerror(errno));
	}
	for (i = 0; i < BLOCKERS; i++)
		if (pthread_create(&b[i].thr, NULL, blocker_run, &b[i]))
			ksft_exit_fail_msg("pthread_create failed\n");
	pfd.fd = uffd;
	pfd.events = POLLIN;
	while (faults < BLOCKERS && poll(&pfd, 1, BLOCK_WAIT_MS) > 0) {
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		for (i = 0; i < BLOCKERS; i++)
			if ((msg.arg.pagefault.address & ~(uint64_t)(page_size - 1)) ==
			    (uintptr_t)b[i].area + (BLOCK_PAGES - 1) * page_size && !seen[i]) {
				seen[i] = 1;
				faults++;
			}
	}
	/* Every fault that arrived is still waiting: sample now. */
	if (faults)
		during = foll_pins();
	/* Closing the userfaultfd wakes the faults; they then see zeros. */
	close(uffd);
	for (i = 0; i < BLOCKERS; i++)
		pthread_join(b[i].thr, NULL);
	if (!vmap && cpu_op_force_vmap(0))
		ksft_exit_fail_msg("writing 0 back to %s\n", CPU_OP_FORCE_VMAP);

	obs_init(&o);
	if (before < 0)
		obs_fail(&o, "no nr_foll_pin_* in /proc/vmstat");
	else if (!faults)
		obs_fail(&o, "no fault arrived within %d ms", BLOCK_WAIT_MS);
	else if (during != before)
		obs_fail(&o, "%ld pages pinned while %d calls waited for their fault (%ld before)",
			 during - before, faults, before);
	CHECK(o.ok, "blocked fault: no pin held while %d calls wait in a userfaultfd%s\n",
	      faults, o.msg);

	obs_init(&o);
	if (faults < BLOCKERS)
		obs_fail(&o,
			 "only %d of %d calls reached their fault within %d ms: the others waited for the vmalloc budget",
			 faults, BLOCKERS, BLOCK_WAIT_MS);
	for (i = 0; i < BLOCKERS; i++)
		if (b[i].ret != 0)
			obs_fail(&o, "call %d returned %d (%s), want 0", i, b[i].ret,
				 b[i].ret < 0 ? strerror(b[i].err) : "compare");
	if (vmap)
		ksft_test_result_skip("blocked fault: no budget share held: %s: %s\n",
				      CPU_OP_FORCE_VMAP, strerror(-vmap));
	else
		CHECK(o.ok,
		      "blocked fault: no budget share held, %d calls of maximal share all reach their fault, then succeed%s\n",
		      BLOCKERS, o.msg);
	for (i = 0; i < BLOCKERS; i++)
		munmap(b[i].area, BLOCK_PAGES * page_size);
	munmap(blocker_zeros, 17 * page_size);
}

/*
 * 12. A call waiting for its mmap lock holds no share of the vmalloc
 * budget. The process mounts a FUSE file system of its own, served by a
 * thread that answers every request but FUSE_READ, which it parks, and
 * maps the file it holds. Thread R reads the mapping through
 * /proc/self/mem: access_remote_vm() holds the mmap lock for reading
 * across the fault, which cannot drop it and waits for the READ reply
 * forever. Thread W calls mmap() and queues behind R as a writer, so
 * that every reader that comes later queues behind W. Then each of the
 * callers issues a vector of one compare whose first operand crosses a
 * page boundary in memory never touched: with <debugfs>/cpu_opv/force_vmap
 * on (the test is skipped without it), each operand needs an alias, and
 * pinning them needs the mmap lock. There are as many callers as aliases fit in the
 * budget (debugfs cpu_opv/vmap_budget_bytes over what one alias occupied,
 * cpu_opv/alias_bytes_peak; without debugfs, 256 pages over the smallest
 * alias, 3 pages), so that callers keeping their share while they wait
 * would leave less than one alias of it. A process forked beforehand,
 * with an mmap lock of its own, then issues a vector that needs one
 * alias: it must return within FUSE_VICTIM_MS. Last, the server stops
 * and closes /dev/fuse, which aborts the connection: the parked READ
 * fails, R's pread() returns an error, and W's mmap() and every caller's
 * vector complete; the mapping and the mount go.
 */
#define FUSE_FILE_PAGES		4
#define FUSE_FILE_NODE		2
#define FUSE_FILE_NAME		"data"
#define FUSE_WAIT_MS		10000	/* for each step of the set-up */
#define FUSE_VICTIM_MS		5000	/* for the other process's call */
#define FUSE_AFTER_MS		10000	/* for it again, after the abort */
#define FUSE_JOIN_MS		20000	/* for every thread, after the abort */
#define FUSE_MAX_CALLERS	256
#define FUSE_STACK		(256 * 1024)
#define BUDGET_FILE		"/sys/kernel/debug/cpu_opv/vmap_budget_bytes"
#define PEAK_FILE		"/sys/kernel/debug/cpu_opv/alias_bytes_peak"

#define FL_NAME		"FUSE-held mmap lock: "
#define FL_SETUP	FL_NAME \
	"a read fault parked by the server, a queued mmap() and the callers wait"
#define FL_VICTIM	FL_NAME "another process's vector that needs an alias returns meanwhile"
#define FL_SRV_STUCK	"the FUSE server still runs %d ms after it was stopped: %s\n"
#define FL_THR_STUCK	"thread %d (%s) still blocked %d ms after the abort: %s\n"
/*
 * The FUSE protocol's "not implemented" answer, which stops the kernel
 * from sending that request again: the errno value 38 (ENOSYS), named
 * apart because checkpatch reserves that name for system calls.
 */
#define FUSE_NOT_IMPLEMENTED	38
#define FL_ABORT	FL_NAME "the abort fails the read; mmap() and the callers then complete"

enum { FL_R, FL_W, FL_C, FL_ROLES };

struct fl_thread {
	pthread_t thr;
	int role;
	pid_t tid;		/* set once running */
	int started, done;
	long ret;		/* bytes read, 0, the call's result; or -errno */
	void *map;		/* W's mapping */
};

/* What the other process reports: its call's result and duration. */
struct fl_victim_res {
	int ret;
	long long ns;
};

/* The test's state, shared with its threads. */
static struct {
	char dir[64], mnt[96], dev[96];
	int fuse_fd, mounted, stop[2], event[2];
	pthread_t srv;
	int srv_running, reads;
	const char *srv_failed;
	int srv_err;
	char *fmap;
	int mem_fd;
	struct cpu_op op;	/* every caller's vector */
	char *untouched, *zeros;
	int cpu;
	int go[FL_ROLES][2];
	struct fl_thread *th;
	int nth;
	pid_t victim;
	int victim_go, victim_res;
	/* What the conductor saw. */
	struct obs setup, vict;
	int ncallers, setup_ok, answered;
	struct fl_victim_res vr;
	long long t_abort;
} fl;

/* Requests are read here; touched before the mmap lock is stuck. */
static uint64_t fl_buf[(128 * 1024 + 4096) / 8];

static void fl_srv_fail(const char *step)
{
	if (!fl.srv_failed) {
		fl.srv_failed = step;
		fl.srv_err = errno;
	}
}

static void fl_attr(struct fuse_attr *a, uint64_t node)
{
	memset(a, 0, sizeof(*a));
	a->ino = node;
	a->uid = getuid();
	a->gid = getgid();
	a->blksize = page_size;
	if (node == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0444;
		a->nlink = 1;
		a->size = FUSE_FILE_PAGES * page_size;
		a->blocks = a->size / 512;
	}
}

static void fl_reply(uint64_t unique, int error, const void *arg, size_t len)
{
	union {
		struct fuse_out_header h;
		unsigned char b[sizeof(struct fuse_out_header) + 256];
	} r;

	assert(len <= 256);
	r.h.len = sizeof(r.h) + len;
	r.h.error = error;
	r.h.unique = unique;
	if (len)
		memcpy(r.b + sizeof(r.h), arg, len);
	/* ENOENT: the request was interrupted meanwhile. */
	if (write(fl.fuse_fd, &r, r.h.len) != (ssize_t)r.h.len && errno != ENOENT)
		fl_srv_fail("write of a FUSE reply");
}

static void fl_serve_one(const struct fuse_in_header *in, const char *arg, size_t len)
{
	union {
		struct fuse_init_out init;
		struct fuse_entry_out entry;
		struct fuse_attr_out attr;
		struct fuse_open_out open;
	} o;
	const struct fuse_init_in *ii = (const void *)arg;
	char c = 'r';

	memset(&o, 0, sizeof(o));
	switch (in->opcode) {
	case FUSE_INIT:
		if (len < 8) {
			fl_reply(in->unique, -EINVAL, NULL, 0);
			break;
		}
		o.init.major = FUSE_KERNEL_VERSION;
		o.init.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ? ii->minor :
			       FUSE_KERNEL_MINOR_VERSION;
		o.init.max_write = 4096;
		fl_reply(in->unique, 0, &o.init, sizeof(o.init));
		break;
	case FUSE_LOOKUP:
		if (in->nodeid != FUSE_ROOT_ID || strnlen(arg, len) != strlen(FUSE_FILE_NAME) ||
		    strcmp(arg, FUSE_FILE_NAME)) {
			fl_reply(in->unique, -ENOENT, NULL, 0);
			break;
		}
		o.entry.nodeid = FUSE_FILE_NODE;
		o.entry.entry_valid = 3600;
		o.entry.attr_valid = 3600;
		fl_attr(&o.entry.attr, FUSE_FILE_NODE);
		fl_reply(in->unique, 0, &o.entry, sizeof(o.entry));
		break;
	case FUSE_GETATTR:
		if (in->nodeid != FUSE_ROOT_ID && in->nodeid != FUSE_FILE_NODE) {
			fl_reply(in->unique, -ENOENT, NULL, 0);
			break;
		}
		o.attr.attr_valid = 3600;
		fl_attr(&o.attr.attr, in->nodeid);
		fl_reply(in->unique, 0, &o.attr, sizeof(o.attr));
		break;
	case FUSE_OPEN:
		if (in->nodeid != FUSE_FILE_NODE) {
			fl_reply(in->unique, -EISDIR, NULL, 0);
			break;
		}
		o.open.fh = 1;
		fl_reply(in->unique, 0, &o.open, sizeof(o.open));
		break;
	case FUSE_READ:
		/* Parked for good: the abort fails it. */
		__atomic_add_fetch(&fl.reads, 1, __ATOMIC_SEQ_CST);
		if (write(fl.event[1], &c, 1) != 1)
			fl_srv_fail("write to the event pipe");
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		/* No reply. */
		break;
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		fl_reply(in->unique, 0, NULL, 0);
		break;
	default:
		/* FUSE_FLUSH, FUSE_ACCESS, FUSE_STATFS...: not implemented. */
		fl_reply(in->unique, -FUSE_NOT_IMPLEMENTED, NULL, 0);
	}
}

/*
 * The FUSE server: runs until the stop pipe is written or closed, or a
 * step fails, then aborts the connection.
 */
static void *fl_serve(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = fl.fuse_fd, .events = POLLIN },
		{ .fd = fl.stop[0], .events = POLLIN },
	};
	const struct fuse_in_header *in = (const void *)fl_buf;
	ssize_t n;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fl_srv_fail("poll");
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			errno = ENOTCONN;
			fl_srv_fail("poll of /dev/fuse");
			break;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(fl.fuse_fd, fl_buf, sizeof(fl_buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*in) || n < (ssize_t)in->len) {
			if (n >= 0)
				errno = EPROTO;
			fl_srv_fail("read of /dev/fuse");
			break;
		}
		fl_serve_one(in, (const char *)(in + 1), in->len - sizeof(*in));
	}
	/*
	 * Closing the only /dev/fuse file aborts the connection: every
	 * request fails, the parked READs included, and none can hang.
	 */
	close(fl.fuse_fd);
	return NULL;
}

/* R, W or a caller: waits for its go byte, then blocks where it should. */
static void *fl_thread_run(void *arg)
{
	struct fl_thread *t = arg;
	uint64_t word = 0;
	ssize_t n;
	void *p;
	char c;

	/*
	 * The stack below this frame, where the calls below keep their frames
	 * and buffers, is written now: once the mmap lock is stuck, a page
	 * fault there, taken in the kernel, would wait for it forever.
	 */
	cpu_op_touch_stack();
	__atomic_store_n(&t->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	if (read(fl.go[t->role][0], &c, 1) != 1)
		return NULL;
	__atomic_store_n(&t->started, 1, __ATOMIC_SEQ_CST);
	switch (t->role) {
	case FL_R:
		n = pread64(fl.mem_fd, &word, sizeof(word), (off64_t)(uintptr_t)fl.fmap);
		t->ret = n < 0 ? -errno : n;
		break;
	case FL_W:
		p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
		t->ret = p == MAP_FAILED ? -errno : 0;
		t->map = p == MAP_FAILED ? NULL : p;
		break;
	default:
		t->ret = run(&fl.op, 1, fl.cpu);
	}
	__atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Whether thread @i returned from the call it was to block in. */
static int fl_done(int i)
{
	return __atomic_load_n(&fl.th[i].done, __ATOMIC_SEQ_CST);
}

/* Reads a small /proc file into @buf with no allocation. */
static ssize_t fl_read_proc(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/*
 * Whether thread @tid sleeps uninterruptibly (state D, which covers the
 * killable waits for a lock) in system call @nr or @nr2. Where
 * /proc/<tid>/syscall cannot be read, the state alone decides.
 */
static int fl_blocked_in(pid_t tid, long nr, long nr2)
{
	char path[80], buf[512], *p;
	long sys;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	if (fl_read_proc(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] != 'D')
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	if (fl_read_proc(path, buf, sizeof(buf)) <= 0)
		return 1;
	if (buf[0] < '0' || buf[0] > '9')
		return 0;	/* "running", or -1: not in a system call */
	sys = strtol(buf, NULL, 10);
	return sys == nr || sys == nr2;
}

/* Waits until threads [@first, @first + @n) are blocked as fl_blocked_in() says. */
static int fl_wait_blocked(int first, int n, long nr, long nr2, int *blocked)
{
	long long end = now_ns() + FUSE_WAIT_MS * 1000000LL;
	int i;

	for (;;) {
		*blocked = 0;
		for (i = first; i < first + n; i++) {
			if (fl_done(i))
				return 0;
			*blocked += fl_blocked_in(fl.th[i].tid, nr, nr2);
		}
		if (*blocked == n)
			return 1;
		if (now_ns() > end)
			return 0;
		usleep(10000);
	}
}

/* Waits up to @ms for @fd to be readable. */
static int fl_poll_in(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long end = now_ns() + ms * 1000000LL;
	int n;

	for (;;) {
		n = poll(&pfd, 1, ms);
		if (n >= 0 || errno != EINTR)
			return n > 0;
		ms = (end - now_ns()) / 1000000;
		if (ms < 0)
			return 0;
	}
}

/*
 * The other process: maps and touches memory of its own, says it is
 * ready, then on the go byte issues a vector of one compare whose first
 * operand crosses a page, and reports its result and duration.
 */
static void fl_victim_start(void)
{
	int go[2], res[2];
	struct fl_victim_res r;
	struct cpu_op op;
	char c = 'r', *p;
	long long t0;

	if (pipe(go) || pipe(res))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	fflush(stdout);
	fl.victim = fork();
	if (fl.victim < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (fl.victim) {
		close(go[0]);
		close(res[1]);
		fl.victim_go = go[1];
		fl.victim_res = res[0];
		return;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(go[1]);
	close(res[0]);
	p = mmap(NULL, 3 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	memset(p, 0, 3 * page_size);
	cpu_op_compare(&op, 1, p + page_size - 4, p + 2 * page_size + 0x100, 8);
	if (write(res[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
		_exit(3);
	t0 = now_ns();
	r.ret = run(&op, 1, this_cpu());
	r.ns = now_ns() - t0;
	_exit(write(res[1], &r, sizeof(r)) == sizeof(r) ? 0 : 4);
}

/*
 * Mounts the file system at fl.mnt, opening /dev/fuse (or a node of its
 * own for it, when /dev has none). Returns 0, or -1 with the reason in @why.
 */
static int fl_mount(char *why, size_t len)
{
	char opts[128];
	int e;

	snprintf(fl.dir, sizeof(fl.dir), "/tmp/cpu_opv_fuse.XXXXXX");
	if (!mkdtemp(fl.dir)) {
		snprintf(why, len, "mkdtemp in /tmp: %s", strerror(errno));
		fl.dir[0] = '\0';
		return -1;
	}
	snprintf(fl.mnt, sizeof(fl.mnt), "%s/mnt", fl.dir);
	if (mkdir(fl.mnt, 0700)) {
		snprintf(why, len, "mkdir %s: %s", fl.mnt, strerror(errno));
		fl.mnt[0] = '\0';
		return -1;
	}
	fl.fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fl.fuse_fd < 0 && errno == ENOENT) {
		/* The misc device's number (10, 229) is fixed. */
		snprintf(fl.dev, sizeof(fl.dev), "%s/fuse", fl.dir);
		if (!mknod(fl.dev, S_IFCHR | 0600, makedev(10, 229))) {
			fl.fuse_fd = open(fl.dev, O_RDWR | O_CLOEXEC);
			e = errno;
			unlink(fl.dev);
			errno = e;
		} else {
			errno = ENOENT;
		}
	}
	if (fl.fuse_fd < 0) {
		snprintf(why, len, "open /dev/fuse: %s (no CONFIG_FUSE_FS?)", strerror(errno));
		return -1;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%u,group_id=%u", fl.fuse_fd,
		 (unsigned int)getuid(), (unsigned int)getgid());
	if (mount("cpu_opv_fuse", fl.mnt, "fuse", MS_NOSUID | MS_NODEV, opts)) {
		snprintf(why, len, "mounting fuse on %s: %s", fl.mnt, strerror(errno));
		return -1;
	}
	fl.mounted = 1;
	return 0;
}

/*
 * How many callers' aliases the budget holds (each caller's vector needs
 * two, one per operand), or 0 with the reason in @why.
 */
static int fl_callers(char *why, size_t len)
{
	long budget, alias = -1, peak;
	struct cpu_op op;
	char *p;

	if (access(PEAK_FILE, F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	budget = cpu_op_read_long(BUDGET_FILE);
	if (budget > 0 && !cpu_op_write_switch(PEAK_FILE, 0)) {
		p = map_anon(3, PROT_READ | PROT_WRITE);
		memset(p, 0, 3 * page_size);
		cpu_op_compare(&op, 1, p + page_size - 4, p + 2 * page_size + 0x100, 8);
		if (!run(&op, 1, this_cpu())) {
			peak = cpu_op_read_long(PEAK_FILE);
			if (peak > 0)
				alias = peak;
		}
		munmap(p, 3 * page_size);
	}
	if (budget <= 0 || alias <= 0) {
		/*
		 * CPU_OPV_VMAP_BUDGET_PAGES over the smallest alias (two
		 * pages and a guard page): callers beyond what the budget
		 * holds then wait for it, holding nothing.
		 */
		ksft_print_msg("no %s or %s: assuming 256 pages of budget, 3 per alias\n",
			       BUDGET_FILE, PEAK_FILE);
		budget = 256 * page_size;
		alias = 3 * page_size;
	}
	if (budget / alias < 1 || budget / alias > FUSE_MAX_CALLERS) {
		snprintf(why, len, "a budget of %ld bytes holds %ld aliases of %ld bytes", budget,
			 budget / alias, alias);
		return 0;
	}
	ksft_print_msg(FL_NAME "budget %ld bytes, %ld bytes of aliases per caller: %ld callers\n",
		       budget, alias, budget / alias);
	return budget / alias;
}

static void fl_skip(const char *why)
{
	ksft_test_result_skip(FL_SETUP ": %s\n", why);
	ksft_test_result_skip(FL_VICTIM ": %s\n", why);
	ksft_test_result_skip(FL_ABORT ": %s\n", why);
}

/* Creates R, W and @n callers, each waiting for its go byte. */
static int fl_start_threads(int n, struct obs *o)
{
	pthread_attr_t attr;
	long long end;
	int i, err;

	fl.th = calloc(n + 2, sizeof(*fl.th));
	if (!fl.th || pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, FUSE_STACK)) {
		obs_fail(o, "thread set-up: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n + 2; i++) {
		fl.th[i].role = i < FL_C ? i : FL_C;
		err = pthread_create(&fl.th[i].thr, &attr, fl_thread_run, &fl.th[i]);
		if (err) {
			obs_fail(o, "pthread_create: %s", strerror(err));
			break;
		}
		fl.nth++;
	}
	pthread_attr_destroy(&attr);
	end = now_ns() + FUSE_WAIT_MS * 1000000LL;
	for (i = 0; i < fl.nth; i++)
		while (!__atomic_load_n(&fl.th[i].tid, __ATOMIC_SEQ_CST) && now_ns() < end)
			usleep(1000);
	for (i = 0; i < fl.nth; i++)
		if (!fl.th[i].tid) {
			obs_fail(o, "thread %d did not start", i);
			return -1;
		}
	return fl.nth == n + 2 ? 0 : -1;
}

/* Releases @n threads of @role. */
static int fl_go(int role, int n)
{
	char c[FUSE_MAX_CALLERS];

	memset(c, 'g', n);
	return write(fl.go[role][1], c, n) == n ? 0 : -1;
}

#ifndef SYS_mmap2
#define SYS_mmap2 -2L
#endif
#ifndef SYS_mmap
#define SYS_mmap -2L
#endif

/*
 * The steps while the mmap lock is stuck, in a thread of their own. A
 * page fault the kernel takes on a user address (a copy to user memory,
 * or the rseq area's update on the way back to user space) waits for the
 * mmap lock, behind W for ever; the main thread's pages, shared
 * copy-on-write by the fork() of the other process, would fault so. This
 * thread's rseq area was written when it started, its stack is written
 * from user space first, and every buffer the kernel writes here is on
 * that stack; nothing here allocates or maps memory. The main thread
 * waits in pthread_join() meanwhile. The thread ends with the abort.
 */
static void *fl_conduct(void *arg)
{
	struct fl_victim_res vr;
	int blocked = 0, n = fl.ncallers;

	cpu_op_touch_stack();
	if (fl_go(FL_R, 1) || !fl_poll_in(fl.event[0], FUSE_WAIT_MS)) {
		obs_fail(&fl.setup, "no FUSE_READ within %d ms of R's pread() of the mapping%s",
			 FUSE_WAIT_MS, fl_done(FL_R) ? " (it returned)" : "");
		goto abort;
	}
	if (fl_go(FL_W, 1) || !fl_wait_blocked(FL_W, 1, SYS_mmap, SYS_mmap2, &blocked)) {
		obs_fail(&fl.setup, "W's mmap() did not block within %d ms%s", FUSE_WAIT_MS,
			 fl_done(FL_W) ? " (it returned)" : "");
		goto abort;
	}
	if (fl_go(FL_C, n) || !fl_wait_blocked(FL_C, n, __NR_cpu_opv, __NR_cpu_opv, &blocked)) {
		obs_fail(&fl.setup, "only %d of %d callers blocked in cpu_opv within %d ms",
			 blocked, n, FUSE_WAIT_MS);
		goto abort;
	}
	if (fl_done(FL_R) || fl_done(FL_W))
		obs_fail(&fl.setup, "R or W returned while the read was parked");
	fl.setup_ok = fl.setup.ok;
	if (!fl.setup_ok)
		goto abort;

	if (write(fl.victim_go, "g", 1) != 1) {
		obs_fail(&fl.vict, "write to the other process: %s", strerror(errno));
		goto abort;
	}
	fl.answered = fl_poll_in(fl.victim_res, FUSE_VICTIM_MS) &&
		      read(fl.victim_res, &vr, sizeof(vr)) == sizeof(vr);
	if (!fl.answered) {
		obs_fail(&fl.vict,
			 "no return within %d ms while %d callers waited for their mmap lock",
			 FUSE_VICTIM_MS, n);
	} else {
		fl.vr = vr;
		if (vr.ret)
			obs_fail(&fl.vict, "returned %d (%s), want 0", vr.ret, ret_str(vr.ret));
	}

abort:
	/*
	 * The server aborts the connection as it stops. No thread is joined
	 * before: one that ends frees its stack, which waits for the mmap
	 * lock as long as R holds it.
	 */
	fl.t_abort = now_ns();
	if (write(fl.stop[1], "s", 1) != 1)
		obs_fail(&fl.setup, "write to the stop pipe: %s", strerror(errno));
	return NULL;
}

static void fuse_lock_run(void)
{
	struct obs abort_o;
	struct fl_victim_res vr;
	int ncallers, i, status, ready = 0, late = 0, first, bad, fd, err;
	long long late_ms;
	struct timespec deadline;
	char why[192], path[160], c;
	pthread_attr_t attr;
	pthread_t conductor;

	memset(&fl, 0, sizeof(fl));
	fl.fuse_fd = -1;
	fl.mem_fd = -1;
	fl.victim = -1;
	if (geteuid()) {
		fl_skip("mounting FUSE needs root");
		return;
	}
	ncallers = fl_callers(why, sizeof(why));
	if (!ncallers) {
		fl_skip(why);
		return;
	}
	fl.ncallers = ncallers;
	obs_init(&fl.setup);
	obs_init(&fl.vict);
	obs_init(&abort_o);

	/* Before anything blocks this process's mmap lock, which fork() takes. */
	fl_victim_start();
	if (fl_mount(why, sizeof(why))) {
		fl_skip(why);
		goto out_victim;
	}
	if (pipe(fl.stop) || pipe(fl.event))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	for (i = 0; i < FL_ROLES; i++)
		if (pipe(fl.go[i]))
			ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	memset(fl_buf, 0, sizeof(fl_buf));
	err = pthread_create(&fl.srv, NULL, fl_serve, NULL);
	if (err)
		ksft_exit_fail_msg("pthread_create: %s\n", strerror(err));
	fl.srv_running = 1;

	snprintf(path, sizeof(path), "%s/%s", fl.mnt, FUSE_FILE_NAME);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		obs_fail(&fl.setup, "open %s: %s", path, strerror(errno));
		goto stop;
	}
	fl.fmap = mmap(NULL, FUSE_FILE_PAGES * page_size, PROT_READ, MAP_SHARED, fd, 0);
	if (fl.fmap == MAP_FAILED) {
		obs_fail(&fl.setup, "mmap of %s: %s", path, strerror(errno));
		fl.fmap = NULL;
	}
	close(fd);
	fl.mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	if (fl.mem_fd < 0)
		obs_fail(&fl.setup, "open /proc/self/mem: %s", strerror(errno));
	if (!fl_poll_in(fl.victim_res, FUSE_WAIT_MS) || read(fl.victim_res, &c, 1) != 1)
		obs_fail(&fl.setup, "the other process did not get ready");
	else
		ready = 1;
	if (!fl.setup.ok)
		goto stop;

	/*
	 * The callers' vector: op 0 compares 8 bytes across the boundary of
	 * two pages never touched with 8 zero bytes in a touched page.
	 */
	fl.untouched = map_anon(2, PROT_READ | PROT_WRITE);
	fl.zeros = map_anon(1, PROT_READ | PROT_WRITE);
	memset(fl.zeros, 0, page_size);
	cpu_op_compare(&fl.op, 1, fl.untouched + page_size - 4, fl.zeros + 0x100, 8);
	fl.cpu = this_cpu();
	if (fl_start_threads(ncallers, &fl.setup))
		goto stop;

	if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, FUSE_STACK) ||
	    pthread_create(&conductor, &attr, fl_conduct, NULL))
		ksft_exit_fail_msg("conductor thread: %s\n", strerror(errno));
	pthread_attr_destroy(&attr);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (3 * FUSE_WAIT_MS + FUSE_VICTIM_MS + FUSE_JOIN_MS) / 1000;
	err = pthread_timedjoin_np(conductor, NULL, &deadline);
	if (err) {
		/* Stuck in spite of all: abort from here, as best it can. */
		obs_fail(&fl.setup, "the conductor thread got stuck: %s", strerror(err));
		if (write(fl.stop[1], "s", 1) != 1)
			ksft_print_msg("write to the stop pipe: %s\n", strerror(errno));
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += FUSE_JOIN_MS / 1000;
		if (pthread_timedjoin_np(conductor, NULL, &deadline))
			ksft_exit_fail_msg(FL_NAME "the conductor thread is still stuck\n");
	}
	goto joins;

stop:
	fl.t_abort = now_ns();
	if (write(fl.stop[1], "s", 1) != 1)
		ksft_print_msg("write to the stop pipe: %s\n", strerror(errno));
joins:
	for (i = 0; i < FL_ROLES; i++)
		close(fl.go[i][1]);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += FUSE_JOIN_MS / 1000;
	err = pthread_timedjoin_np(fl.srv, NULL, &deadline);
	if (err)
		ksft_exit_fail_msg(FL_NAME FL_SRV_STUCK, FUSE_JOIN_MS, strerror(err));
	for (i = 0; i < fl.nth; i++) {
		err = pthread_timedjoin_np(fl.th[i].thr, NULL, &deadline);
		if (err)
			ksft_exit_fail_msg(FL_NAME FL_THR_STUCK, i,
					   i == FL_R ? "R" : i == FL_W ? "W" : "caller",
					   FUSE_JOIN_MS, strerror(err));
	}
	if (fl.srv_failed)
		obs_fail(&fl.setup, "FUSE server: %s: %s", fl.srv_failed, strerror(fl.srv_err));

	/* Each step's outcome. */
	if (fl.setup_ok) {
		if (fl.th[FL_R].ret >= 0)
			obs_fail(&abort_o, "R's pread() returned %ld, want an error",
				 fl.th[FL_R].ret);
		if (fl.th[FL_W].ret)
			obs_fail(&abort_o, "W's mmap() failed: %s", strerror(-fl.th[FL_W].ret));
		for (i = FL_C, first = -1, bad = 0; i < fl.nth; i++)
			if (fl.th[i].ret && !bad++)
				first = i;
		if (bad)
			obs_fail(&abort_o, "%d callers failed, the first returned %ld (%s), want 0",
				 bad, fl.th[first].ret, ret_str(fl.th[first].ret));
	}
	if (fl.th && fl.th[FL_W].map)
		munmap(fl.th[FL_W].map, page_size);
	free(fl.th);
	if (fl.fmap)
		munmap(fl.fmap, FUSE_FILE_PAGES * page_size);
	if (fl.untouched)
		munmap(fl.untouched, 2 * page_size);
	if (fl.zeros)
		munmap(fl.zeros, page_size);
	if (fl.mem_fd >= 0)
		close(fl.mem_fd);
	for (i = 0; i < FL_ROLES; i++)
		close(fl.go[i][0]);
	close(fl.stop[0]);
	close(fl.stop[1]);
	close(fl.event[0]);
	close(fl.event[1]);

out_victim:
	/* Once the server runs, it owns the /dev/fuse file. */
	if (!fl.srv_running && fl.fuse_fd >= 0)
		close(fl.fuse_fd);
	/* With the budget free again, a call still waiting for it returns. */
	if (fl.setup_ok && !fl.answered && ready) {
		late = fl_poll_in(fl.victim_res, FUSE_AFTER_MS) &&
		       read(fl.victim_res, &vr, sizeof(vr)) == sizeof(vr);
		late_ms = (now_ns() - fl.t_abort) / 1000000;
		if (late)
			obs_fail(&fl.vict, "it returned %d (%s) %lld ms after the abort", vr.ret,
				 ret_str(vr.ret), late_ms);
		else
			obs_fail(&fl.vict, "nor within %d ms of the abort", FUSE_AFTER_MS);
	}
	if (fl.victim > 0) {
		close(fl.victim_go);
		if (!fl.answered && !late)
			kill(fl.victim, SIGKILL);
		if (waitpid(fl.victim, &status, 0) != fl.victim)
			ksft_print_msg("waitpid: %s\n", strerror(errno));
		else if (fl.answered && (!WIFEXITED(status) || WEXITSTATUS(status)))
			obs_fail(&fl.vict, "the other process ended with status %#x", status);
		close(fl.victim_res);
	}
	if (fl.mounted && umount2(fl.mnt, MNT_DETACH))
		obs_fail(&abort_o, "umount2 %s: %s", fl.mnt, strerror(errno));
	if (fl.mnt[0] && rmdir(fl.mnt))
		obs_fail(&abort_o, "rmdir %s: %s", fl.mnt, strerror(errno));
	if (fl.dir[0] && rmdir(fl.dir))
		obs_fail(&abort_o, "rmdir %s: %s", fl.dir, strerror(errno));
	if (!fl.mounted)
		return;		/* skipped above */

	if (fl.answered)
		ksft_print_msg(FL_NAME "the other process's call took %lld us\n", fl.vr.ns / 1000);
	CHECK(fl.setup.ok, FL_SETUP " (%d callers)%s\n", ncallers, fl.setup.msg);
	if (fl.setup_ok)
		CHECK(fl.vict.ok, FL_VICTIM "%s\n", fl.vict.msg);
	else
		ksft_test_result_skip(FL_VICTIM ": the set-up failed\n");
	if (fl.setup_ok)
		CHECK(abort_o.ok, FL_ABORT "%s\n", abort_o.msg);
	else
		ksft_test_result_skip(FL_ABORT ": the set-up failed\n");
}

/*
 * Test 12 needs callers whose vectors take aliases, which kernels whose
 * data cache does not alias only make when debugfs forces them.
 */
static void test_fuse_lock(void)
{
	char why[160];
	int ret = cpu_op_force_vmap(1);

	if (ret) {
		snprintf(why, sizeof(why), "the callers need aliases: %s: %s",
			 CPU_OP_FORCE_VMAP, strerror(-ret));
		fl_skip(why);
		return;
	}
	fuse_lock_run();
	ret = cpu_op_force_vmap(0);
	if (ret)
		ksft_exit_fail_msg("writing 0 back to %s: %s\n", CPU_OP_FORCE_VMAP,
				   strerror(-ret));
}

int main(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	ksft_print_header();
	cpu_op_require();
	nr_allowed = cpu_op_affinity_cpus(&orig_set, allowed, CPU_SETSIZE, 0);
	if (setup_file())
		ksft_print_msg("no test file: %s\n", file_why);
	atexit(cleanup_file);

	ksft_set_plan(2 + 1 + 2 + 1 + 2 * NR_WOPS + 4 + 3 + 2 * NR_OVL + 2 + 2 + 3);
	test_file_private();
	test_zero_page();
	test_fork();
	test_bss();
	test_write_ops();
	test_race(8, 1);
	test_race(8, 0);
	test_race(4, 1);
	test_race(4, 0);
	test_affinity();
	test_overlap();
	test_lost_update();
	test_blocked_fault();
	test_fuse_lock();
	ksft_finished();
}
