/*
 * bucketfs_fuse: a small N-API binding of libfuse3's high-level (path-based) API.
 *
 * Why our own binding: fuse-native binds libfuse 2, which caps requests at 128 KiB, hides the
 * caller (uid/gid/pid) and turns path bytes into UTF-8 strings. This one asks the kernel for
 * 1 MiB requests, passes the caller and raw path bytes, and can answer reads of cached chunks
 * on the FUSE worker thread without entering JavaScript (cache.c).
 *
 * Threading: libfuse's multi-threaded loop runs on its own threads. Each operation that needs
 * JavaScript parks its worker on a condition variable and posts the request to the event loop
 * through a thread-safe function; JavaScript answers with `reply(slot, generation, ...)`.
 * Requests live on the worker's stack; the slot table (dispatch.c) makes a late or second reply
 * harmless instead of a write into a dead stack frame.
 */
#define _GNU_SOURCE
#include "bucketfs_fuse.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static bfs_session g_session;

bfs_session *bfs_current_session(void) { return &g_session; }

/* Fills the request's caller from libfuse's context (valid only during the operation). */
static void take_caller(bfs_request *req) {
  struct fuse_context *ctx = fuse_get_context();
  req->caller_uid = ctx ? ctx->uid : 0;
  req->caller_gid = ctx ? ctx->gid : 0;
  req->caller_pid = ctx ? ctx->pid : 0;
  req->caller_umask = ctx ? ctx->umask : 0;
}

/* Names libfuse's worker threads once, so `top -H` and per-thread CPU show what they are. */
static void name_worker(void) {
  static __thread int named;
  if (!named) {
    named = 1;
    pthread_setname_np(pthread_self(), "bfs-fuse");
  }
}

static int dispatch(bfs_request *req) {
  take_caller(req);
  return bfs_dispatch(&g_session, req);
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  /* 1 MiB writes and reads: the kernel here allows 256 pages per request. */
  conn->max_write = BFS_MAX_IO;
  conn->max_read = BFS_MAX_IO;
  /* Async READs in flight (readahead): libfuse's default 12 starves a sequential reader. */
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  /* READDIRPLUS for every page of a listing, not just the first (the "auto" mode): readdir
     already knows every entry's attributes, and `ls -l` of N entries otherwise costs N LOOKUPs
     through JavaScript (measured: 2,000 getattrs for one `ls -l` of 2,000 objects). */
  if (conn->capable & FUSE_CAP_READDIRPLUS) {
    conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  }
  /* The timeouts come from the -o options fuse_new parsed into cfg; keep_cache is per open (op_open). */
  cfg->use_ino = 0;
  cfg->nullpath_ok = 0;
  return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  bfs_request req = {.op = BFS_OP_GETATTR, .path = path, .st = st, .fh = fi ? fi->fh : 0};
  return dispatch(&req);
}

/* Each open directory gets a listing: JavaScript fills it at offset 0, pages come from it. */
static int op_opendir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  bfs_listing *listing = bfs_listing_new();
  if (!listing) return -ENOMEM;
  fi->fh = (uint64_t)(uintptr_t)listing;
  return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  bfs_listing_free((bfs_listing *)(uintptr_t)fi->fh);
  fi->fh = 0;
  return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
  bfs_listing *listing = fi ? (bfs_listing *)(uintptr_t)fi->fh : NULL;
  if (!listing) return -EIO;
  int plus = (flags & FUSE_READDIR_PLUS) != 0;
  /* Offset 0 is a new listing (opendir or rewinddir): ask JavaScript again. */
  if (off == 0 || !bfs_listing_loaded(listing)) {
    bfs_request req = {.op = BFS_OP_READDIR, .path = path, .listing = listing, .readdir_plus = plus};
    int res = dispatch(&req);
    if (res < 0) return res;
  }
  bfs_listing_fill(listing, buf, filler, off, plus);
  return 0;
}

/*
 * The page cache is decided per open by JavaScript (no auto_cache: it would keep pages of a
 * version another open has replaced). A bypassing open leaves the cache to the reader using it.
 */
