/*
 * Reads answered from the disk cache's chunk files on the FUSE worker thread, without JavaScript.
 *
 * When a file is opened for reading, JavaScript binds its handle to the chunks of that object
 * version that are in the cache: the chunk files' common path prefix (`<dir>/chunks/ab/<id>.`,
 * the chunk index is appended), the header length before the data, the chunk size, and each
 * present chunk's CRC32. A READ whose chunks are all present is served here; any other READ
 * returns -1 and goes to JavaScript, which fetches, caches and keeps its prefetcher in charge.
 *
 * Safety:
 * - A chunk file is opened per read and closed when the read is done. Eviction unlinks the
 *   file; a worker that already opened it keeps reading valid bytes (POSIX unlink semantics),
 *   and one that had not gets ENOENT and falls back to JavaScript. Chunk file names are derived
 *   from (store, key, ETag, index) and files are renamed into place whole, so a name never
 *   refers to other bytes.
 * - A chunk not yet verified in this process has its data CRC32 checked once, here; then it is
 *   trusted while the handle is bound. A mismatch marks it bad, JavaScript is told on unbind and
 *   drops the file, and the read falls back to JavaScript.
 * - Sizes come from JavaScript but are bounded: chunk size ≤ 64 MiB, chunk indexes < count.
 */
#define _GNU_SOURCE
#include "bucketfs_fuse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define PAGE_CHUNKS 4096u
#define MAX_CHUNK_SIZE (64u * 1024 * 1024)
#define BUCKETS 256u

/* FILLING: a native transfer is writing the chunk; a READ that needs it waits for it here. */
enum { ABSENT = 0, UNVERIFIED = 1, VERIFIED = 2, BAD = 3, FILLING = 4, STATE_MASK = 7, TOUCHED = 0x80 };

/* A READ waits this long for a chunk being filled before JavaScript takes it over. */
#define FILL_WAIT_SECONDS 60

typedef struct bound_file {
  uint64_t fh;
  char *base;
  size_t base_len;
  uint32_t header_len;
  uint32_t chunk_size;
  uint64_t size;
  uint64_t nchunks;
  uint64_t npages;
  _Atomic uint8_t **state; /* per page: one byte per chunk */
  uint32_t **crc;          /* per page: expected CRC32 of each chunk's data */
  int refs;                /* workers reading right now (under table_lock) */
  uint64_t notify_at;      /* tell JavaScript when a served READ reaches this offset (read-ahead) */
  int unbound;             /* removed from the table; the last reader frees it */
  struct bound_file *next;
} bound_file;

static bound_file *table[BUCKETS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
/* Signalled (under table_lock) whenever a FILLING chunk becomes present or absent. */
static pthread_cond_t fill_changed = PTHREAD_COND_INITIALIZER;
static napi_threadsafe_function progress_tsfn;
static atomic_ullong stat_reads, stat_bytes, stat_verified, stat_bad, stat_fallbacks, stat_waits;

static void free_bound(bound_file *f) {
  for (uint64_t p = 0; p < f->npages; p++) {
    free((void *)f->state[p]);
    free(f->crc[p]);
  }
  free(f->state);
  free(f->crc);
  free(f->base);
  free(f);
}

static bound_file *acquire(uint64_t fh) {
  pthread_mutex_lock(&table_lock);
  bound_file *f = table[fh % BUCKETS];
  while (f && f->fh != fh) f = f->next;
  if (f) f->refs++;
  pthread_mutex_unlock(&table_lock);
  return f;
}

static void release(bound_file *f) {
  pthread_mutex_lock(&table_lock);
  int free_it = --f->refs == 0 && f->unbound;
  pthread_mutex_unlock(&table_lock);
  if (free_it) free_bound(f);
}

/* Pages are added while workers read (bind of more chunks): their pointers are published atomically. */
static _Atomic uint8_t *state_of(bound_file *f, uint64_t index) {
  _Atomic uint8_t *page = __atomic_load_n(&f->state[index / PAGE_CHUNKS], __ATOMIC_ACQUIRE);
  return page ? &page[index % PAGE_CHUNKS] : NULL;
}

static int state_now(bound_file *f, uint64_t index) {
  _Atomic uint8_t *s = state_of(f, index);
  return s ? atomic_load(s) & STATE_MASK : ABSENT;
}

/* Whether the chunk is (or, after waiting for its transfer, became) present. */
static int present(bound_file *f, uint64_t index) {
  int state = state_now(f, index);
  if (state == FILLING) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += FILL_WAIT_SECONDS;
    pthread_mutex_lock(&table_lock);
    while ((state = state_now(f, index)) == FILLING)
      if (pthread_cond_timedwait(&fill_changed, &table_lock, &deadline) != 0) break;
    pthread_mutex_unlock(&table_lock);
    atomic_fetch_add(&stat_waits, 1);
  }
  return state == UNVERIFIED || state == VERIFIED;
}

