// SPDX-License-Identifier: Apache-2.0
// src/debug_tracker.cpp — object states for the debug checks (see debug_tracker.hpp).
#include "cistern/detail/debug_tracker.hpp"

#include <mutex>
#include <string>
#include <unordered_map>

#include "cistern/detail/config.hpp"

#if CISTERN_TSAN
extern "C" {
void AnnotateIgnoreSyncBegin(const char* file, int line);
void AnnotateIgnoreSyncEnd(const char* file, int line);
void AnnotateIgnoreReadsBegin(const char* file, int line);
void AnnotateIgnoreReadsEnd(const char* file, int line);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
}
#endif

namespace cistern::detail::debug {
namespace {

enum class State : unsigned char { in_use, cached, detached };
struct Entry {
  const void* pool;
  State state;
};

// Hides the tracker from ThreadSanitizer: its lock would otherwise order every
// get and put of every thread and so hide races in the pools' own data path.
struct Invisible {
#if CISTERN_TSAN
  Invisible() {
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~Invisible() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
  }
#endif
};

struct Tracker {
  std::mutex mu;
  std::unordered_map<const void*, Entry> objects;
};
Tracker& tracker() {
  static Tracker* t = new Tracker;  // never destroyed: pools may die after statics
  return *t;
}

[[noreturn]] void fail(const char* pool, const std::string& message) {
  check_failed("debug check", __FILE__, __LINE__, pool, message.c_str());
}

}  // namespace

void on_make(const void* pool, const void* object) noexcept {
  [[maybe_unused]] Invisible quiet;
  Tracker& t = tracker();
  std::lock_guard lock(t.mu);
  t.objects[object] = Entry{pool, State::in_use};
}

void on_get(const void* pool, const char* name, const void* object) noexcept {
  [[maybe_unused]] Invisible quiet;
  Tracker& t = tracker();
  std::lock_guard lock(t.mu);
  auto it = t.objects.find(object);
  if (it == t.objects.end() || it->second.pool != pool || it->second.state != State::cached)
    fail(name, "a cached object was changed while cached (internal error or memory corruption)");
  it->second.state = State::in_use;
}

void on_put(const void* pool, const char* name, const void* object) noexcept {
  [[maybe_unused]] Invisible quiet;
  Tracker& t = tracker();
  std::lock_guard lock(t.mu);
  auto it = t.objects.find(object);
  if (it == t.objects.end())
    fail(name, "release() of an object that did not come from any pool (or was already destroyed)");
  if (it->second.pool != pool)
    fail(name, "release() of an object that came from another pool (returned to the wrong pool)");
  if (it->second.state == State::cached)
    fail(name, "object returned twice (double return): it is already cached");
  it->second.state = State::cached;
}

void on_destroy(const void* object) noexcept {
  [[maybe_unused]] Invisible quiet;
  Tracker& t = tracker();
  std::lock_guard lock(t.mu);
  t.objects.erase(object);
}

void on_detach(const void* object) noexcept {
  [[maybe_unused]] Invisible quiet;
  Tracker& t = tracker();
  std::lock_guard lock(t.mu);
  auto it = t.objects.find(object);
  if (it != t.objects.end()) it->second.state = State::detached;
}

std::size_t in_use(const void* pool) noexcept {
  [[maybe_unused]] Invisible quiet;
  Tracker& t = tracker();
  std::lock_guard lock(t.mu);
  std::size_t n = 0;
  for (const auto& [object, entry] : t.objects)
    if (entry.pool == pool && entry.state == State::in_use) ++n;
  return n;
}

}  // namespace cistern::detail::debug
