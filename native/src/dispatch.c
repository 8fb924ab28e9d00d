/*
 * Hands operations from FUSE worker threads to JavaScript and their answers back.
 *
 * A worker takes a slot in a fixed table, posts the request to the event loop and waits.
 * JavaScript answers with reply(slot, generation, code, value, value2). The slot is emptied by
 * the first reply, so a second reply, or one for a request that has gone, finds nothing and is
 * ignored: a bug in JavaScript can never write into a worker's dead stack frame.
 */
#define _GNU_SOURCE
#include "bucketfs_fuse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* More slots than libfuse ever runs workers (max_threads), so a worker never waits for one. */
#define SLOT_COUNT 256

static struct {
  bfs_request *req;
  uint32_t gen;
} slots[SLOT_COUNT];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;
static uint32_t next_gen = 1;

static void take_slot(bfs_request *req) {
  pthread_mutex_lock(&slots_lock);
  for (;;) {
    for (int i = 0; i < SLOT_COUNT; i++) {
      if (slots[i].req == NULL && slots[i].gen == 0) {
        slots[i].req = req;
        slots[i].gen = next_gen++;
        if (next_gen == 0) next_gen = 1;
        req->slot = i;
        req->gen = slots[i].gen;
        pthread_mutex_unlock(&slots_lock);
        return;
      }
    }
    pthread_cond_wait(&slot_freed, &slots_lock);
  }
}

/* Empties the slot if it still holds this request; returns whether it did. */
static int claim_slot(int slot, uint32_t gen, bfs_request **out) {
  int claimed = 0;
  pthread_mutex_lock(&slots_lock);
  if (slot >= 0 && slot < SLOT_COUNT && slots[slot].gen == gen && slots[slot].req) {
    *out = slots[slot].req;
    slots[slot].req = NULL;
    claimed = 1;
  }
  pthread_mutex_unlock(&slots_lock);
  return claimed;
}

static void release_slot(bfs_request *req) {
  pthread_mutex_lock(&slots_lock);
  slots[req->slot].req = NULL;
  slots[req->slot].gen = 0;
  pthread_cond_signal(&slot_freed);
  pthread_mutex_unlock(&slots_lock);
}

static void complete(bfs_request *req, int result) {
  pthread_mutex_lock(&req->lock);
  req->result = result;
  req->done = 1;
  pthread_cond_signal(&req->done_cond);
  pthread_mutex_unlock(&req->lock);
}

int bfs_dispatch(bfs_session *s, bfs_request *req) {
  if (s->closed) return -EIO;
  pthread_mutex_init(&req->lock, NULL);
  pthread_cond_init(&req->done_cond, NULL);
  take_slot(req);
  if (napi_call_threadsafe_function(s->tsfn, req, napi_tsfn_blocking) != napi_ok) {
    release_slot(req);
    req->result = -EIO;
  } else {
    pthread_mutex_lock(&req->lock);
    while (!req->done) pthread_cond_wait(&req->done_cond, &req->lock);
    pthread_mutex_unlock(&req->lock);
    release_slot(req);
  }
  pthread_mutex_destroy(&req->lock);
  pthread_cond_destroy(&req->done_cond);
  return req->result;
}

/* Answers every waiting worker (the JavaScript side is going away). */
void bfs_fail_all_pending(int err) {
  for (int i = 0; i < SLOT_COUNT; i++) {
    pthread_mutex_lock(&slots_lock);
    bfs_request *req = slots[i].req;
    slots[i].req = NULL;
    pthread_mutex_unlock(&slots_lock);
    if (req) complete(req, -err);
  }
}

/* ---- request → JavaScript arguments (event loop thread) ---- */

static napi_value num(napi_env env, double value) {
  napi_value out;
  napi_create_double(env, value, &out);
  return out;
}

static napi_value path_bytes(napi_env env, const char *path) {
  napi_value out;
  if (!path) {
    napi_get_undefined(env, &out);
    return out;
  }
  napi_create_buffer_copy(env, strlen(path), path, NULL, &out);
  return out;
}

