/*
 * Fills the disk cache straight from the network: a ranged GET (signed by JavaScript) whose body
 * is written into chunk files on a native thread, never passing through JavaScript.
 *
 * Why: on a cold sequential read, JavaScript spent most of its CPU receiving the body (socket
 * chunks, copies, garbage collection), checksumming it and writing chunk files. Here libcurl
 * receives into its buffer, each piece is written once into its chunk file with pwrite, and the
 * CRC32 is computed on the way. The FUSE READs that follow are answered from those files
 * (cache.c), so the bytes never enter JavaScript. JavaScript still decides what to fetch and
 * when, signs the request, owns the cache index and its byte cap.
 *
 * A job: fill(url, headers[], start, end, chunks[], options, callback). Each chunk names its
 * temporary and final path, its header bytes (with zero checksums, patched here) and the slice
 * [offset, offset+length) of the object it holds. A chunk file is renamed into place once its
 * bytes are complete; if the job fails, every file it created is removed and JavaScript falls
 * back to its own GET. The server is not trusted: status, Content-Range and the body length must
 * match what was asked, and the body is never buffered beyond curl's own receive buffer.
 */
#define _GNU_SOURCE
#include "bucketfs_fuse.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#define FILL_THREADS 8
#define MAX_CHUNKS 1024
#define ERROR_BODY_MAX 4096
/* Offsets in the chunk header (src/cache/chunk-format.ts): data CRC32, and the header's own. */
#define HEADER_DATA_CRC_AT 32

typedef struct fill_chunk {
  char *tmp, *path;
  unsigned char *header;
  uint32_t header_len;
  uint64_t offset, length;
  uint32_t crc;
  int fd;
  int renamed;
} fill_chunk;

typedef struct fill_job {
  char *url;
  struct curl_slist *headers;
  char *ca_file;
  uint64_t start, end;
  long timeout_s;
  fill_chunk *chunks;
  uint32_t count;
  /* progress */
  uint64_t received;
  uint32_t current;
  long status;
  int checked;
  long long range_start, range_end, content_length;
  char error[256];
  char body[ERROR_BODY_MAX];
  size_t body_len;
  CURL *curl;
  napi_ref callback;
  struct fill_job *next;
} fill_job;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static fill_job *queue_head, *queue_tail;
static int threads_started;
static napi_threadsafe_function done_tsfn;
/* Jobs handed out and not yet called back (event loop thread only): they keep Node alive. */
static unsigned pending_jobs;

static void fail(fill_job *job, const char *message) {
  if (!job->error[0]) snprintf(job->error, sizeof job->error, "%s", message);
}

/* Parses Content-Range and Content-Length as they arrive (header names are case-insensitive). */
static size_t on_header(char *line, size_t size, size_t count, void *userdata) {
  fill_job *job = userdata;
  size_t n = size * count;
  char buf[256];
  size_t len = n < sizeof buf - 1 ? n : sizeof buf - 1;
  memcpy(buf, line, len);
  buf[len] = 0;
  if (strncasecmp(buf, "HTTP/", 5) == 0) job->range_start = job->range_end = job->content_length = -1;
  else if (strncasecmp(buf, "content-range:", 14) == 0) sscanf(buf + 14, " bytes %lld-%lld", &job->range_start, &job->range_end);
  else if (strncasecmp(buf, "content-length:", 15) == 0) sscanf(buf + 15, " %lld", &job->content_length);
  return n;
}

/* On the first body byte: is this the response we asked for? */
static int check_response(fill_job *job, CURL *curl) {
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &job->status);
  long long want = (long long)(job->end - job->start);
  if (job->status == 206) {
    if (job->range_start != (long long)job->start || job->range_end != (long long)job->end - 1) {
      fail(job, "Content-Range differs from the range asked for");
      return -1;
    }
  } else if (job->status == 200) {
    /* A server may ignore Range when the range is the whole object. */
    if (job->start != 0 || job->content_length != want) {
      fail(job, "status 200 for a partial range");
      return -1;
    }
  } else {
    return 1; /* an error response: its body is kept for the message */
  }
  if (job->content_length >= 0 && job->content_length != want) {
    fail(job, "Content-Length differs from the range asked for");
    return -1;
  }
  return 0;
}

