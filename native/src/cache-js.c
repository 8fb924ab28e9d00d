/* The JavaScript side of cached reads: bind, unbind, stats (see cache.c for the design). */
#define _GNU_SOURCE
#include "cache-table.h"

#include <stdlib.h>
#include <string.h>

/* ---- JavaScript side ---- */

static int typed_array(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok) return -1;
  return type == want ? 0 : -1;
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

int bc_mark_present(bound_file *f, uint32_t index, uint32_t crc, int verified) {
  if (index >= f->nchunks) return -1;
  _Atomic uint8_t *s = bc_slot_for(f, index);
  if (!s) return -1;
  int state = atomic_load(s) & STATE_MASK;
  if (state != ABSENT && state != FILLING) return 0; /* known already (or found bad) */
  f->crc[index / PAGE_CHUNKS][index % PAGE_CHUNKS] = crc;
  atomic_store(s, (uint8_t)(verified ? VERIFIED : UNVERIFIED));
  return 0;
}

/* bind(fh, basePath, headerLength, chunkSize, size, indexes: Uint32Array, crcs: Uint32Array, verified: Uint8Array) */
napi_value bfs_cache_bind(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) return throw_error(env, "bind: 8 arguments expected");
  double fh, header_len, chunk_size, size;
  char base[4000];
  size_t base_len;
  napi_get_value_double(env, argv[0], &fh);
  if (napi_get_value_string_utf8(env, argv[1], base, sizeof base, &base_len) != napi_ok || base_len >= sizeof base - 1)
    return throw_error(env, "bind: bad base path");
  napi_get_value_double(env, argv[2], &header_len);
  napi_get_value_double(env, argv[3], &chunk_size);
  napi_get_value_double(env, argv[4], &size);
  uint32_t *indexes, *crcs;
  uint8_t *verified;
  size_t n_indexes, n_crcs, n_verified;
  if (typed_array(env, argv[5], napi_uint32_array, (void **)&indexes, &n_indexes) ||
      typed_array(env, argv[6], napi_uint32_array, (void **)&crcs, &n_crcs) ||
      typed_array(env, argv[7], napi_uint8_array, (void **)&verified, &n_verified) || n_crcs != n_indexes ||
      n_verified != n_indexes)
    return throw_error(env, "bind: indexes, crcs and verified must be typed arrays of one length");
  if (!(chunk_size >= 4096 && chunk_size <= MAX_CHUNK_SIZE) || !(size >= 0 && size < 9007199254740992.0) ||
      !(header_len >= 0 && header_len < 65536))
    return throw_error(env, "bind: chunk size, size or header length out of range");
  bound_file *existing = bc_acquire((uint64_t)fh);
  if (existing) {
    /* More chunks of a bound file (filled since): add them; the geometry cannot change. */
    int bad = existing->chunk_size != (uint32_t)chunk_size || existing->size != (uint64_t)size;
    pthread_mutex_lock(&bc_table_lock); /* one binder at a time: page allocation is not concurrent-safe */
    for (size_t i = 0; !bad && i < n_indexes; i++) bad = bc_mark_present(existing, indexes[i], crcs[i], verified[i]) != 0;
    pthread_mutex_unlock(&bc_table_lock);
    bc_release(existing);
    return bad ? throw_error(env, "bind: chunk geometry changed or index out of range") : NULL;
  }
  bound_file *f = calloc(1, sizeof *f);
  if (!f) return throw_error(env, "bind: out of memory");
  f->fh = (uint64_t)fh;
  f->notify_at = UINT64_MAX;
  f->base = strdup(base);
  f->base_len = base_len;
  f->header_len = (uint32_t)header_len;
  f->chunk_size = (uint32_t)chunk_size;
  f->size = (uint64_t)size;
  f->nchunks = (f->size + f->chunk_size - 1) / f->chunk_size;
  f->npages = (f->nchunks + PAGE_CHUNKS - 1) / PAGE_CHUNKS;
  f->state = calloc(f->npages ? f->npages : 1, sizeof *f->state);
  f->crc = calloc(f->npages ? f->npages : 1, sizeof *f->crc);
  int failed = !f->base || !f->state || !f->crc;
  for (size_t i = 0; !failed && i < n_indexes; i++) failed = bc_mark_present(f, indexes[i], crcs[i], verified[i]) != 0;
  if (failed) {
    bc_free_bound(f);
    return throw_error(env, "bind: chunk index out of range or out of memory");
  }
  pthread_mutex_lock(&bc_table_lock);
  f->next = bc_table[f->fh % BUCKETS];
  bc_table[f->fh % BUCKETS] = f;
  pthread_mutex_unlock(&bc_table_lock);
  return NULL;
}

