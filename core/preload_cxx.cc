/*
 * core/preload_cxx.cc — every C++ operator new/delete, for LD_PRELOAD (libhakmem.so only).
 *
 * Owns: the replaceable global allocation functions of [new.delete], forwarding to hk_*.
 * Must not: hold allocator logic, or make libhakmem.so depend on libstdc++: the C++
 * runtime symbols used to throw std::bad_alloc are weak references (core/Build.mk
 * weakens this object), resolved when the program itself loads libstdc++.
 * Invariant: libstdc++'s own operators are never used (its aligned new(SIZE_MAX, 4096)
 * returns a 24-byte block with glibc 2.36); sized deletes are checked by hk_free_sized.
 */
#include <dlfcn.h>
#include <new>
#include <unistd.h>
#include <cstdlib>

#include "hakmem.h"

#define EXPORT __attribute__((visibility("default")))

/* std::bad_alloc's type_info: non-null only when libstdc++ was loaded with the
 * program (a weak reference under another C++ name, so the compiler keeps the test). */
extern "C" const char hk_cxx_runtime[] __asm__("_ZTISt9bad_alloc") __attribute__((weak));

/* A C program that dlopen'ed C++ code (a Python extension, a plugin) has a
 * C++ runtime the weak references above were never bound to: it came after
 * start-up, into the plugin's own scope (RTLD_LOCAL, which dlsym(RTLD_DEFAULT)
 * does not search). Its functions are found by name when a new fails: 0 when
 * no runtime is loaded at all. */
static void *late_runtime(const char *name)
{
	void *rt = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
	void *sym = rt ? dlsym(rt, name) : nullptr;
	if (rt)
		dlclose(rt); /* RTLD_NOLOAD took a reference */
	return sym;
}

static std::new_handler current_new_handler()
{
	if (hk_cxx_runtime)
		return std::get_new_handler();
	auto get = reinterpret_cast<std::new_handler (*)()>(late_runtime("_ZSt15get_new_handlerv"));
	return get ? get() : nullptr;
}

/* The request failed and no new_handler helped: throw std::bad_alloc (through
 * std::__throw_bad_alloc of a runtime loaded late), or, with no C++ runtime
 * loaded at all, abort with a message rather than jump through a null pointer.
 * Before the late runtime was looked up, a C++ plugin of a C program aborted
 * here instead of catching bad_alloc (test/preload/cxx.sh, progs/cxx_host). */
[[noreturn]] static void throw_bad_alloc()
{
	static const char msg[] = "hakmem: operator new: out of memory and no C++ runtime to throw std::bad_alloc\n";

	if (hk_cxx_runtime)
		throw std::bad_alloc();
	auto late_throw = reinterpret_cast<void (*)()>(late_runtime("_ZSt17__throw_bad_allocv"));
	if (late_throw)
		late_throw();
	if (write(2, msg, sizeof msg - 1) < 0) { /* nothing else to do */ }
	abort();
}

/* [new.delete.single]: retry through the new_handler while one is installed. */
static void *new_throwing(std::size_t n, std::size_t align)
{
	for (;;) {
		void *p = align ? hk_memalign(align, n) : hk_malloc(n);
		if (p)
			return p;
		std::new_handler h = current_new_handler();
		if (!h)
			throw_bad_alloc();
		h();
	}
}

/* The nothrow forms behave as if they called the throwing form and caught.
 * `late_form`: the same form's mangled name in a C++ runtime loaded late. */
static void *new_nothrow(std::size_t n, std::size_t align, const char *late_form) noexcept
{
	if (!hk_cxx_runtime) {
		/* No runtime bound at start-up: what a late one's new_handler
		 * throws cannot be caught in this frame (its personality routine
		 * is one of the weak references), so a failed request goes to the
		 * late runtime's own nothrow form, which calls our throwing form
		 * (libstdc++ calls operator new through its PLT) and catches. Its
		 * new_handler was never called before (test/preload/cxx.sh). */
		void *p = align ? hk_memalign(align, n) : hk_malloc(n);
		if (p)
			return p;
		if (!current_new_handler())
			return nullptr;
		auto late = late_runtime(late_form);
		if (!late)
			return nullptr;
		if (align)
			return reinterpret_cast<void *(*)(std::size_t, std::align_val_t, const std::nothrow_t &)>(late)(
				n, std::align_val_t{ align }, std::nothrow);
		return reinterpret_cast<void *(*)(std::size_t, const std::nothrow_t &)>(late)(n, std::nothrow);
	}
	try {
		return new_throwing(n, align);
	} catch (...) {
		return nullptr;
	}
}

static std::size_t al(std::align_val_t a) { return static_cast<std::size_t>(a); }

EXPORT void *operator new(std::size_t n) { return new_throwing(n, 0); }
EXPORT void *operator new[](std::size_t n) { return new_throwing(n, 0); }
EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return new_nothrow(n, 0, "_ZnwmRKSt9nothrow_t"); }
EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return new_nothrow(n, 0, "_ZnamRKSt9nothrow_t"); }
EXPORT void *operator new(std::size_t n, std::align_val_t a) { return new_throwing(n, al(a)); }
EXPORT void *operator new[](std::size_t n, std::align_val_t a) { return new_throwing(n, al(a)); }
EXPORT void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
	return new_nothrow(n, al(a), "_ZnwmSt11align_val_tRKSt9nothrow_t");
}
EXPORT void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
	return new_nothrow(n, al(a), "_ZnamSt11align_val_tRKSt9nothrow_t");
}

EXPORT void operator delete(void *p) noexcept { hk_free(p); }
EXPORT void operator delete[](void *p) noexcept { hk_free(p); }
EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept { hk_free(p); }
EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept { hk_free(p); }
EXPORT void operator delete(void *p, std::size_t n) noexcept { hk_free_sized(p, n); }
EXPORT void operator delete[](void *p, std::size_t n) noexcept { hk_free_sized(p, n); }
EXPORT void operator delete(void *p, std::align_val_t) noexcept { hk_free(p); }
EXPORT void operator delete[](void *p, std::align_val_t) noexcept { hk_free(p); }
EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { hk_free(p); }
EXPORT void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { hk_free(p); }
EXPORT void operator delete(void *p, std::size_t n, std::align_val_t) noexcept { hk_free_sized(p, n); }
EXPORT void operator delete[](void *p, std::size_t n, std::align_val_t) noexcept { hk_free_sized(p, n); }