/* The chunk's bytes are all written: checksum into the header, header in, rename into place. */
static int finish_chunk(fill_job *job, fill_chunk *c) {
  unsigned char *h = c->header;
  for (int i = 0; i < 4; i++) h[HEADER_DATA_CRC_AT + i] = (unsigned char)(c->crc >> (8 * i));
  uint32_t header_crc = bfs_crc32(0, h, c->header_len - 4);
  for (int i = 0; i < 4; i++) h[c->header_len - 4 + i] = (unsigned char)(header_crc >> (8 * i));
  int ok = pwrite(c->fd, h, c->header_len, 0) == (ssize_t)c->header_len;
  ok = close(c->fd) == 0 && ok;
  c->fd = -1;
  if (!ok || rename(c->tmp, c->path) != 0) {
    fail(job, "cannot finish a chunk file");
    return -1;
  }
  c->renamed = 1;
  job->current++;
  bfs_cache_fill_event(c->path, 1, c->crc); /* READs waiting for this chunk go on natively */
  return 0;
}

static int write_chunk_data(fill_job *job, const char *data, size_t n) {
  while (n > 0) {
    if (job->current >= job->count) {
      fail(job, "body longer than the range asked for");
      return -1;
    }
    fill_chunk *c = &job->chunks[job->current];
    uint64_t at = job->start + job->received - c->offset; /* position inside this chunk */
    size_t take = c->length - at < n ? (size_t)(c->length - at) : n;
    if (c->fd < 0) {
      c->fd = open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (c->fd < 0) {
        fail(job, "cannot create a chunk file");
        return -1;
      }
    }
    for (size_t done = 0; done < take;) {
      ssize_t w = pwrite(c->fd, data + done, take - done, (off_t)(c->header_len + at + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fail(job, errno == ENOSPC ? "no space for a chunk file" : "cannot write a chunk file");
        return -1;
      }
      done += (size_t)w;
    }
    c->crc = bfs_crc32(c->crc, (const unsigned char *)data, take);
    data += take;
    n -= take;
    job->received += take;
    if (at + take == c->length && finish_chunk(job, c) != 0) return -1;
  }
  return 0;
}

static size_t on_body(char *data, size_t size, size_t count, void *userdata) {
  fill_job *job = userdata;
  size_t n = size * count;
  if (!job->checked) {
    job->checked = 1;
    int verdict = check_response(job, job->curl);
    if (verdict < 0) return 0;
    if (verdict > 0) job->current = UINT32_MAX; /* error body from now on */
  }
  if (job->current == UINT32_MAX) {
    size_t room = sizeof job->body - job->body_len;
    size_t take = n < room ? n : room;
    memcpy(job->body + job->body_len, data, take);
    job->body_len += take;
    return n;
  }
  return write_chunk_data(job, data, n) == 0 ? n : 0;
}

/* ---- worker threads ---- */

/* A failed job leaves nothing behind: JavaScript will fetch these chunks itself. */
static void remove_files(fill_job *job) {
  for (uint32_t i = 0; i < job->count; i++) {
    fill_chunk *c = &job->chunks[i];
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    unlink(c->tmp);
    if (c->renamed) unlink(c->path);
    c->renamed = 0;
    bfs_cache_fill_event(c->path, 2, 0);
  }
}

static void run_job(fill_job *job, CURL *curl) {
  curl_easy_reset(curl);
  job->curl = curl;
  job->range_start = job->range_end = job->content_length = -1;
  curl_easy_setopt(curl, CURLOPT_URL, job->url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, job->headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, job);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, job);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
  /* No progress for timeout_s seconds fails the attempt (JavaScript then retries its own way). */
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, job->timeout_s);
  if (job->ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, job->ca_file);
  CURLcode rc = curl_easy_perform(curl);
  if (!job->checked && rc == CURLE_OK) {
    /* An empty body: fine only for an empty range, which JavaScript never asks for. */
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &job->status);
    if (job->status == 200 || job->status == 206) fail(job, "empty body");
  }
  if (rc != CURLE_OK) fail(job, job->error[0] ? job->error : curl_easy_strerror(rc));
  else if (job->current == UINT32_MAX) fail(job, "error response");
  else if (job->received != job->end - job->start) fail(job, "body shorter than the range asked for");
  if (job->error[0]) remove_files(job);
}

