/*
 * test/preload/plugin/cxx_plugin.cc — C++ code a C program loads with dlopen
 * (a Python extension, a plugin), for progs/cxx_host.c: each function reports
 * how a failed operator new behaved. The C++ runtime arrives with this
 * library, into its own scope (RTLD_LOCAL), after hakmem's start-up.
 */
#include <cstdint>
#include <new>

static volatile std::size_t H = SIZE_MAX / 2;
static void *volatile sink;
static int handler_calls;

/* 1 when new(SIZE_MAX / 2) threw std::bad_alloc. */
extern "C" int plugin_new_throws(void)
{
	try {
		sink = ::operator new(H);
	} catch (std::bad_alloc &) {
		return 1;
	}
	return 0;
}

extern "C" int plugin_aligned_new_throws(void)
{
	try {
		sink = ::operator new[](H, std::align_val_t{ 4096 });
	} catch (std::bad_alloc &) {
		return 1;
	}
	return 0;
}

/* How often the new_handler was called before bad_alloc (it uninstalls
 * itself on its second call): 2, or -1 when nothing was thrown. */
extern "C" int plugin_new_handler_calls(void)
{
	handler_calls = 0;
	std::set_new_handler([] {
		if (++handler_calls >= 2)
			std::set_new_handler(nullptr);
	});
	try {
		sink = ::operator new(H);
	} catch (std::bad_alloc &) {
		return handler_calls;
	}
	return -1;
}

/* 1 when the nothrow form returned nullptr. */
extern "C" int plugin_nothrow_is_null(void)
{
	return ::operator new(H, std::nothrow) == nullptr;
}

/* How often the new_handler was called before the nothrow forms returned
 * nullptr (it uninstalls itself on its second call): 2 each for new and
 * aligned new[], so 4; -1 when one returned a block. */
extern "C" int plugin_nothrow_handler_calls(void)
{
	int total = 0;
	for (int form = 0; form < 2; form++) {
		handler_calls = 0;
		std::set_new_handler([] {
			if (++handler_calls >= 2)
				std::set_new_handler(nullptr);
		});
		void *p = form ? ::operator new[](H, std::align_val_t{ 4096 }, std::nothrow)
			       : ::operator new(H, std::nothrow);
		if (p)
			return -1;
		total += handler_calls;
	}
	return total;
}
