/*
 * The module's JavaScript surface:
 *   mount(mountpoint, options[], { maxThreads, xattrs }, handler, onExit)
 *   reply(slot, generation, code, value?, value2?)
 *   close()                    — after the loop has ended: frees libfuse, releases JS handles
 *   bind(...), unbind(fh), stats()  — cache.c
 * One session per process: a bucketfs daemon serves one mount.
 */
#define _GNU_SOURCE
#include "bucketfs_fuse.h"

#include <errno.h>
#include <malloc.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static void *loop_main(void *arg) {
  bfs_session *s = arg;
  struct fuse_loop_config *config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, s->max_threads);
  fuse_loop_cfg_set_clone_fd(config, 0);
  s->loop_result = fuse_loop_mt(s->fuse, config);
  fuse_loop_cfg_destroy(config);
  napi_call_threadsafe_function(s->exit_tsfn, NULL, napi_tsfn_blocking);
  return NULL;
}

static void call_exit(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  bfs_session *s = context;
  if (!env || !js_cb) return;
  napi_value undefined, code;
  napi_get_undefined(env, &undefined);
  napi_create_int32(env, s->loop_result, &code);
  napi_call_function(env, undefined, js_cb, 1, &code, NULL);
}

static int get_string(napi_env env, napi_value value, char *out, size_t cap) {
  size_t length;
  return napi_get_value_string_utf8(env, value, out, cap, &length) == napi_ok && length < cap - 1 ? 0 : -1;
}

static int get_uint_property(napi_env env, napi_value obj, const char *name, unsigned fallback) {
  napi_value v;
  double d;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_get_value_double(env, v, &d) != napi_ok) return (int)fallback;
  return d >= 1 && d <= 256 ? (int)d : (int)fallback;
}

static int get_bool_property(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  bool b = false;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_bool(env, v, &b);
  return b;
}

/* fuse_args from "-o" option strings; libfuse copies what it keeps. */
static int build_args(napi_env env, napi_value options, struct fuse_args *args) {
  uint32_t count = 0;
  napi_get_array_length(env, options, &count);
  if (fuse_opt_add_arg(args, "bucketfs") != 0) return -1;
  char option[4096];
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    napi_get_element(env, options, i, &item);
    if (get_string(env, item, option, sizeof option) != 0) return -1;
    if (fuse_opt_add_arg(args, "-o") != 0 || fuse_opt_add_arg(args, option) != 0) return -1;
  }
  return 0;
}

static napi_value mount_fs(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bfs_session *s = bfs_current_session();
  if (argc < 5) return throw_error(env, "mount(mountpoint, options, config, handler, onExit)");
  if (s->fuse) return throw_error(env, "this process already serves a mount");
  char mountpoint[4096];
  if (get_string(env, argv[0], mountpoint, sizeof mountpoint) != 0) return throw_error(env, "bad mountpoint");
  s->max_threads = (unsigned)get_uint_property(env, argv[2], "maxThreads", 16);
  struct fuse_operations ops;
  bfs_fill_operations(&ops, get_bool_property(env, argv[2], "xattrs"));

  napi_create_string_utf8(env, "bucketfs-fuse", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, NULL, bfs_call_js, &s->tsfn) != napi_ok ||
      napi_create_threadsafe_function(env, argv[4], NULL, name, 0, 1, NULL, NULL, s, call_exit, &s->exit_tsfn) != napi_ok)
    return throw_error(env, "could not create the thread-safe functions");

  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  if (build_args(env, argv[1], &args) != 0) {
    fuse_opt_free_args(&args);
    return throw_error(env, "bad mount option");
  }
  s->fuse = fuse_new(&args, &ops, sizeof ops, NULL);
  fuse_opt_free_args(&args);
  if (!s->fuse) return throw_error(env, "libfuse rejected the mount options (see stderr)");
  if (fuse_mount(s->fuse, mountpoint) != 0) {
    fuse_destroy(s->fuse);
    s->fuse = NULL;
    return throw_error(env, "fuse_mount failed (is /dev/fuse usable and fusermount3 installed?)");
  }
  if (pthread_create(&s->loop_thread, NULL, loop_main, s) != 0) {
    fuse_unmount(s->fuse);
    fuse_destroy(s->fuse);
    s->fuse = NULL;
    return throw_error(env, "could not start the FUSE loop thread");
  }
  s->loop_running = 1;
  return NULL;
}

/* Stops serving: unmounts if still mounted, waits for the loop, frees everything. */
static napi_value close_fs(napi_env env, napi_callback_info info) {
  (void)info;
  bfs_session *s = bfs_current_session();
  if (!s->fuse || s->closed) return NULL;
  s->closed = 1;
  fuse_exit(s->fuse);
  fuse_unmount(s->fuse);
  bfs_fail_all_pending(EIO);
  if (s->loop_running) pthread_join(s->loop_thread, NULL);
  s->loop_running = 0;
  fuse_destroy(s->fuse);
  bfs_cache_clear();
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
  napi_release_threadsafe_function(s->exit_tsfn, napi_tsfn_abort);
  (void)env;
  return NULL;
}

/* crc32(buffer[, seed]): the same value as zlib.crc32 (tests compare the two). */
napi_value bfs_crc32_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  size_t length = 0;
  double seed = 0;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok) return throw_error(env, "crc32(buffer[, seed])");
  if (argc > 1) napi_get_value_double(env, argv[1], &seed);
  napi_create_uint32(env, bfs_crc32((uint32_t)seed, data, length), &out);
  return out;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}

static napi_value init(napi_env env, napi_value exports) {
  /*
   * Keep large buffers (1 MiB FUSE replies, 8 MiB GET bodies) in malloc's heap instead of fresh
   * mmaps: a fresh mapping page-faults on every first touch, which measured as the largest cost
   * of copying a cold read's bytes. Freed memory stays mapped for reuse (bounded by what the
   * read path holds at once: --max-memory plus the FUSE workers' buffers).
   */
  mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  export_fn(env, exports, "mount", mount_fs);
  export_fn(env, exports, "close", close_fs);
  export_fn(env, exports, "reply", bfs_reply);
  export_fn(env, exports, "bind", bfs_cache_bind);
  export_fn(env, exports, "unbind", bfs_cache_unbind);
  export_fn(env, exports, "stats", bfs_cache_stats);
  export_fn(env, exports, "fill", bfs_fill);
  export_fn(env, exports, "head", bfs_head);
  export_fn(env, exports, "onProgress", bfs_cache_on_progress);
  export_fn(env, exports, "crc32", bfs_crc32_js);
  export_fn(env, exports, "notifyAt", bfs_cache_notify_at);
  napi_value max_io;
  napi_create_uint32(env, BFS_MAX_IO, &max_io);
  napi_set_named_property(env, exports, "maxIo", max_io);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