static int open_chunk(bound_file *f, uint64_t index) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s%llu", f->base, (unsigned long long)index);
  if (n < 0 || (size_t)n >= sizeof path) return -1;
  return open(path, O_RDONLY | O_CLOEXEC);
}

static int read_fully(int fd, char *dest, size_t length, off_t at) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = pread(fd, dest + done, length - done, at + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    done += (size_t)n;
  }
  return 0;
}

/* Reads and checks a whole chunk the first time it is used; copies [from, from+length) out. */
static int verify_and_copy(bound_file *f, uint64_t index, int fd, char *dest, size_t from, size_t length) {
  uint64_t chunk_len = f->size - index * f->chunk_size;
  if (chunk_len > f->chunk_size) chunk_len = f->chunk_size;
  char *whole = malloc(chunk_len);
  if (!whole) return -1;
  struct stat st;
  int ok = fstat(fd, &st) == 0 && (uint64_t)st.st_size == f->header_len + chunk_len &&
           read_fully(fd, whole, chunk_len, f->header_len) == 0 &&
           bfs_crc32(0, (const unsigned char *)whole, chunk_len) == f->crc[index / PAGE_CHUNKS][index % PAGE_CHUNKS];
  _Atomic uint8_t *s = state_of(f, index);
  if (ok) {
    memcpy(dest, whole + from, length);
    atomic_store(s, (uint8_t)((atomic_load(s) & TOUCHED) | VERIFIED));
    atomic_fetch_add(&stat_verified, 1);
  } else {
    atomic_store(s, (uint8_t)((atomic_load(s) & TOUCHED) | BAD));
    atomic_fetch_add(&stat_bad, 1);
  }
  free(whole);
  return ok ? 0 : -1;
}

static int copy_chunk(bound_file *f, uint64_t index, char *dest, size_t from, size_t length) {
  int fd = open_chunk(f, index);
  if (fd < 0) return -1;
  _Atomic uint8_t *s = state_of(f, index);
  int res;
  if ((atomic_load(s) & STATE_MASK) == VERIFIED) res = read_fully(fd, dest, length, (off_t)(f->header_len + from));
  else res = verify_and_copy(f, index, fd, dest, from, length);
  close(fd);
  if (res == 0) atomic_fetch_or(s, TOUCHED);
  return res;
}

/* A served READ reached the point where JavaScript wants to extend its read-ahead: tell it once. */
static void maybe_notify(bound_file *f, uint64_t end) {
  pthread_mutex_lock(&table_lock);
  int due = end >= f->notify_at;
  if (due) f->notify_at = UINT64_MAX;
  pthread_mutex_unlock(&table_lock);
  if (!due || !progress_tsfn) return;
  uint64_t *event = malloc(2 * sizeof(uint64_t));
  if (!event) return;
  event[0] = f->fh;
  event[1] = end;
  if (napi_call_threadsafe_function(progress_tsfn, event, napi_tsfn_nonblocking) != napi_ok) free(event);
}

/* The bytes of [off, off+size) from cached chunks, or -1 if any chunk is not available here. */
ssize_t bfs_cache_serve(uint64_t fh, char *dest, size_t size, off_t off) {
  bound_file *f = acquire(fh);
  if (!f) return -1;
  ssize_t result = -1;
  uint64_t start = (uint64_t)off, end = start + size;
  if (end > f->size) end = f->size;
  if (start >= end) {
    result = 0;
    goto done;
  }
  uint64_t first = start / f->chunk_size, last = (end - 1) / f->chunk_size;
  for (uint64_t i = first; i <= last; i++)
    if (!present(f, i)) goto fallback;
  for (uint64_t i = first; i <= last; i++) {
    uint64_t chunk_start = i * f->chunk_size;
    uint64_t from = start > chunk_start ? start - chunk_start : 0;
    uint64_t to = end - chunk_start < f->chunk_size ? end - chunk_start : f->chunk_size;
    if (copy_chunk(f, i, dest + (chunk_start + from - start), (size_t)from, (size_t)(to - from)) != 0) goto fallback;
  }
  result = (ssize_t)(end - start);
  atomic_fetch_add(&stat_reads, 1);
  maybe_notify(f, end);
  atomic_fetch_add(&stat_bytes, (unsigned long long)result);
  goto done;
fallback:
  atomic_fetch_add(&stat_fallbacks, 1);
done:
  release(f);
  return result;
}

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

