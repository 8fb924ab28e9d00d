/*
 * CRC-32 (the zlib/gzip polynomial, the one chunk files carry) with carry-less multiplication.
 *
 * Why: checksumming every filled chunk and verifying chunks after a restart was the largest
 * single user-space cost of the native read path (crc32_z about 10 % of the daemon's CPU on a
 * cold read). Folding 64 bytes per step with PCLMULQDQ is several times faster than zlib's
 * table-driven loop. The method is the published one for reflected CRCs (fold by four 128-bit
 * lanes, fold to one lane, reduce to 64 then 32 bits with a Barrett step); the constants are the
 * standard ones for this polynomial. CPUs without PCLMULQDQ use zlib, and the unit tests compare
 * the two on every length from 0 to a few KiB and on unaligned buffers.
 */
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

/* x^(4*128+32) mod P, x^(4*128-32) mod P: fold four lanes forward by 64 bytes. */
static const uint64_t k1k2[2] __attribute__((aligned(16))) = {0x0154442bd4, 0x01c6e41596};
/* x^(128+32) mod P, x^(128-32) mod P: fold one lane forward by 16 bytes. */
static const uint64_t k3k4[2] __attribute__((aligned(16))) = {0x01751997d0, 0x00ccaa009e};
/* x^64 mod P: fold 64 bits to 32. */
static const uint64_t k5k0[2] __attribute__((aligned(16))) = {0x0163cd6124, 0x0000000000};
/* The polynomial P' and the Barrett constant mu'. */
static const uint64_t poly[2] __attribute__((aligned(16))) = {0x01db710641, 0x01f7011641};

/* One lane folded forward and combined with the next 16 bytes. */
__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i lane, __m128i k, __m128i next) {
  __m128i lo = _mm_clmulepi64_si128(lane, k, 0x00);
  __m128i hi = _mm_clmulepi64_si128(lane, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* `len` ≥ 64 and a multiple of 16; `crc` is the running CRC before its final inversion. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_fold(uint32_t crc, const unsigned char *buf, size_t len) {
  __m128i x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
  __m128i x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
  __m128i x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
  __m128i x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
  __m128i k = _mm_load_si128((const __m128i *)k1k2);
  buf += 64;
  len -= 64;
  while (len >= 64) {
    x1 = fold(x1, k, _mm_loadu_si128((const __m128i *)(buf + 0x00)));
    x2 = fold(x2, k, _mm_loadu_si128((const __m128i *)(buf + 0x10)));
    x3 = fold(x3, k, _mm_loadu_si128((const __m128i *)(buf + 0x20)));
    x4 = fold(x4, k, _mm_loadu_si128((const __m128i *)(buf + 0x30)));
    buf += 64;
    len -= 64;
  }
  k = _mm_load_si128((const __m128i *)k3k4);
  x1 = fold(x1, k, x2);
  x1 = fold(x1, k, x3);
  x1 = fold(x1, k, x4);
  while (len >= 16) {
    x1 = fold(x1, k, _mm_loadu_si128((const __m128i *)buf));
    buf += 16;
    len -= 16;
  }
  /* 128 → 64 bits. */
  __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i t = _mm_clmulepi64_si128(x1, k, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
  /* 64 → 32 bits. */
  k = _mm_loadl_epi64((const __m128i *)k5k0);
  t = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k, 0x00), t);
  /* Barrett reduction to the 32-bit remainder. */
  k = _mm_load_si128((const __m128i *)poly);
  t = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), k, 0x00);
  x1 = _mm_xor_si128(x1, t);
  return (uint32_t)_mm_extract_epi32(x1, 1);
}

static int have_pclmul(void) {
  static int known = -1;
  if (known < 0) known = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return known;
}
#endif

/* zlib-compatible: bfs_crc32(crc32(0, a), b) == crc32(crc32(0, a), b). */
uint32_t bfs_crc32(uint32_t crc, const unsigned char *buf, size_t len) {
#if defined(__x86_64__)
  if (len >= 64 && have_pclmul()) {
    size_t folded = len & ~(size_t)15;
    crc = ~crc32_fold(~crc, buf, folded);
    buf += folded;
    len -= folded;
  }
#endif
  return len ? (uint32_t)crc32(crc, buf, (uInt)len) : crc;
}
