/* core/version.c — placeholder until the allocator lands. */
#include "hakmem.h"
HK_API const char *hk_version(void) { return HAKMEM_VERSION; }
