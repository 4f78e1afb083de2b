/*
 * core/validate.h — debug validators of the heap's invariants (core/types.h):
 * descriptors, spans, slabs, free-span and partial lists, the caller's bins.
 * For tests, the fuzzer and the full-assertion build; never on a fast path.
 * Invariant: validating changes nothing (it takes and drops the locks).
 */
#ifndef HK_CORE_VALIDATE_H
#define HK_CORE_VALIDATE_H

#include "core/types.h"

/* Checks every live arena and the calling thread's lane; a broken
 * invariant is fatal: "hakmem: validate(): <what> <address>". Takes the
 * purge, class and arena locks (in the lock order): call it with none held. */
void hk_validate_heap(void);

#endif /* HK_CORE_VALIDATE_H */
