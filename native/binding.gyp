{
  "targets": [
    {
      "target_name": "bucketfs_fuse",
      "sources": ["src/addon.c", "src/session.c", "src/dispatch.c", "src/cache.c", "src/cache-js.c", "src/cache-fill.c", "src/fetch.c", "src/head.c", "src/crc32.c", "src/listing.c"],
      "include_dirs": ["/usr/include/fuse3"],
      "libraries": ["-lfuse3", "-lpthread", "-lz", "-lcurl"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fvisibility=hidden"],
      "conditions": [
        ["\"<!(echo $BUCKETFS_ASAN)\" == \"1\"", {
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "ldflags": ["-fsanitize=address"]
        }]
      ]
    }
  ]
}