static int mark_present(bound_file *f, uint32_t index, uint32_t crc, int verified) {
  if (index >= f->nchunks) return -1;
  uint64_t p = index / PAGE_CHUNKS;
  if (!f->state[p]) {
    uint32_t *crcs = calloc(PAGE_CHUNKS, sizeof(uint32_t));
    _Atomic uint8_t *states = calloc(PAGE_CHUNKS, 1);
    if (!crcs || !states) {
      free(crcs);
      free((void *)states);
      return -1;
    }
    f->crc[p] = crcs;
    __atomic_store_n(&f->state[p], states, __ATOMIC_RELEASE);
  }
  _Atomic uint8_t *s = &f->state[p][index % PAGE_CHUNKS];
  int state = atomic_load(s) & STATE_MASK;
  if (state != ABSENT && state != FILLING) return 0; /* known already (or found bad) */
  f->crc[p][index % PAGE_CHUNKS] = crc;
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
  bound_file *existing = acquire((uint64_t)fh);
  if (existing) {
    /* More chunks of a bound file (filled since): add them; the geometry cannot change. */
    int bad = existing->chunk_size != (uint32_t)chunk_size || existing->size != (uint64_t)size;
    pthread_mutex_lock(&table_lock); /* one binder at a time: page allocation is not concurrent-safe */
    for (size_t i = 0; !bad && i < n_indexes; i++) bad = mark_present(existing, indexes[i], crcs[i], verified[i]) != 0;
    pthread_mutex_unlock(&table_lock);
    release(existing);
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
  for (size_t i = 0; !failed && i < n_indexes; i++) failed = mark_present(f, indexes[i], crcs[i], verified[i]) != 0;
  if (failed) {
    free_bound(f);
    return throw_error(env, "bind: chunk index out of range or out of memory");
  }
  pthread_mutex_lock(&table_lock);
  f->next = table[f->fh % BUCKETS];
  table[f->fh % BUCKETS] = f;
  pthread_mutex_unlock(&table_lock);
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
  pthread_mutex_lock(&table_lock);
  bound_file **link = &table[(uint64_t)fh % BUCKETS];
  while (*link && (*link)->fh != (uint64_t)fh) link = &(*link)->next;
  bound_file *f = *link;
  if (f) {
    *link = f->next;
    f->unbound = 1;
    f->refs++; /* hold it while the lists are built */
  }
  pthread_mutex_unlock(&table_lock);
  if (!f) return NULL;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "served", uint32_list(env, f, 0));
  napi_set_named_property(env, result, "bad", uint32_list(env, f, 1));
  release(f);
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
  set_counter(env, obj, "reads", atomic_load(&stat_reads));
  set_counter(env, obj, "bytes", atomic_load(&stat_bytes));
  set_counter(env, obj, "verified", atomic_load(&stat_verified));
  set_counter(env, obj, "bad", atomic_load(&stat_bad));
  set_counter(env, obj, "fallbacks", atomic_load(&stat_fallbacks));
  set_counter(env, obj, "waits", atomic_load(&stat_waits));
  return obj;
}

/* Unbinds everything (session closed). */
void bfs_cache_clear(void) {
  pthread_mutex_lock(&table_lock);
  for (unsigned b = 0; b < BUCKETS; b++) {
    bound_file *f = table[b];
    table[b] = NULL;
    while (f) {
      bound_file *next = f->next;
      f->unbound = 1;
      if (f->refs == 0) free_bound(f);
      f = next;
    }
  }
  pthread_mutex_unlock(&table_lock);
}

/* ---- transfers in flight (fetch.c) and read-ahead progress ---- */

/* The chunk's state slot, its page allocated if needed (binder side, under table_lock). */
static _Atomic uint8_t *slot_for(bound_file *f, uint64_t index) {
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
  pthread_mutex_lock(&table_lock);
  for (unsigned b = 0; b < BUCKETS; b++)
    for (bound_file *f = table[b]; f; f = f->next) {
      if (f->base_len != base_len || memcmp(f->base, base, base_len) != 0 || index >= f->nchunks) continue;
      _Atomic uint8_t *s = slot_for(f, index);
      if (!s) continue;
      uint8_t old = atomic_load(s), state = old & STATE_MASK, touched = old & TOUCHED;
      if (event == FILL_STARTED && state == ABSENT) atomic_store(s, (uint8_t)(touched | FILLING));
      if (event == FILL_DONE && (state == FILLING || state == ABSENT)) {
        f->crc[index / PAGE_CHUNKS][index % PAGE_CHUNKS] = crc;
        atomic_store(s, (uint8_t)(touched | VERIFIED));
      }
      if (event == FILL_FAILED && (state == FILLING || state == VERIFIED)) atomic_store(s, (uint8_t)(touched | ABSENT));
    }
  pthread_cond_broadcast(&fill_changed);
  pthread_mutex_unlock(&table_lock);
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
  if (argc < 1 || progress_tsfn) return NULL;
  napi_create_string_utf8(env, "bucketfs-progress", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_progress, &progress_tsfn) == napi_ok)
    napi_unref_threadsafe_function(env, progress_tsfn);
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
  pthread_mutex_lock(&table_lock);
  bound_file *f = table[(uint64_t)fh % BUCKETS];
  while (f && f->fh != (uint64_t)fh) f = f->next;
  if (f) f->notify_at = offset >= 0 ? (uint64_t)offset : UINT64_MAX;
  pthread_mutex_unlock(&table_lock);
  return NULL;
}
