// SPDX-License-Identifier: Apache-2.0
// mimalloc as a peer, loaded with dlopen(RTLD_LOCAL).
//
// Linking libmimalloc.so would replace malloc (and so operator new) for the whole
// benchmark binary, and the "glibc new/delete" contender would silently measure
// mimalloc. Loaded locally, its mi_* functions are available while malloc stays
// glibc's. Aborts with a message if the library is missing.
#pragma once

#include <dlfcn.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace bench {

struct MimallocApi {
  void* (*malloc)(std::size_t) = nullptr;
  void* (*malloc_aligned)(std::size_t, std::size_t) = nullptr;
  void (*free)(void*) = nullptr;

  static const MimallocApi& get() {
    static const MimallocApi api = load();
    return api;
  }

 private:
  static MimallocApi load() {
    void* lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      std::fprintf(stderr, "cannot load mimalloc (Debian package libmimalloc2.0): %s\n", dlerror());
      std::abort();
    }
    MimallocApi api;
    api.malloc = reinterpret_cast<void* (*)(std::size_t)>(dlsym(lib, "mi_malloc"));
    api.malloc_aligned = reinterpret_cast<void* (*)(std::size_t, std::size_t)>(dlsym(lib, "mi_malloc_aligned"));
    api.free = reinterpret_cast<void (*)(void*)>(dlsym(lib, "mi_free"));
    if (!api.malloc || !api.malloc_aligned || !api.free) {
      std::fprintf(stderr, "mimalloc lacks mi_malloc/mi_malloc_aligned/mi_free\n");
      std::abort();
    }
    return api;
  }
};

}  // namespace bench
