/*
 * core/harden.h — what CONFIG_HK_HARDENED adds on the block level: encoded
 * free-list links (word 0 of a free block) and the canary after a slab
 * block. Both fold away when the option is off (plain loads and stores).
 * Invariant: every read or write of a free block's link goes through
 * hk_next_get / hk_next_set, so the encoding is the same everywhere.
 */
#ifndef HK_CORE_HARDEN_H
#define HK_CORE_HARDEN_H

#include <string.h>

#include "core/base.h"
#include "core/region.h"

/*
 * A link is stored as next ^ secret (hardened: also ^ the slot's address
 * >> 12, so a leaked link does not give the secret away). A write into a
 * freed block's word 0 (a use after free) decodes to a wild pointer:
 * every decode checks that the link is NULL or a 16-byte aligned address
 * below the region's used mark, and aborts naming the block otherwise,
 * instead of handing the wild pointer out (issue 12 bug 7; glibc's
 * safe-linking does the same since 2.32). Cost on the malloc fast path
 * (callgrind): 18 -> 23 instructions; on free's push: +1 (the xor).
 */
static inline uintptr_t hk_link_key_with(const void *slot, uintptr_t secret)
{
	return secret ^ (CONFIG_HK_HARDENED ? (uintptr_t)slot >> 12 : 0);
}

static inline uintptr_t hk_link_key(const void *slot)
{
	return hk_link_key_with(slot, hk_secret);
}

/* The _with forms take the secret (and the region's base) from the caller:
 * a loop that also stores into blocks keeps them in registers, where GCC
 * would reload the globals after every store (it cannot rule out that a
 * block aliases them). */
static inline void hk_next_set_with(void *slot, void *next, uintptr_t secret)
{
	*(uintptr_t *)slot = (uintptr_t)next ^ hk_link_key_with(slot, secret);
}

static inline void hk_next_set(void *slot, void *next)
{
	hk_next_set_with(slot, next, hk_secret);
}

/* call: the API call to name if the link is corrupted (a constant on the
 * fast paths, hk_slow_call below them): the abort is on a cold branch. */
static inline void *hk_next_get_with(const void *slot, uintptr_t secret, uintptr_t base,
				     const char *call)
{
	uintptr_t v = *(const uintptr_t *)slot ^ hk_link_key_with(slot, secret);
	/* Opaque to GCC, which would otherwise keep both xor operands alive to
	 * test v == 0 as stored == key (two more instructions). */
	__asm__("" : "+r"(v));
	uintptr_t off = v - base;
	/* Rotated, a misaligned offset is huge: one compare with the used
	 * mark in 16-byte slots (kept shifted) for both. */
	uintptr_t rot = off >> 4 | off << 60;
	/* asm goto: GCC would test v first and branch twice for a non-NULL
	 * link (the common case). A racy read of hk_region_slots only grows. */
	asm goto("cmpq %1, %0\n\tjae %l2" : : "r"(rot), "m"(hk_region_slots) : "cc" : check_null);
	return (void *)v;
check_null:
	if (v)
		hk_fatal(call, "corrupted free list at", slot);
	return NULL;
}

static inline void *hk_next_get(const void *slot, const char *call)
{
	return hk_next_get_with(slot, hk_secret, hk_region_base, call);
}

/*
 * Canary: the last 4 bytes of a slab block hold the requested size
 * (encoded), and the bytes between the request and them hold a pattern,
 * so free() catches even a 1-byte overflow past the request.
 */
#define HK_CANARY ((size_t)(CONFIG_HK_HARDENED ? 4 : 0))

static inline uint8_t hk_canary_byte(void)
{
	return (uint8_t)((hk_secret >> 8) | 1);
}

static inline void hk_canary_set(void *p, size_t n, size_t bsize)
{
	unsigned char *b = p;
	uint32_t v = (uint32_t)n ^ (uint32_t)(hk_secret >> 32) ^ (uint32_t)(uintptr_t)p;
	memset(b + n, hk_canary_byte(), bsize - HK_CANARY - n);
	memcpy(b + bsize - HK_CANARY, &v, sizeof v);
}

/* Returns the request the block was made for; aborts if the canary broke. */
static inline size_t hk_canary_check(const void *p, size_t bsize, const char *call)
{
	const unsigned char *b = p;
	uint32_t v;
	memcpy(&v, b + bsize - HK_CANARY, sizeof v);
	size_t n = v ^ (uint32_t)(hk_secret >> 32) ^ (uint32_t)(uintptr_t)p;
	size_t end = bsize - HK_CANARY, i = n;
	uint64_t word = hk_canary_byte() * 0x0101010101010101ull, w;
	if (n > end)
		hk_fatal(call, "heap overflow past the block", p);
	/* Bytes up to a word boundary, then whole words: blocks are 16-byte
	 * aligned and end is 4 short of a multiple of 16. */
	for (; i < end && (i & 7); i++)
		if (b[i] != (uint8_t)word)
			hk_fatal(call, "heap overflow past the block", p);
	for (; i + 8 <= end; i += 8) {
		memcpy(&w, b + i, 8);
		if (w != word)
			hk_fatal(call, "heap overflow past the block", p);
	}
	for (; i < end; i++)
		if (b[i] != (uint8_t)word)
			hk_fatal(call, "heap overflow past the block", p);
	return n;
}

#endif /* HK_CORE_HARDEN_H */