/* A Buffer over memory the worker owns; JavaScript must be done with it before it replies. */
static napi_value borrowed(napi_env env, char *data, size_t size) {
  napi_value out;
  if (size == 0 || napi_create_external_buffer(env, size, data, NULL, NULL, &out) != napi_ok) {
    napi_create_buffer(env, 0, NULL, &out);
  }
  return out;
}

static double time_ms(const struct timespec *ts) {
  if (ts->tv_nsec == UTIME_OMIT) return -1;
  if (ts->tv_nsec == UTIME_NOW) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec * 1000 + (double)(now.tv_nsec / 1000000);
  }
  return (double)ts->tv_sec * 1000 + (double)(ts->tv_nsec / 1000000);
}

/* Fills argv[8..] with the operation's own arguments; returns how many. */
static int op_arguments(napi_env env, bfs_request *r, napi_value *a) {
  switch (r->op) {
    case BFS_OP_GETATTR: case BFS_OP_FLUSH: case BFS_OP_RELEASE:
      a[0] = num(env, (double)r->fh); return 1;
    case BFS_OP_READDIR: napi_get_boolean(env, r->readdir_plus, &a[0]); return 1;
    case BFS_OP_OPEN: a[0] = num(env, r->flags); return 1;
    case BFS_OP_CREATE: a[0] = num(env, r->mode); a[1] = num(env, r->flags); return 2;
    case BFS_OP_READ: case BFS_OP_WRITE:
      a[0] = num(env, (double)r->fh); a[1] = borrowed(env, r->data, r->size);
      a[2] = num(env, (double)r->size); a[3] = num(env, (double)r->offset);
      napi_get_boolean(env, r->must_bytes, &a[4]); return 5;
    case BFS_OP_FSYNC: a[0] = num(env, (double)r->fh); a[1] = num(env, r->flags); return 2;
    case BFS_OP_TRUNCATE: a[0] = num(env, (double)r->offset); a[1] = num(env, r->has_fh ? (double)r->fh : -1); return 2;
    case BFS_OP_MKDIR: case BFS_OP_CHMOD: a[0] = num(env, r->mode); return 1;
    case BFS_OP_MKNOD: a[0] = num(env, r->mode); a[1] = num(env, (double)r->rdev); return 2;
    case BFS_OP_RENAME: a[0] = path_bytes(env, r->path2); a[1] = num(env, r->flags); return 2;
    case BFS_OP_SYMLINK: case BFS_OP_LINK: a[0] = path_bytes(env, r->path2); return 1;
    case BFS_OP_CHOWN: a[0] = num(env, (double)r->uid); a[1] = num(env, (double)r->gid); return 2;
    case BFS_OP_UTIMENS: a[0] = num(env, time_ms(&r->times[0])); a[1] = num(env, time_ms(&r->times[1])); return 2;
    case BFS_OP_GETXATTR:
      napi_create_string_utf8(env, r->name, NAPI_AUTO_LENGTH, &a[0]); a[1] = num(env, (double)r->size); return 2;
    case BFS_OP_LISTXATTR: a[0] = num(env, (double)r->size); return 1;
    /* fallocate: fh, mode (FALLOC_FL_* flags), offset, length */
    case BFS_OP_FALLOCATE:
      a[0] = num(env, (double)r->fh); a[1] = num(env, r->flags);
      a[2] = num(env, (double)r->offset); a[3] = num(env, (double)r->size); return 4;
    default: return 0;
  }
}

