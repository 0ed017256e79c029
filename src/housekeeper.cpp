// SPDX-License-Identifier: Apache-2.0
// src/housekeeper.cpp — the shared housekeeping thread and the coarse clock.
#include "cistern/detail/housekeeper.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace cistern::detail {

std::atomic<std::int64_t> g_coarse_now_ms{0};

std::int64_t precise_now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {
void refresh_coarse_clock() noexcept {
  g_coarse_now_ms.store(precise_now_ms(), std::memory_order_relaxed);  // a clock reading
}
}  // namespace

namespace {

class Housekeeper {
 public:
  void add(HousekeepingClient* c) {
    std::lock_guard lock(mu_);
    refresh_coarse_clock();
    clients_.push_back(c);
    if (!thread_.joinable()) {
      stop_ = false;
      thread_ = std::thread([this] { run(); });
    }
  }

  void remove(HousekeepingClient* c) noexcept {
    std::thread finished;
    {
      std::lock_guard lock(mu_);  // held while housekeep() runs: after this, c is never called
      std::erase(clients_, c);
      if (clients_.empty() && thread_.joinable()) {
        stop_ = true;
        finished = std::move(thread_);
      }
    }
    cv_.notify_all();
    if (finished.joinable()) {
      if (finished.get_id() == std::this_thread::get_id()) {
        finished.detach();  // a client destroyed from its own housekeep(): let the thread end by itself
      } else {
        finished.join();
      }
    }
  }

  // Lock-free: the thread wakes within kTickMs anyway, the notify only hurries it.
  void poke() noexcept {
    poked_.store(true, std::memory_order_relaxed);  // read by run() within a tick
    cv_.notify_all();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    std::int64_t next_pass = 0;
    while (!stop_) {
      refresh_coarse_clock();
      std::int64_t now = coarse_now_ms();
      if (now >= next_pass || poked_.exchange(false, std::memory_order_relaxed)) {
        next_pass = now + kPassMs;
        // Clients are removed only under mu_, which is held here.
        for (HousekeepingClient* c : clients_) c->housekeep(now);
      }
      cv_.wait_for(lock, std::chrono::milliseconds(kTickMs), [&] { return stop_ || poked_.load(std::memory_order_relaxed); });
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HousekeepingClient*> clients_;
  std::thread thread_;
  bool stop_ = false;
  std::atomic<bool> poked_{false};
};

Housekeeper& housekeeper() {
  static Housekeeper* h = new Housekeeper;  // never destroyed: pools may die after statics
  return *h;
}

}  // namespace

void housekeeper_add(HousekeepingClient* client) { housekeeper().add(client); }
void housekeeper_remove(HousekeepingClient* client) noexcept { housekeeper().remove(client); }
void housekeeper_poke() noexcept { housekeeper().poke(); }

}  // namespace cistern::detail