static void set_cache(struct fuse_file_info *fi, int cache) {
  fi->keep_cache = cache != BFS_CACHE_FRESH;
  fi->direct_io = cache == BFS_CACHE_BYPASS;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
  bfs_request req = {.op = BFS_OP_OPEN, .path = path, .flags = fi->flags, .out_cache = BFS_CACHE_FRESH};
  int res = dispatch(&req);
  if (res == 0) {
    fi->fh = req.out_fh;
    set_cache(fi, req.out_cache);
  }
  return res;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  bfs_request req = {.op = BFS_OP_CREATE, .path = path, .mode = mode, .flags = fi->flags, .out_cache = BFS_CACHE_FRESH};
  int res = dispatch(&req);
  if (res == 0) {
    fi->fh = req.out_fh;
    set_cache(fi, req.out_cache);
  }
  return res;
}

/*
 * Reads: a cached chunk range is served right here (cache.c). Anything else goes to JavaScript,
 * which either fills the cache and answers BFS_RETRY_CACHED (the native read path), or copies
 * the bytes into a buffer we own. libfuse frees a memory bufvec's memory after replying.
 */
static int op_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off, struct fuse_file_info *fi) {
  struct fuse_bufvec *vec = malloc(sizeof *vec);
  char *mem = size > 0 ? malloc(size) : NULL;
  if (!vec || (size > 0 && !mem)) {
    free(vec);
    free(mem);
    return -ENOMEM;
  }
  *vec = FUSE_BUFVEC_INIT(size);
  vec->buf[0].mem = mem;
  name_worker();
  ssize_t served = bfs_cache_serve(fi->fh, mem, size, off);
  if (served < 0) {
    bfs_request req = {.op = BFS_OP_READ, .path = path, .fh = fi->fh, .data = mem, .size = size, .offset = off};
    served = dispatch(&req);
    if (served == BFS_RETRY_CACHED) {
      /* JavaScript filled the cache; if the chunks are gone again (evicted), it reads for us. */
      served = bfs_cache_serve(fi->fh, mem, size, off);
      if (served < 0) {
        bfs_request again = {.op = BFS_OP_READ, .path = path, .fh = fi->fh, .data = mem, .size = size, .offset = off, .must_bytes = 1};
        served = dispatch(&again);
        if (served == BFS_RETRY_CACHED) served = -EIO;
      }
    }
    if (served < 0) {
      free(mem);
      free(vec);
      return (int)served;
    }
    if ((size_t)served > size) served = (ssize_t)size;
  }
  vec->buf[0].size = (size_t)served;
  *bufp = vec;
  return 0;
}

static int op_write(const char *path, const char *data, size_t size, off_t off, struct fuse_file_info *fi) {
  name_worker();
  bfs_request req = {.op = BFS_OP_WRITE, .path = path, .fh = fi->fh, .data = (char *)data, .size = size, .offset = off};
  return dispatch(&req);
}

#define SIMPLE_FH_OP(name, code)                                              \
  static int name(const char *path, struct fuse_file_info *fi) {              \
    bfs_request req = {.op = code, .path = path, .fh = fi ? fi->fh : 0};      \
    return dispatch(&req);                                                    \
  }
SIMPLE_FH_OP(op_flush, BFS_OP_FLUSH)
SIMPLE_FH_OP(op_release, BFS_OP_RELEASE)

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  bfs_request req = {.op = BFS_OP_FSYNC, .path = path, .fh = fi ? fi->fh : 0, .flags = datasync};
  return dispatch(&req);
}

/* fallocate(2): JavaScript accepts mode 0 and FALLOC_FL_KEEP_SIZE, EOPNOTSUPP for the rest. */
static int op_fallocate(const char *path, int mode, off_t offset, off_t length, struct fuse_file_info *fi) {
  if (offset < 0 || length <= 0) return -EINVAL;
  bfs_request req = {.op = BFS_OP_FALLOCATE, .path = path, .fh = fi ? fi->fh : 0, .flags = mode, .offset = offset, .size = (size_t)length};
  return dispatch(&req);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  bfs_request req = {.op = BFS_OP_TRUNCATE, .path = path, .offset = size, .fh = fi ? fi->fh : 0, .has_fh = fi != NULL};
  return dispatch(&req);
}

#define SIMPLE_PATH_OP(name, code)                        \
  static int name(const char *path) {                    \
    bfs_request req = {.op = code, .path = path};         \
    return dispatch(&req);                                \
  }
SIMPLE_PATH_OP(op_unlink, BFS_OP_UNLINK)
SIMPLE_PATH_OP(op_rmdir, BFS_OP_RMDIR)