void bfs_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  bfs_request *r = data;
  if (env == NULL || js_cb == NULL) {
    bfs_request *claimed;
    if (claim_slot(r->slot, r->gen, &claimed)) complete(claimed, -EIO);
    return;
  }
  napi_value argv[12], undefined, result;
  napi_get_undefined(env, &undefined);
  argv[0] = num(env, r->op);
  argv[1] = num(env, r->slot);
  argv[2] = num(env, r->gen);
  argv[3] = num(env, r->caller_uid);
  argv[4] = num(env, r->caller_gid);
  argv[5] = num(env, r->caller_pid);
  argv[6] = num(env, r->caller_umask);
  argv[7] = path_bytes(env, r->path);
  int argc = 8 + op_arguments(env, r, &argv[8]);
  if (napi_call_function(env, undefined, js_cb, (size_t)argc, argv, &result) != napi_ok) {
    /* The handler threw: answer EIO rather than leave the worker waiting forever. */
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    bfs_request *claimed;
    if (claim_slot(r->slot, r->gen, &claimed)) complete(claimed, -EIO);
  }
}

/* ---- JavaScript answers → request (event loop thread) ---- */

static double get_number(napi_env env, napi_value array, uint32_t index) {
  napi_value item;
  double value = 0;
  if (napi_get_element(env, array, index, &item) == napi_ok) napi_get_value_double(env, item, &value);
  return value;
}

static void ms_to_timespec(double ms, struct timespec *ts) {
  if (!(ms >= 0)) ms = 0;
  ts->tv_sec = (time_t)(ms / 1000);
  ts->tv_nsec = (long)((ms - (double)ts->tv_sec * 1000) * 1000000);
  if (ts->tv_nsec < 0 || ts->tv_nsec > 999999999) ts->tv_nsec = 0;
}

/* stat as [mode, uid, gid, size, atimeMs, mtimeMs, ctimeMs, nlink, blksize, rdev] */
static void fill_stat(napi_env env, napi_value array, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_mode = (mode_t)get_number(env, array, 0);
  st->st_uid = (uid_t)get_number(env, array, 1);
  st->st_gid = (gid_t)get_number(env, array, 2);
  st->st_size = (off_t)get_number(env, array, 3);
  ms_to_timespec(get_number(env, array, 4), &st->st_atim);
  ms_to_timespec(get_number(env, array, 5), &st->st_mtim);
  ms_to_timespec(get_number(env, array, 6), &st->st_ctim);
  st->st_nlink = (nlink_t)get_number(env, array, 7);
  st->st_blksize = (blksize_t)get_number(env, array, 8);
  st->st_blocks = (st->st_size + 511) / 512;
  /* The device number of a character or block node stored as an object (0 otherwise). */
  double rdev = get_number(env, array, 9);
  st->st_rdev = rdev > 0 && rdev < 18446744073709549568.0 ? (dev_t)rdev : 0;
}

/* A name given as a string or a Buffer, copied into `out` (NUL-terminated); length or -1. */
static ssize_t get_name(napi_env env, napi_value value, char *out, size_t cap) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (is_buffer) {
    void *data;
    size_t length;
    napi_get_buffer_info(env, value, &data, &length);
    if (length >= cap || memchr(data, 0, length)) return -1;
    memcpy(out, data, length);
    out[length] = 0;
    return (ssize_t)length;
  }
  size_t length;
  if (napi_get_value_string_utf8(env, value, out, cap, &length) != napi_ok || length >= cap - 1) return -1;
  return (ssize_t)length;
}

/* Copies JavaScript's listing (names, and stats in plus mode) into the handle's listing. */
static int reply_readdir(napi_env env, bfs_request *r, napi_value names, napi_value stats) {
  uint32_t count = 0;
  bool with_stats = false;
  napi_is_array(env, stats, &with_stats);
  napi_get_array_length(env, names, &count);
  if (bfs_listing_reset(r->listing, count) < 0) return -ENOMEM;
  char name[1024];
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    napi_get_element(env, names, i, &item);
    if (get_name(env, item, name, sizeof name) < 0) continue;
    struct stat st;
    if (with_stats) {
      napi_value stat_array;
      napi_get_element(env, stats, i, &stat_array);
      fill_stat(env, stat_array, &st);
    }
    if (bfs_listing_add(r->listing, name, with_stats ? &st : NULL) < 0) return -ENOMEM;
  }
  return 0;
}

