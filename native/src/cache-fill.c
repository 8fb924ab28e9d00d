/* Transfers in flight and read-ahead progress, between fetch.c, cache.c and JavaScript. */
#define _GNU_SOURCE
#include "cache-table.h"

#include <stdlib.h>
#include <string.h>

/* ---- transfers in flight (fetch.c) and read-ahead progress ---- */

/* The chunk's state slot, its page allocated if needed (binder side, under bc_table_lock). */
_Atomic uint8_t *bc_slot_for(bound_file *f, uint64_t index) {
  uint64_t p = index / PAGE_CHUNKS;
  if (!f->state[p]) {
    uint32_t *crcs = calloc(PAGE_CHUNKS, sizeof(uint32_t));
    _Atomic uint8_t *states = calloc(PAGE_CHUNKS, 1);
    if (!crcs || !states) {
      free(crcs);
      free((void *)states);
      return NULL;
    }
    f->crc[p] = crcs;
    __atomic_store_n(&f->state[p], states, __ATOMIC_RELEASE);
  }
  return &f->state[p][index % PAGE_CHUNKS];
}

enum fill_event { FILL_STARTED, FILL_DONE, FILL_FAILED };

/*
 * A transfer's chunk changed, for every bound file of the version whose chunk files start with
 * `base`: started (ABSENT → FILLING), done (FILLING/ABSENT → VERIFIED, with its CRC) or failed
 * (FILLING, or VERIFIED by this transfer and now removed → ABSENT). Waiting READs are woken.
 */
static void fill_changed_for(const char *base, size_t base_len, uint64_t index, enum fill_event event, uint32_t crc) {
  pthread_mutex_lock(&bc_table_lock);
  for (unsigned b = 0; b < BUCKETS; b++)
    for (bound_file *f = bc_table[b]; f; f = f->next) {
      if (f->base_len != base_len || memcmp(f->base, base, base_len) != 0 || index >= f->nchunks) continue;
      _Atomic uint8_t *s = bc_slot_for(f, index);
      if (!s) continue;
      uint8_t old = atomic_load(s), state = old & STATE_MASK, touched = old & TOUCHED;
      if (event == FILL_STARTED && state == ABSENT) atomic_store(s, (uint8_t)(touched | FILLING));
      if (event == FILL_DONE && (state == FILLING || state == ABSENT)) {
        f->crc[index / PAGE_CHUNKS][index % PAGE_CHUNKS] = crc;
        atomic_store(s, (uint8_t)(touched | VERIFIED));
      }
      if (event == FILL_FAILED && (state == FILLING || state == VERIFIED)) atomic_store(s, (uint8_t)(touched | ABSENT));
    }
  pthread_cond_broadcast(&bc_fill_changed);
  pthread_mutex_unlock(&bc_table_lock);
}

/* Splits a chunk file path "<base><index>" (base ends with '.'). */
static int split_chunk_path(const char *path, size_t *base_len, uint64_t *index) {
  const char *dot = strrchr(path, '.');
  if (!dot || !dot[1]) return -1;
  char *end;
  unsigned long long value = strtoull(dot + 1, &end, 10);
  if (*end) return -1;
  *base_len = (size_t)(dot + 1 - path);
  *index = value;
  return 0;
}

void bfs_cache_fill_event(const char *chunk_path, int event, uint32_t crc) {
  size_t base_len;
  uint64_t index;
  if (split_chunk_path(chunk_path, &base_len, &index) == 0) fill_changed_for(chunk_path, base_len, index, (enum fill_event)event, crc);
}

static void call_progress(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  uint64_t *event = data;
  if (env && js_cb) {
    napi_value undefined, argv[2];
    napi_get_undefined(env, &undefined);
    napi_create_double(env, (double)event[0], &argv[0]);
    napi_create_double(env, (double)event[1], &argv[1]);
    napi_call_function(env, undefined, js_cb, 2, argv, NULL);
  }
  free(event);
}

/* onProgress(callback(fh, offset)): called when a native READ reaches a handle's notify point. */
napi_value bfs_cache_on_progress(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || bc_progress_tsfn) return NULL;
  napi_create_string_utf8(env, "bucketfs-progress", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_progress, &bc_progress_tsfn) == napi_ok)
    napi_unref_threadsafe_function(env, bc_progress_tsfn);
  return NULL;
}

/* notifyAt(fh, offset): the next READ served natively that reaches `offset` is reported. */
napi_value bfs_cache_notify_at(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  double fh = -1, offset = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 2) {
    napi_get_value_double(env, argv[0], &fh);
    napi_get_value_double(env, argv[1], &offset);
  }
  pthread_mutex_lock(&bc_table_lock);
  bound_file *f = bc_table[(uint64_t)fh % BUCKETS];
  while (f && f->fh != (uint64_t)fh) f = f->next;
  if (f) f->notify_at = offset >= 0 ? (uint64_t)offset : UINT64_MAX;
  pthread_mutex_unlock(&bc_table_lock);
  return NULL;
}

