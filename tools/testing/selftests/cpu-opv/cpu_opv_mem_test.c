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
 * the vmalloc budget meanwhile.
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
#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

static int cpu_online_path(int cpu, char *path, size_t len)
{
	snprintf(path, len, "/sys/devices/system/cpu/cpu%d/online", cpu);
	return access(path, F_OK);
}

static int set_online(int cpu, int on)
{
	char path[64];

	cpu_online_path(cpu, path, sizeof(path));
	return cpu_op_write_switch(path, on);
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
		if (!cpu_online_path(allowed[i], path, sizeof(path)))
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
	ret = set_online(c, 0);
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
	back = set_online(c, 1);
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
#define FORCE_VMAP	"/sys/kernel/debug/cpu_opv/force_vmap"
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

static int force_vmap_set(int on)
{
	return cpu_op_write_switch(FORCE_VMAP, on);
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
				      shift, OVL_IN_LEN, FORCE_VMAP, why);
		return;
	}
	ret = force_vmap_set(1);
	if (ret) {
		force_vmap_set(0);
		ksft_test_result_skip("overlapping " OVL_IN ": writing 1 to %s: %s\n", name,
				      shift, OVL_IN_LEN, FORCE_VMAP, strerror(-ret));
		return;
	}
	obs_init(&o);
	ovl_run(&o, buf, ref, OVL_IN_SRC, shift, OVL_IN_LEN, release);
	/* Always back to 0, whatever the copy did. */
	ret = force_vmap_set(0);
	if (ret)
		obs_fail(&o, "writing 0 back to %s: %s", FORCE_VMAP, strerror(-ret));
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

	if (access(FORCE_VMAP, F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (access(FORCE_VMAP, W_OK))
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
 * that each reserves most of a maximal share of the vmalloc budget; the
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
	int uffd, i, faults = 0, seen[BLOCKERS] = { 0 };
	char why[160];
	struct obs o;

	uffd = cpu_op_uffd_open(why, sizeof(why));
	if (uffd < 0) {
		ksft_test_result_skip("blocked fault: no pin held: %s\n", why);
		ksft_test_result_skip("blocked fault: no budget share held: %s\n", why);
		return;
	}
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
	CHECK(o.ok,
	      "blocked fault: no budget share held, %d calls of maximal share all reach their fault, then succeed%s\n",
	      BLOCKERS, o.msg);
	for (i = 0; i < BLOCKERS; i++)
		munmap(b[i].area, BLOCK_PAGES * page_size);
	munmap(blocker_zeros, 17 * page_size);
}

int main(void)
{
	int cpu;

	page_size = sysconf(_SC_PAGESIZE);
	ksft_print_header();
	if (cpu_opv(NULL, 0, -1, CPU_OP_NR_FLAG) < 0)
		ksft_exit_skip("cpu_opv() is not available (CONFIG_CPU_OPV?): %s\n",
			       strerror(errno));
	if (sched_getaffinity(0, sizeof(orig_set), &orig_set))
		ksft_exit_fail_msg("sched_getaffinity: %s\n", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &orig_set))
			allowed[nr_allowed++] = cpu;
	if (setup_file())
		ksft_print_msg("no test file: %s\n", file_why);
	atexit(cleanup_file);

	ksft_set_plan(2 + 1 + 2 + 1 + 2 * NR_WOPS + 4 + 3 + 2 * NR_OVL + 2 + 2);
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
	ksft_finished();
}
