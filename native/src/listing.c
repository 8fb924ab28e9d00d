/*
 * Directory listings kept per open directory handle, served to the kernel from here.
 *
 * Why: libfuse 3.14's high-level API drops the attributes of entries a filesystem lists in one
 * go (offset 0): READDIRPLUS then carries no inode, and `ls -l` of N entries costs N LOOKUPs
 * through JavaScript (measured: 2,000 getattrs for one `ls -l` of 2,000 objects). Entries given
 * with their own offsets do carry the attributes (and the kernel caches them for entry_timeout
 * / attr_timeout). So JavaScript lists once, at offset 0 (opendir, or rewinddir), the answer is
 * copied here, and every later READDIR(PLUS) page is cut from this copy without JavaScript.
 */
#define _GNU_SOURCE
#include "bucketfs_fuse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *name;
  struct stat st;
  int has_stat;
} bfs_dirent;

struct bfs_listing {
  bfs_dirent *entries;
  size_t count;
  int loaded;
};

bfs_listing *bfs_listing_new(void) { return calloc(1, sizeof(bfs_listing)); }

static void clear(bfs_listing *l) {
  for (size_t i = 0; i < l->count; i++) free(l->entries[i].name);
  free(l->entries);
  l->entries = NULL;
  l->count = 0;
  l->loaded = 0;
}

void bfs_listing_free(bfs_listing *l) {
  if (!l) return;
  clear(l);
  free(l);
}

/* Replaces the listing with `count` empty entries; 0 or -ENOMEM. */
int bfs_listing_reset(bfs_listing *l, size_t count) {
  clear(l);
  if (count > 0) {
    l->entries = calloc(count, sizeof(bfs_dirent));
    if (!l->entries) return -ENOMEM;
  }
  l->loaded = 1;
  return 0;
}

/* Appends one entry (the name is copied); `st` may be NULL. 0 or -ENOMEM. */
int bfs_listing_add(bfs_listing *l, const char *name, const struct stat *st) {
  char *copy = strdup(name);
  if (!copy) return -ENOMEM;
  bfs_dirent *e = &l->entries[l->count++];
  e->name = copy;
  e->has_stat = st != NULL;
  if (st) e->st = *st;
  return 0;
}

int bfs_listing_loaded(const bfs_listing *l) { return l->loaded; }

static int is_dots(const char *name) {
  return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

/*
 * Hands entries from `offset` on to the kernel, each with its own offset (index + 1), so libfuse
 * passes attributes through in plus mode. "." and ".." go without attributes: libfuse gives them
 * no inode in plus mode.
 */
void bfs_listing_fill(const bfs_listing *l, void *buf, fuse_fill_dir_t filler, off_t offset, int plus) {
  for (size_t i = offset < 0 ? 0 : (size_t)offset; i < l->count; i++) {
    const bfs_dirent *e = &l->entries[i];
    int with_attrs = plus && e->has_stat && !is_dots(e->name);
    if (filler(buf, e->name, e->has_stat ? &e->st : NULL, (off_t)(i + 1), with_attrs ? FUSE_FILL_DIR_PLUS : 0)) break;
  }
}
