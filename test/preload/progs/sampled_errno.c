/*
 * test/preload/progs/sampled_errno.c — a malloc that succeeds leaves errno
 * alone, also when it is sampled: run with HAKMEM_PROFILE_RATE=1, every
 * block's stack is captured (libunwind, the unwinder before libgcc's, read an empty
 * non-blocking pipe and left EAGAIN in errno at the first 1 MiB block).
 * Prints "sampled_errno: ok" and exits 0, or names the call and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

int main(void)
{
	static const size_t sizes[] = { 10, 4096, 1 << 20, 100 << 20 };
	for (int i = 0; i < 20; i++) {
		for (unsigned s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			errno = 42;
			sink = malloc(sizes[s]);
			if (!sink || errno != 42) {
				printf("sampled_errno: malloc(%zu) round %d: %p, errno %d\n", sizes[s], i,
				       sink, errno);
				return 1;
			}
			free(sink);
			if (errno != 42) {
				printf("sampled_errno: free of %zu B round %d changed errno to %d\n",
				       sizes[s], i, errno);
				return 1;
			}
		}
	}
	puts("sampled_errno: ok");
	return 0;
}