/* getxattr/listxattr: size 0 asks for the length; a short buffer is ERANGE. */
static int reply_bytes(bfs_request *r, const char *data, size_t length) {
  if (r->size == 0) return (int)length;
  if (length > r->size) return -ERANGE;
  memcpy(r->data, data, length);
  return (int)length;
}

static int reply_listxattr(napi_env env, bfs_request *r, napi_value names) {
  uint32_t count = 0;
  napi_get_array_length(env, names, &count);
  char joined[65536];
  size_t used = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    napi_get_element(env, names, i, &item);
    ssize_t n = get_name(env, item, joined + used, sizeof joined - used);
    if (n < 0) return -E2BIG;
    used += (size_t)n + 1;
  }
  return reply_bytes(r, joined, used);
}

static int reply_value(napi_env env, bfs_request *r, int code, napi_value v1, napi_value v2) {
  switch (r->op) {
    case BFS_OP_GETATTR: fill_stat(env, v1, r->st); return 0;
    case BFS_OP_READDIR: return reply_readdir(env, r, v1, v2);
    case BFS_OP_OPEN: case BFS_OP_CREATE: {
      double fh = 0;
      int32_t cache = BFS_CACHE_FRESH; /* absent or not a number: the safe choice */
      napi_get_value_double(env, v1, &fh);
      if (v2 && napi_get_value_int32(env, v2, &cache) != napi_ok) cache = BFS_CACHE_FRESH;
      r->out_fh = (uint64_t)fh;
      r->out_cache = cache;
      return 0;
    }
    case BFS_OP_READLINK: {
      if (r->size == 0) return -EINVAL;
      return get_name(env, v1, r->data, r->size) < 0 ? -ENAMETOOLONG : 0;
    }
    case BFS_OP_STATFS: {
      struct statvfs *s = r->stv;
      memset(s, 0, sizeof *s);
      s->f_bsize = (unsigned long)get_number(env, v1, 0);
      s->f_frsize = (unsigned long)get_number(env, v1, 1);
      s->f_blocks = (fsblkcnt_t)get_number(env, v1, 2);
      s->f_bfree = (fsblkcnt_t)get_number(env, v1, 3);
      s->f_bavail = (fsblkcnt_t)get_number(env, v1, 4);
      s->f_files = (fsfilcnt_t)get_number(env, v1, 5);
      s->f_ffree = (fsfilcnt_t)get_number(env, v1, 6);
      s->f_favail = (fsfilcnt_t)get_number(env, v1, 7);
      s->f_namemax = (unsigned long)get_number(env, v1, 8);
      return 0;
    }
    case BFS_OP_GETXATTR: {
      void *data;
      size_t length;
      if (napi_get_buffer_info(env, v1, &data, &length) != napi_ok) return -EIO;
      return reply_bytes(r, data, length);
    }
    case BFS_OP_LISTXATTR: return reply_listxattr(env, r, v1);
    case BFS_OP_READ: {
      bool retry = false;
      napi_get_value_bool(env, v1, &retry);
      if (retry && !r->must_bytes) return BFS_RETRY_CACHED;
      return code > (int)r->size ? -EIO : code;
    }
    default: return code; /* write byte counts, or 0 */
  }
}

/* reply(slot, generation, code, value?, value2?) */
napi_value bfs_reply(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double slot = -1, gen = 0, code = -EIO;
  if (argc >= 3) {
    napi_get_value_double(env, argv[0], &slot);
    napi_get_value_double(env, argv[1], &gen);
    napi_get_value_double(env, argv[2], &code);
  }
  bfs_request *r;
  if (!claim_slot((int)slot, (uint32_t)gen, &r)) return NULL; /* late or second reply */
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  int result = code < 0 ? (int)code : reply_value(env, r, (int)code, argc > 3 ? argv[3] : undefined, argc > 4 ? argv[4] : undefined);
  complete(r, result);
  return NULL;
}
