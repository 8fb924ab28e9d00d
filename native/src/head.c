/*
 * HEADs sent from native threads (readdir's attribute completion, src/vfs/native-heads.ts).
 *
 * Why: a cold `ls -l` sends one HEAD per entry. In JavaScript that cost ~0.9 ms of event-loop CPU
 * per HEAD (socket writes, HTTP client, GC), all on one thread; here each HEAD runs on one of a
 * few threads with its own keep-alive connection, and JavaScript only signs the URL and reads
 * back a handful of header lines.
 *
 * head(url, { caFile?, timeoutSeconds }, callback): callback(error | null, status, headers) with
 * headers a flat array [name, value, ...] of Content-Length, ETag, Last-Modified and
 * x-amz-meta-* (names lowercased). The server is not trusted: header lines beyond HEAD_MAX_LINE
 * bytes, more than HEAD_MAX_HEADERS kept headers or HEAD_MAX_BYTES in all fail the request (and
 * JavaScript falls back to its own HEAD, whose parser has its own limits).
 */
#define _GNU_SOURCE
#include "bucketfs_fuse.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_THREADS 16
#define HEAD_MAX_HEADERS 64
#define HEAD_MAX_BYTES 16384
#define HEAD_MAX_LINE 8192

typedef struct head_job {
  char *url, *ca_file;
  long timeout_s;
  long status;
  char error[160];
  /* kept headers: "name\0value\0" pairs packed into kept[0..kept_len) */
  char kept[HEAD_MAX_BYTES];
  size_t kept_len, total_bytes;
  unsigned kept_count;
  napi_ref callback;
  struct head_job *next;
} head_job;

static pthread_mutex_t head_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t head_cond = PTHREAD_COND_INITIALIZER;
static head_job *head_first, *head_last;
static int head_started;
static napi_threadsafe_function head_tsfn;
static unsigned head_pending; /* event loop thread only */

static int wanted(const char *name, size_t len) {
  static const char *names[] = {"content-length", "etag", "last-modified"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (len == strlen(names[i]) && strncasecmp(name, names[i], len) == 0) return 1;
  return len > 11 && strncasecmp(name, "x-amz-meta-", 11) == 0;
}

static size_t head_fail(head_job *job, const char *message) {
  if (!job->error[0]) snprintf(job->error, sizeof job->error, "%s", message);
  return 0; /* tells curl to abort the transfer */
}

/* One header line per call, "Name: value\r\n" (or the status line). */
static size_t on_head_header(char *line, size_t size, size_t count, void *userdata) {
  head_job *job = userdata;
  size_t n = size * count;
  job->total_bytes += n;
  if (n > HEAD_MAX_LINE || job->total_bytes > 4 * HEAD_MAX_BYTES) return head_fail(job, "response headers too large");
  if (n >= 5 && strncasecmp(line, "HTTP/", 5) == 0) { /* a new response (after 100-continue): start over */
    job->kept_len = 0;
    job->kept_count = 0;
    return n;
  }
  const char *colon = memchr(line, ':', n);
  if (!colon || !wanted(line, (size_t)(colon - line))) return n;
  size_t name_len = (size_t)(colon - line);
  const char *value = colon + 1, *end = line + n;
  while (value < end && (*value == ' ' || *value == '\t')) value++;
  while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
  size_t value_len = (size_t)(end - value);
  if (memchr(value, 0, value_len)) return head_fail(job, "NUL in a response header");
  if (job->kept_count >= HEAD_MAX_HEADERS || job->kept_len + name_len + value_len + 2 > sizeof job->kept)
    return head_fail(job, "too many response headers");
  char *out = job->kept + job->kept_len;
  for (size_t i = 0; i < name_len; i++) out[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ? line[i] + 32 : line[i]);
  out[name_len] = 0;
  memcpy(out + name_len + 1, value, value_len);
  out[name_len + 1 + value_len] = 0;
  job->kept_len += name_len + value_len + 2;
  job->kept_count++;
  return n;
}

static void run_head(head_job *job, CURL *curl) {
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, job->url);
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_head_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, job);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, job->timeout_s);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  if (job->ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, job->ca_file);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &job->status);
  if (rc != CURLE_OK) head_fail(job, curl_easy_strerror(rc));
}