static napi_value uint32_list(napi_env env, bound_file *f, int want_bad) {
  size_t count = 0;
  for (int pass = 0; pass < 2; pass++) {
    uint32_t *out = NULL;
    napi_value buffer, array;
    if (pass == 1) {
      napi_create_arraybuffer(env, count * 4, (void **)&out, &buffer);
      napi_create_typedarray(env, napi_uint32_array, count, buffer, 0, &array);
      count = 0;
    }
    for (uint64_t p = 0; p < f->npages; p++) {
      if (!f->state[p]) continue;
      for (uint32_t i = 0; i < PAGE_CHUNKS; i++) {
        uint8_t s = atomic_load(&f->state[p][i]);
        int match = want_bad ? (s & STATE_MASK) == BAD : (s & TOUCHED) != 0 && (s & STATE_MASK) == VERIFIED;
        if (!match) continue;
        if (out) out[count] = (uint32_t)(p * PAGE_CHUNKS + i);
        count++;
      }
    }
    if (pass == 1) return array;
  }
  return NULL;
}

/* unbind(fh) → { served: Uint32Array, bad: Uint32Array } or undefined if not bound */
napi_value bfs_cache_unbind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  double fh = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_get_value_double(env, argv[0], &fh);
  pthread_mutex_lock(&bc_table_lock);
  bound_file **link = &bc_table[(uint64_t)fh % BUCKETS];
  while (*link && (*link)->fh != (uint64_t)fh) link = &(*link)->next;
  bound_file *f = *link;
  if (f) {
    *link = f->next;
    f->unbound = 1;
    f->refs++; /* hold it while the lists are built */
  }
  pthread_mutex_unlock(&bc_table_lock);
  if (!f) return NULL;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "served", uint32_list(env, f, 0));
  napi_set_named_property(env, result, "bad", uint32_list(env, f, 1));
  bc_release(f);
  return result;
}

static void set_counter(napi_env env, napi_value obj, const char *name, unsigned long long value) {
  napi_value v;
  napi_create_double(env, (double)value, &v);
  napi_set_named_property(env, obj, name, v);
}

napi_value bfs_cache_stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj;
  napi_create_object(env, &obj);
  set_counter(env, obj, "reads", atomic_load(&bc_stat_reads));
  set_counter(env, obj, "bytes", atomic_load(&bc_stat_bytes));
  set_counter(env, obj, "verified", atomic_load(&bc_stat_verified));
  set_counter(env, obj, "bad", atomic_load(&bc_stat_bad));
  set_counter(env, obj, "fallbacks", atomic_load(&bc_stat_fallbacks));
  set_counter(env, obj, "waits", atomic_load(&bc_stat_waits));
  return obj;
}

/* Unbinds everything (session closed). */
void bfs_cache_clear(void) {
  pthread_mutex_lock(&bc_table_lock);
  for (unsigned b = 0; b < BUCKETS; b++) {
    bound_file *f = bc_table[b];
    bc_table[b] = NULL;
    while (f) {
      bound_file *next = f->next;
      f->unbound = 1;
      if (f->refs == 0) bc_free_bound(f);
      f = next;
    }
  }
  pthread_mutex_unlock(&bc_table_lock);
}