static int op_mkdir(const char *path, mode_t mode) {
  bfs_request req = {.op = BFS_OP_MKDIR, .path = path, .mode = mode};
  return dispatch(&req);
}

static int op_mknod(const char *path, mode_t mode, dev_t rdev) {
  bfs_request req = {.op = BFS_OP_MKNOD, .path = path, .mode = mode, .rdev = rdev};
  return dispatch(&req);
}

static int op_rename(const char *from, const char *to, unsigned int flags) {
  bfs_request req = {.op = BFS_OP_RENAME, .path = from, .path2 = to, .flags = (int)flags};
  return dispatch(&req);
}

static int op_symlink(const char *target, const char *path) {
  bfs_request req = {.op = BFS_OP_SYMLINK, .path = path, .path2 = target};
  return dispatch(&req);
}

static int op_link(const char *from, const char *to) {
  bfs_request req = {.op = BFS_OP_LINK, .path = to, .path2 = from};
  return dispatch(&req);
}

static int op_readlink(const char *path, char *buf, size_t size) {
  bfs_request req = {.op = BFS_OP_READLINK, .path = path, .data = buf, .size = size};
  return dispatch(&req);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  (void)fi;
  bfs_request req = {.op = BFS_OP_CHMOD, .path = path, .mode = mode};
  return dispatch(&req);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  (void)fi;
  bfs_request req = {.op = BFS_OP_CHOWN, .path = path, .uid = uid, .gid = gid};
  return dispatch(&req);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  (void)fi;
  bfs_request req = {.op = BFS_OP_UTIMENS, .path = path};
  if (tv) {
    req.times[0] = tv[0];
    req.times[1] = tv[1];
  } else {
    req.times[0].tv_nsec = UTIME_NOW;
    req.times[1].tv_nsec = UTIME_NOW;
  }
  return dispatch(&req);
}

static int op_statfs(const char *path, struct statvfs *st) {
  bfs_request req = {.op = BFS_OP_STATFS, .path = path, .stv = st};
  return dispatch(&req);
}

static int op_getxattr(const char *path, const char *name, char *value, size_t size) {
  /* No security labels, capabilities or POSIX ACLs on object storage. `ls -l` asks for
     security.selinux and system.posix_acl_access, and the kernel for security.capability
     before writes: answered here, without JavaScript. EOPNOTSUPP (not ENODATA) also makes ls
     stop asking for the rest of the mount. */
  if (strncmp(name, "security.", 9) == 0 || strncmp(name, "system.", 7) == 0) return -EOPNOTSUPP;
  bfs_request req = {.op = BFS_OP_GETXATTR, .path = path, .name = name, .data = value, .size = size};
  return dispatch(&req);
}

static int op_listxattr(const char *path, char *list, size_t size) {
  bfs_request req = {.op = BFS_OP_LISTXATTR, .path = path, .data = list, .size = size};
  return dispatch(&req);
}

static void op_destroy(void *private_data) {
  (void)private_data;
}

void bfs_fill_operations(struct fuse_operations *ops, int with_xattrs) {
  memset(ops, 0, sizeof *ops);
  ops->init = op_init;
  ops->destroy = op_destroy;
  ops->getattr = op_getattr;
  ops->opendir = op_opendir;
  ops->readdir = op_readdir;
  ops->releasedir = op_releasedir;
  ops->open = op_open;
  ops->create = op_create;
  ops->read_buf = op_read_buf;
  ops->write = op_write;
  ops->flush = op_flush;
  ops->release = op_release;
  ops->fsync = op_fsync;
  ops->truncate = op_truncate;
  ops->fallocate = op_fallocate;
  ops->unlink = op_unlink;
  ops->rmdir = op_rmdir;
  ops->mkdir = op_mkdir;
  ops->mknod = op_mknod;
  ops->rename = op_rename;
  ops->symlink = op_symlink;
  ops->link = op_link;
  ops->readlink = op_readlink;
  ops->chmod = op_chmod;
  ops->chown = op_chown;
  ops->utimens = op_utimens;
  ops->statfs = op_statfs;
  /* Without attributes to show, leave xattr ops out: the kernel answers ENOTSUP itself and
     stops asking, instead of a round trip per file for every `ls -l`. */
  if (with_xattrs) {
    ops->getxattr = op_getxattr;
    ops->listxattr = op_listxattr;
  }
}