static void *head_worker(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "bfs-head");
  CURL *curl = curl_easy_init(); /* kept across jobs: its connection is reused */
  for (;;) {
    pthread_mutex_lock(&head_lock);
    while (!head_first) pthread_cond_wait(&head_cond, &head_lock);
    head_job *job = head_first;
    head_first = job->next;
    if (!head_first) head_last = NULL;
    pthread_mutex_unlock(&head_lock);
    if (curl) run_head(job, curl);
    else head_fail(job, "libcurl could not start");
    napi_call_threadsafe_function(head_tsfn, job, napi_tsfn_blocking);
  }
  return NULL;
}

static void free_head(head_job *job) {
  free(job->url);
  free(job->ca_file);
  free(job);
}

/* On the event loop: callback(error | null, status, [name, value, ...]) */
static void head_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  head_job *job = data;
  if (env) {
    napi_value cb, undefined, argv[3];
    napi_get_undefined(env, &undefined);
    napi_get_reference_value(env, job->callback, &cb);
    if (job->error[0]) {
      napi_value message;
      napi_create_string_utf8(env, job->error, NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &argv[0]);
    } else {
      napi_get_null(env, &argv[0]);
    }
    napi_create_double(env, (double)job->status, &argv[1]);
    napi_create_array_with_length(env, job->kept_count * 2, &argv[2]);
    const char *p = job->kept;
    for (uint32_t i = 0; i < job->kept_count * 2; i++) {
      napi_value s;
      size_t len = strlen(p);
      /* latin1: header bytes pass through unchanged (as Node's HTTP parser gives them) */
      napi_create_string_latin1(env, p, len, &s);
      napi_set_element(env, argv[2], i, s);
      p += len + 1;
    }
    napi_call_function(env, undefined, cb, 3, argv, NULL);
    napi_delete_reference(env, job->callback);
    if (--head_pending == 0) napi_unref_threadsafe_function(env, head_tsfn);
  }
  free_head(job);
}

static int start_head_threads(napi_env env) {
  if (head_started) return 0;
  napi_value name;
  napi_create_string_utf8(env, "bucketfs-head", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, head_done, &head_tsfn) != napi_ok) return -1;
  napi_unref_threadsafe_function(env, head_tsfn);
  for (int i = 0; i < HEAD_THREADS; i++) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, head_worker, NULL) != 0) return -1;
    pthread_detach(thread);
  }
  head_started = 1;
  return 0;
}

static char *head_string(napi_env env, napi_value value) {
  size_t length;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) return NULL;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length > 16384) return NULL;
  char *out = malloc(length + 1);
  if (out) napi_get_value_string_utf8(env, value, out, length + 1, &length);
  return out;
}

/* head(url, { timeoutSeconds, caFile? }, callback) */
napi_value bfs_head(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_error(env, NULL, "head(url, options, callback)");
    return NULL;
  }
  if (start_head_threads(env) != 0) {
    napi_throw_error(env, NULL, "head: could not start the HEAD threads");
    return NULL;
  }
  head_job *job = calloc(1, sizeof *job);
  if (job) job->url = head_string(env, argv[0]);
  if (!job || !job->url) {
    if (job) free_head(job);
    napi_throw_error(env, NULL, "head: bad url");
    return NULL;
  }
  double timeout = 0;
  if (napi_get_named_property(env, argv[1], "timeoutSeconds", &v) == napi_ok) napi_get_value_double(env, v, &timeout);
  job->timeout_s = timeout >= 1 && timeout <= 600 ? (long)timeout : 30;
  if (napi_get_named_property(env, argv[1], "caFile", &v) == napi_ok) job->ca_file = head_string(env, v);
  napi_create_reference(env, argv[2], 1, &job->callback);
  if (head_pending++ == 0) napi_ref_threadsafe_function(env, head_tsfn);
  pthread_mutex_lock(&head_lock);
  if (head_last) head_last->next = job;
  else head_first = job;
  head_last = job;
  pthread_cond_signal(&head_cond);
  pthread_mutex_unlock(&head_lock);
  return NULL;
}
