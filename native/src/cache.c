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
#include "cache-table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

bound_file *bc_table[BUCKETS];
pthread_mutex_t bc_table_lock = PTHREAD_MUTEX_INITIALIZER;
/* Signalled (under bc_table_lock) whenever a FILLING chunk becomes present or absent. */
pthread_cond_t bc_fill_changed = PTHREAD_COND_INITIALIZER;
napi_threadsafe_function bc_progress_tsfn;
atomic_ullong bc_stat_reads, bc_stat_bytes, bc_stat_verified, bc_stat_bad, bc_stat_fallbacks, bc_stat_waits;

void bc_free_bound(bound_file *f) {
  for (uint64_t p = 0; p < f->npages; p++) {
    free((void *)f->state[p]);
    free(f->crc[p]);
  }
  free(f->state);
  free(f->crc);
  free(f->base);
  free(f);
}

bound_file *bc_acquire(uint64_t fh) {
  pthread_mutex_lock(&bc_table_lock);
  bound_file *f = bc_table[fh % BUCKETS];
  while (f && f->fh != fh) f = f->next;
  if (f) f->refs++;
  pthread_mutex_unlock(&bc_table_lock);
  return f;
}

void bc_release(bound_file *f) {
  pthread_mutex_lock(&bc_table_lock);
  int free_it = --f->refs == 0 && f->unbound;
  pthread_mutex_unlock(&bc_table_lock);
  if (free_it) bc_free_bound(f);
}

/* Pages are added while workers read (bind of more chunks): their pointers are published atomically. */
_Atomic uint8_t *bc_state_of(bound_file *f, uint64_t index) {
  _Atomic uint8_t *page = __atomic_load_n(&f->state[index / PAGE_CHUNKS], __ATOMIC_ACQUIRE);
  return page ? &page[index % PAGE_CHUNKS] : NULL;
}

int bc_state_now(bound_file *f, uint64_t index) {
  _Atomic uint8_t *s = bc_state_of(f, index);
  return s ? atomic_load(s) & STATE_MASK : ABSENT;
}

/* Whether the chunk is (or, after waiting for its transfer, became) present. */
static int bc_present(bound_file *f, uint64_t index) {
  int state = bc_state_now(f, index);
  if (state == FILLING) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += FILL_WAIT_SECONDS;
    pthread_mutex_lock(&bc_table_lock);
    while ((state = bc_state_now(f, index)) == FILLING)
      if (pthread_cond_timedwait(&bc_fill_changed, &bc_table_lock, &deadline) != 0) break;
    pthread_mutex_unlock(&bc_table_lock);
    atomic_fetch_add(&bc_stat_waits, 1);
  }
  return state == UNVERIFIED || state == VERIFIED;
}

static int bc_open_chunk(bound_file *f, uint64_t index) {
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
  _Atomic uint8_t *s = bc_state_of(f, index);
  if (ok) {
    memcpy(dest, whole + from, length);
    atomic_store(s, (uint8_t)((atomic_load(s) & TOUCHED) | VERIFIED));
    atomic_fetch_add(&bc_stat_verified, 1);
  } else {
    /* Two READs in one chunk (1 MiB requests, 2 MiB chunks) can verify it at once on two FUSE
     * threads: count the chunk once, on its transition to BAD. */
    uint8_t old = atomic_load(s);
    while (!atomic_compare_exchange_weak(s, &old, (uint8_t)((old & TOUCHED) | BAD))) {}
    if ((old & STATE_MASK) != BAD) atomic_fetch_add(&bc_stat_bad, 1);
  }
  free(whole);
  return ok ? 0 : -1;
}

static int copy_chunk(bound_file *f, uint64_t index, char *dest, size_t from, size_t length) {
  int fd = bc_open_chunk(f, index);
  if (fd < 0) return -1;
  _Atomic uint8_t *s = bc_state_of(f, index);
  int res;
  if ((atomic_load(s) & STATE_MASK) == VERIFIED) res = read_fully(fd, dest, length, (off_t)(f->header_len + from));
  else res = verify_and_copy(f, index, fd, dest, from, length);
  close(fd);
  if (res == 0) atomic_fetch_or(s, TOUCHED);
  return res;
}

/* A served READ reached the point where JavaScript wants to extend its read-ahead: tell it once. */
static void bc_maybe_notify(bound_file *f, uint64_t end) {
  pthread_mutex_lock(&bc_table_lock);
  int due = end >= f->notify_at;
  if (due) f->notify_at = UINT64_MAX;
  pthread_mutex_unlock(&bc_table_lock);
  if (!due || !bc_progress_tsfn) return;
  uint64_t *event = malloc(2 * sizeof(uint64_t));
  if (!event) return;
  event[0] = f->fh;
  event[1] = end;
  if (napi_call_threadsafe_function(bc_progress_tsfn, event, napi_tsfn_nonblocking) != napi_ok) free(event);
}

/* The bytes of [off, off+size) from cached chunks, or -1 if any chunk is not available here. */
ssize_t bfs_cache_serve(uint64_t fh, char *dest, size_t size, off_t off) {
  bound_file *f = bc_acquire(fh);
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
    if (!bc_present(f, i)) goto fallback;
  for (uint64_t i = first; i <= last; i++) {
    uint64_t chunk_start = i * f->chunk_size;
    uint64_t from = start > chunk_start ? start - chunk_start : 0;
    uint64_t to = end - chunk_start < f->chunk_size ? end - chunk_start : f->chunk_size;
    if (copy_chunk(f, i, dest + (chunk_start + from - start), (size_t)from, (size_t)(to - from)) != 0) goto fallback;
  }
  result = (ssize_t)(end - start);
  atomic_fetch_add(&bc_stat_reads, 1);
  bc_maybe_notify(f, end);
  atomic_fetch_add(&bc_stat_bytes, (unsigned long long)result);
  goto done;
fallback:
  atomic_fetch_add(&bc_stat_fallbacks, 1);
done:
  bc_release(f);
  return result;
}

