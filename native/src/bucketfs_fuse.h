/* Shared declarations of the bucketfs libfuse3 binding (see session.c for the overview). */
#ifndef BUCKETFS_FUSE_H
#define BUCKETFS_FUSE_H

#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* Largest READ/WRITE: 256 pages, what libfuse 3.14 and this kernel allow. */
#define BFS_MAX_IO (1024 * 1024)

/* A READ answer meaning "the range is in the disk cache now: serve it from there". */
#define BFS_RETRY_CACHED 0x7ffffff0

/* Operation codes; the order matches OP_NAMES in src/fuse/native-binding.ts. */
enum bfs_op {
  BFS_OP_GETATTR, BFS_OP_READDIR, BFS_OP_OPEN, BFS_OP_CREATE, BFS_OP_READ, BFS_OP_WRITE,
  BFS_OP_FLUSH, BFS_OP_RELEASE, BFS_OP_FSYNC, BFS_OP_TRUNCATE, BFS_OP_UNLINK, BFS_OP_RMDIR,
  BFS_OP_MKDIR, BFS_OP_MKNOD, BFS_OP_RENAME, BFS_OP_SYMLINK, BFS_OP_LINK, BFS_OP_READLINK,
  BFS_OP_CHMOD, BFS_OP_CHOWN, BFS_OP_UTIMENS, BFS_OP_STATFS, BFS_OP_GETXATTR, BFS_OP_LISTXATTR,
  BFS_OP_FALLOCATE,
  BFS_OP_COUNT
};

/* listing.c: a directory's entries, kept per open directory handle */
typedef struct bfs_listing bfs_listing;
bfs_listing *bfs_listing_new(void);
void bfs_listing_free(bfs_listing *l);
int bfs_listing_reset(bfs_listing *l, size_t count);
int bfs_listing_add(bfs_listing *l, const char *name, const struct stat *st);
int bfs_listing_loaded(const bfs_listing *l);
void bfs_listing_fill(const bfs_listing *l, void *buf, fuse_fill_dir_t filler, off_t offset, int plus);

/* One operation waiting for JavaScript. Lives on the FUSE worker's stack. */
typedef struct bfs_request {
  enum bfs_op op;
  const char *path;
  const char *path2; /* rename target, symlink/link source */
  const char *name;  /* xattr name */
  uint64_t fh;
  int has_fh;
  int flags;
  mode_t mode;
  dev_t rdev;
  uid_t uid;
  gid_t gid;
  off_t offset;
  size_t size;
  char *data; /* read destination, write source, readlink/xattr output */
  struct timespec times[2];
  struct stat *st;
  struct statvfs *stv;
  bfs_listing *listing; /* READDIR: filled by JavaScript's answer */
  int readdir_plus;
  int must_bytes; /* READ: JavaScript must answer with bytes, not "retry from the cache" */
  /* the caller, from fuse_get_context() */
  uid_t caller_uid;
  gid_t caller_gid;
  pid_t caller_pid;
  mode_t caller_umask;
  /* slot in the reply table, and its generation when taken */
  int slot;
  uint32_t gen;
  /* results */
  int result;
  uint64_t out_fh;
  int out_cache; /* open/create: BFS_CACHE_* */
  /* completion */
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  int done;
} bfs_request;

/*
 * What an open may do with the kernel's page cache (src/vfs/page-cache.ts decides):
 * KEEP its pages (same version as before), start FRESH (drop them), or BYPASS it (direct I/O,
 * because another open reads a different version through it).
 */
enum { BFS_CACHE_KEEP = 0, BFS_CACHE_FRESH = 1, BFS_CACHE_BYPASS = 2 };

typedef struct bfs_session {
  struct fuse *fuse;
  pthread_t loop_thread;
  int loop_running;
  int loop_result;
  napi_threadsafe_function tsfn;     /* operations → JavaScript */
  napi_threadsafe_function exit_tsfn; /* loop ended (unmounted) → JavaScript */
  unsigned max_threads;
  int closed;
} bfs_session;

bfs_session *bfs_current_session(void);
void bfs_fill_operations(struct fuse_operations *ops, int with_xattrs);

/* dispatch.c */
int bfs_dispatch(bfs_session *s, bfs_request *req);
void bfs_call_js(napi_env env, napi_value js_cb, void *context, void *data);
napi_value bfs_reply(napi_env env, napi_callback_info info);
void bfs_fail_all_pending(int err);

/* cache.c: reads answered from chunk files without JavaScript */
ssize_t bfs_cache_serve(uint64_t fh, char *dest, size_t size, off_t off);
napi_value bfs_cache_bind(napi_env env, napi_callback_info info);
napi_value bfs_cache_unbind(napi_env env, napi_callback_info info);
napi_value bfs_cache_stats(napi_env env, napi_callback_info info);
void bfs_cache_clear(void);
/* A native transfer's chunk: 0 started, 1 done (crc valid), 2 failed. */
void bfs_cache_fill_event(const char *chunk_path, int event, uint32_t crc);
napi_value bfs_cache_on_progress(napi_env env, napi_callback_info info);
napi_value bfs_cache_notify_at(napi_env env, napi_callback_info info);

/* crc32.c: zlib's CRC-32, folded with PCLMULQDQ where the CPU has it */
uint32_t bfs_crc32(uint32_t crc, const unsigned char *buf, size_t len);
napi_value bfs_crc32_js(napi_env env, napi_callback_info info);

/* fetch.c: ranged GETs written straight into chunk files */
napi_value bfs_fill(napi_env env, napi_callback_info info);

/* head.c: HEADs sent from native threads (readdir attributes) */
napi_value bfs_head(napi_env env, napi_callback_info info);

#endif
