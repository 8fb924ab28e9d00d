/* Internal to the cached-read code (cache.c, cache-js.c, cache-fill.c): the table of bound files. */
#ifndef BUCKETFS_CACHE_TABLE_H
#define BUCKETFS_CACHE_TABLE_H

#include "bucketfs_fuse.h"

#include <stdatomic.h>

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
  int refs;                /* workers reading right now (under bc_table_lock) */
  uint64_t notify_at;      /* tell JavaScript when a served READ reaches this offset (read-ahead) */
  int unbound;             /* removed from the table; the last reader frees it */
  struct bound_file *next;
} bound_file;

extern bound_file *bc_table[BUCKETS];
extern pthread_mutex_t bc_table_lock;
/* Signalled (under bc_table_lock) whenever a FILLING chunk becomes present or absent. */
extern pthread_cond_t bc_fill_changed;
extern napi_threadsafe_function bc_progress_tsfn;
extern atomic_ullong bc_stat_reads, bc_stat_bytes, bc_stat_verified, bc_stat_bad, bc_stat_fallbacks, bc_stat_waits;

void bc_free_bound(bound_file *f);
bound_file *bc_acquire(uint64_t fh);
void bc_release(bound_file *f);
_Atomic uint8_t *bc_state_of(bound_file *f, uint64_t index);
int bc_state_now(bound_file *f, uint64_t index);
int bc_mark_present(bound_file *f, uint32_t index, uint32_t crc, int verified);
_Atomic uint8_t *bc_slot_for(bound_file *f, uint64_t index);

#endif
