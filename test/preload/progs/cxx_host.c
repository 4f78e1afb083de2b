/*
 * test/preload/progs/cxx_host.c — a C program that loads C++ code with dlopen
 * (argv[1]: test/preload/plugin/cxx_plugin.so), as python3 loads a C++
 * extension: a failed operator new in the plugin must throw std::bad_alloc
 * and call its new_handler, as in a C++ program, although no C++ runtime was
 * loaded when hakmem started. Prints "cxx_host: ok", or the broken promise.
 */
#include <dlfcn.h>
#include <stdio.h>

static int call(void *h, const char *name)
{
	int (*fn)(void) = (int (*)(void))dlsym(h, name);
	if (!fn) {
		fprintf(stderr, "cxx_host: no %s in the plugin\n", name);
		return -100;
	}
	return fn();
}

int main(int argc, char **argv)
{
	int bad = 0;
	void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
	if (!h) {
		fprintf(stderr, "cxx_host: dlopen: %s\n", argc > 1 ? dlerror() : "no plugin named");
		return 1;
	}
	if (call(h, "plugin_new_throws") != 1)
		bad = fprintf(stderr, "cxx_host: new(SIZE_MAX / 2) did not throw std::bad_alloc\n");
	if (call(h, "plugin_aligned_new_throws") != 1)
		bad = fprintf(stderr, "cxx_host: aligned new[](SIZE_MAX / 2, 4096) did not throw\n");
	int calls = call(h, "plugin_new_handler_calls");
	if (calls != 2)
		bad = fprintf(stderr, "cxx_host: new_handler called %d times before bad_alloc, want 2\n", calls);
	if (call(h, "plugin_nothrow_is_null") != 1)
		bad = fprintf(stderr, "cxx_host: nothrow new(SIZE_MAX / 2) is not nullptr\n");
	/* It was never called: the nothrow forms returned nullptr at once. */
	calls = call(h, "plugin_nothrow_handler_calls");
	if (calls != 4)
		bad = fprintf(stderr, "cxx_host: new_handler called %d times by nothrow new and aligned new[], want 2 + 2\n",
			      calls);
	if (bad)
		return 1;
	puts("cxx_host: ok");
	return 0;
}