static void *worker_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "bfs-fill");
  CURL *curl = curl_easy_init();
  for (;;) {
    pthread_mutex_lock(&queue_lock);
    while (!queue_head) pthread_cond_wait(&queue_cond, &queue_lock);
    fill_job *job = queue_head;
    queue_head = job->next;
    if (!queue_head) queue_tail = NULL;
    pthread_mutex_unlock(&queue_lock);
    if (curl) run_job(job, curl);
    else fail(job, "libcurl could not start");
    napi_call_threadsafe_function(done_tsfn, job, napi_tsfn_blocking);
  }
  return NULL;
}

static void free_job(fill_job *job) {
  for (uint32_t i = 0; i < job->count; i++) {
    free(job->chunks[i].tmp);
    free(job->chunks[i].path);
    free(job->chunks[i].header);
  }
  free(job->chunks);
  free(job->url);
  free(job->ca_file);
  curl_slist_free_all(job->headers);
  free(job);
}

/* On the event loop: callback(error | null, crcs: Uint32Array, status) */
static void call_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  fill_job *job = data;
  if (env) {
    napi_value cb, undefined, argv[3];
    napi_get_undefined(env, &undefined);
    napi_get_reference_value(env, job->callback, &cb);
    if (job->error[0]) {
      napi_value message, body;
      napi_create_string_utf8(env, job->error, NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &argv[0]);
      napi_create_buffer_copy(env, job->body_len, job->body, NULL, &body);
      napi_set_named_property(env, argv[0], "body", body);
    } else {
      napi_get_null(env, &argv[0]);
    }
    uint32_t *crcs;
    napi_value buffer;
    napi_create_arraybuffer(env, job->count * 4, (void **)&crcs, &buffer);
    for (uint32_t i = 0; i < job->count; i++) crcs[i] = job->chunks[i].crc;
    napi_create_typedarray(env, napi_uint32_array, job->count, buffer, 0, &argv[1]);
    napi_create_double(env, (double)job->status, &argv[2]);
    napi_call_function(env, undefined, cb, 3, argv, NULL);
    napi_delete_reference(env, job->callback);
    if (--pending_jobs == 0) napi_unref_threadsafe_function(env, done_tsfn);
  }
  free_job(job);
}

/* ---- JavaScript API ---- */

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static char *string_arg(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length > 16384) return NULL;
  char *out = malloc(length + 1);
  if (out) napi_get_value_string_utf8(env, value, out, length + 1, &length);
  return out;
}

static double number_property(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  double d = -1;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_double(env, v, &d);
  return d;
}

static char *string_property(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  napi_valuetype type;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &type) != napi_ok || type != napi_string) return NULL;
  return string_arg(env, v);
}

