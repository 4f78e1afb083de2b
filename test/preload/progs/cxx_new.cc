/*
 * test/preload/progs/cxx_new.cc — every C++ operator new/delete form under LD_PRELOAD.
 *
 * Owns: plain, array, nothrow, aligned (std::align_val_t) and sized forms; failure
 * behaviour (throwing forms throw std::bad_alloc — also aligned new(SIZE_MAX, 4096),
 * which libstdc++ 12 over glibc answers with a 24-byte block — nothrow forms return
 * nullptr, the new_handler is called); the standard containers. With
 * HK_EXPECT_HAKMEM=1, blocks must be hakmem's (hk_arena_of via dlsym).
 * argv[1] == "wrong-size-delete" instead does a sized delete with a wrong size (must abort).
 */
#include <dlfcn.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

static void *(*arena_of)(const void *);
static int failures;
static volatile std::size_t H = SIZE_MAX;

#define FAIL(...) do { std::fprintf(stderr, "cxx_new: " __VA_ARGS__); std::fputc('\n', stderr); failures++; } while (0)

static void owned(const char *what, const void *p, std::size_t align = 16)
{
	if (!p)
		FAIL("%s returned nullptr", what);
	else if (arena_of && !arena_of(p))
		FAIL("%s = %p is not a hakmem block", what, p);
	else if (reinterpret_cast<std::uintptr_t>(p) % align)
		FAIL("%s = %p not %zu-aligned", what, p, align);
}

template <typename F> static void expect_bad_alloc(const char *what, F f)
{
	try {
		void *p = f();
		FAIL("%s returned %p instead of throwing std::bad_alloc", what, p);
	} catch (const std::bad_alloc &) {
	}
}

static void forms()
{
	void *p = ::operator new(100);
	owned("new", p);
	::operator delete(p, 100);
	p = ::operator new[](1000);
	owned("new[]", p);
	::operator delete[](p, 1000);
	p = ::operator new(0);
	owned("new(0)", p);
	::operator delete(p);
	p = ::operator new(100, std::nothrow);
	owned("new nothrow", p);
	::operator delete(p, std::nothrow);
	p = ::operator new[](100, std::nothrow);
	owned("new[] nothrow", p);
	::operator delete[](p, std::nothrow);
	for (std::size_t a = 1; a <= (std::size_t)64 << 20; a <<= 1) {
		std::align_val_t al{a};
		p = ::operator new(a, al);
		owned("aligned new", p, a);
		std::memset(p, 1, a);
		::operator delete(p, a, al);
		p = ::operator new[](a + 1, al);
		owned("aligned new[]", p, a);
		::operator delete[](p, a + 1, al);
		p = ::operator new(a, al, std::nothrow);
		owned("aligned new nothrow", p, a);
		::operator delete(p, al, std::nothrow);
		p = ::operator new[](3, al, std::nothrow);
		owned("aligned new[] nothrow", p, a);
		::operator delete[](p, al, std::nothrow);
		p = ::operator new(7, al);
		::operator delete(p, al);
		p = ::operator new[](7, al);
		::operator delete[](p, al);
	}
	struct alignas(256) Over { char c[300]; };
	Over *o = new Over[3];
	owned("new Over[3]", o, 256);
	delete[] o;
}

static void failures_throw()
{
	expect_bad_alloc("new(SIZE_MAX)", [] { return ::operator new(H); });
	expect_bad_alloc("new[](SIZE_MAX / 2)", [] { return ::operator new[](H / 2); });
	expect_bad_alloc("aligned new(SIZE_MAX, 4096)", [] { return ::operator new(H, std::align_val_t{4096}); });
	expect_bad_alloc("aligned new[](SIZE_MAX - 100, 64)", [] { return ::operator new[](H - 100, std::align_val_t{64}); });
	expect_bad_alloc("new int[huge]", [] { return (void *)new int[H / 8]; });
	if (::operator new(H, std::nothrow) || ::operator new[](H, std::nothrow))
		FAIL("nothrow new(SIZE_MAX) must return nullptr");
	if (::operator new(H, std::align_val_t{4096}, std::nothrow))
		FAIL("nothrow aligned new(SIZE_MAX, 4096) must return nullptr");

	static int calls;
	std::set_new_handler([] { if (++calls >= 2) std::set_new_handler(nullptr); });
	expect_bad_alloc("new(SIZE_MAX) with a new_handler", [] { return ::operator new(H); });
	if (calls != 2)
		FAIL("new_handler called %d times, want 2", calls);
}

static void containers()
{
	std::vector<std::string> v;
	std::map<int, std::string> m;
	for (int i = 0; i < 100000; i++) {
		v.push_back(std::to_string(i) + std::string(i % 100, 'x'));
		m[i % 5000] = v.back();
	}
	std::size_t sum = 0, want = 0;
	for (auto &s : v)
		sum += s.size();
	for (int i = 0; i < 100000; i++)
		want += std::to_string(i).size() + (std::size_t)(i % 100);
	if (sum != want || m.size() != 5000)
		FAIL("container contents");
	owned("vector data", v.data());
}

int main(int argc, char **argv)
{
	const char *e = std::getenv("HK_EXPECT_HAKMEM");
	if (e && std::atoi(e)) {
		arena_of = reinterpret_cast<void *(*)(const void *)>(dlsym(RTLD_DEFAULT, "hk_arena_of"));
		if (!arena_of) {
			std::fprintf(stderr, "cxx_new: hakmem is not preloaded\n");
			return 1;
		}
	}
	if (argc > 1 && !std::strcmp(argv[1], "wrong-size-delete")) {
		void *p = ::operator new(32);
		std::printf("ptr %#lx\n", (unsigned long)reinterpret_cast<std::uintptr_t>(p));
		std::fflush(stdout);
		::operator delete(p, 100000); /* sized delete with a size the block cannot hold */
		return 0;
	}
	forms();
	failures_throw();
	containers();
	if (failures)
		return 1;
	std::puts("cxx_new: ok");
	return 0;
}