/* Chunks must tile [start, end) in order; each header must hold its two checksum slots. */
static int parse_chunks(napi_env env, napi_value array, fill_job *job) {
  uint32_t count = 0;
  napi_get_array_length(env, array, &count);
  if (count == 0 || count > MAX_CHUNKS) return -1;
  job->chunks = calloc(count, sizeof *job->chunks);
  if (!job->chunks) return -1;
  job->count = count;
  uint64_t expect = job->start;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item, header;
    fill_chunk *c = &job->chunks[i];
    c->fd = -1;
    napi_get_element(env, array, i, &item);
    c->tmp = string_property(env, item, "tmp");
    c->path = string_property(env, item, "path");
    double offset = number_property(env, item, "offset"), length = number_property(env, item, "length");
    void *data;
    size_t header_len = 0;
    if (napi_get_named_property(env, item, "header", &header) != napi_ok || napi_get_buffer_info(env, header, &data, &header_len) != napi_ok) return -1;
    if (!c->tmp || !c->path || header_len < HEADER_DATA_CRC_AT + 8 || header_len > 65536 || offset != (double)expect || !(length > 0)) return -1;
    c->header = malloc(header_len);
    if (!c->header) return -1;
    memcpy(c->header, data, header_len);
    c->header_len = (uint32_t)header_len;
    c->offset = (uint64_t)offset;
    c->length = (uint64_t)length;
    expect += c->length;
  }
  return expect == job->end ? 0 : -1;
}

static int start_threads(napi_env env) {
  if (threads_started) return 0;
  napi_value name;
  napi_create_string_utf8(env, "bucketfs-fill", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, call_done, &done_tsfn) != napi_ok) return -1;
  /* Pending fills hold their callbacks; the tsfn itself must not keep the process alive. */
  napi_unref_threadsafe_function(env, done_tsfn);
  for (int i = 0; i < FILL_THREADS; i++) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker_main, NULL) != 0) return -1;
    pthread_detach(thread);
  }
  threads_started = 1;
  return 0;
}

/* fill(url, headers[], start, end, chunks[], { timeoutSeconds, caFile? }, callback) */
napi_value bfs_fill(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) return throw_error(env, "fill(url, headers, start, end, chunks, options, callback)");
  if (start_threads(env) != 0) return throw_error(env, "fill: could not start the fill threads");
  fill_job *job = calloc(1, sizeof *job);
  if (!job) return throw_error(env, "fill: out of memory");
  double start = -1, end = -1;
  napi_get_value_double(env, argv[2], &start);
  napi_get_value_double(env, argv[3], &end);
  job->start = (uint64_t)start;
  job->end = (uint64_t)end;
  job->url = string_arg(env, argv[0]);
  uint32_t header_count = 0;
  napi_get_array_length(env, argv[1], &header_count);
  int bad = !job->url || !(start >= 0 && end > start && end - start <= 1024.0 * 1024 * 1024) || header_count > 64;
  for (uint32_t i = 0; !bad && i < header_count; i++) {
    napi_value item;
    napi_get_element(env, argv[1], i, &item);
    char *header = string_arg(env, item);
    struct curl_slist *next = header ? curl_slist_append(job->headers, header) : NULL;
    free(header);
    if (!next) bad = 1;
    else job->headers = next;
  }
  /* Without this, curl sends "Expect" and "Accept" headers we did not sign; harmless but noisy. */
  if (!bad) job->headers = curl_slist_append(job->headers, "Accept:");
  double timeout = number_property(env, argv[5], "timeoutSeconds");
  job->timeout_s = timeout >= 1 && timeout <= 3600 ? (long)timeout : 30;
  job->ca_file = string_property(env, argv[5], "caFile");
  if (bad || parse_chunks(env, argv[4], job) != 0) {
    free_job(job);
    return throw_error(env, "fill: bad url, headers, range or chunk list");
  }
  napi_create_reference(env, argv[6], 1, &job->callback);
  for (uint32_t i = 0; i < job->count; i++) bfs_cache_fill_event(job->chunks[i].path, 0, 0);
  if (pending_jobs++ == 0) napi_ref_threadsafe_function(env, done_tsfn);
  pthread_mutex_lock(&queue_lock);
  if (queue_tail) queue_tail->next = job;
  else queue_head = job;
  queue_tail = job;
  pthread_cond_signal(&queue_cond);
  pthread_mutex_unlock(&queue_lock);
  return NULL;
}
