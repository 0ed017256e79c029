// SPDX-License-Identifier: Apache-2.0
// WorkerPool: exactly-once, capacity, expiry, rejection, exceptions, tune, shutdown.
#include "cistern/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cistern/metrics.hpp"
#include "test_support.hpp"

using cistern::WorkerPool;
using namespace std::chrono_literals;

namespace {

std::size_t process_threads() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

void spin_for(std::chrono::microseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// A count of tasks, a tenth of it under the sanitizers (they run 5-20x slower).
constexpr int scaled(int full) { return CISTERN_TSAN || CISTERN_ASAN ? full / 10 : full; }

TEST(WorkerPool, EveryTaskRunsExactlyOnceFromFourSubmitters) {
  constexpr int kTasks = scaled(1'000'000);
  std::vector<std::atomic<std::uint8_t>> runs(kTasks);
  {
    WorkerPool pool({.capacity = 4});
    std::vector<std::thread> submitters;
    for (int s = 0; s < 4; ++s)
      submitters.emplace_back([&, s] {
        for (int i = s; i < kTasks; i += 4) ASSERT_TRUE(pool.submit([&runs, i] { runs[i].fetch_add(1); }));
      });
    for (auto& t : submitters) t.join();
    EXPECT_TRUE(pool.shutdown(60s));
    EXPECT_EQ(pool.stats().completed, static_cast<std::uint64_t>(kTasks));
  }
  long wrong = 0;
  for (auto& r : runs) wrong += r.load() != 1;
  EXPECT_EQ(wrong, 0);
}

// The rings behind busy workers, at their edges: tiny and odd backlogs (the bound
// kept exactly by a second check, the ring wrapping every few tasks), workers
// that go idle and come back between bursts (a ring closed, drained and opened
// again, worker objects reused), more submitters than workers and cores.
TEST(WorkerPool, RingsLoseNothingAcrossWrapsClosesAndReopens) {
  constexpr int kPerRound = scaled(30'000);
  for (std::size_t backlog : {1u, 2u, 3u, 5u, 64u}) {
    SCOPED_TRACE(backlog);
    constexpr int kRounds = 4, kSubmitters = 6;
    std::vector<std::atomic<std::uint8_t>> runs(kPerRound * kRounds);
    WorkerPool pool({.capacity = 3, .idle_expiry = 5ms, .backlog = backlog});
    for (int round = 0; round < kRounds; ++round) {
      std::vector<std::thread> submitters;
      for (int s = 0; s < kSubmitters; ++s)
        submitters.emplace_back([&, s, round] {
          for (int i = s; i < kPerRound; i += kSubmitters) {
            const int id = round * kPerRound + i;
            ASSERT_TRUE(pool.submit([&runs, id] {
              runs[id].fetch_add(1);
              if (id % 997 == 0) std::this_thread::sleep_for(200us);  // a long task: rings fill, others take them
            }));
          }
        });
      for (auto& t : submitters) t.join();
      std::this_thread::sleep_for(round % 2 == 0 ? 1ms : 20ms);  // idle, or expired and restarted
    }
    EXPECT_TRUE(pool.shutdown(60s));
    const auto st = pool.stats();
    EXPECT_EQ(st.submitted, std::uint64_t(kPerRound) * kRounds);
    EXPECT_EQ(st.completed, std::uint64_t(kPerRound) * kRounds);
    long wrong = 0;
    for (auto& r : runs) wrong += r.load() != 1;
    EXPECT_EQ(wrong, 0);
  }
}

// Captures of any size and alignment run and are destroyed once: small ones
// inline in a ring slot, larger or over-aligned ones on the heap.
// An idle worker gets the next task, also when submitters have been queueing
// behind a busy one (the lock-free path to that worker's ring must not bypass it).
TEST(WorkerPool, AnIdleWorkerIsPreferredToQueueingBehindABusyOne) {
  WorkerPool pool({.capacity = 2});
  std::atomic<bool> release_a{false}, release_b{false}, ran{false};
  ASSERT_TRUE(pool.submit([&] {
    while (!release_a.load()) std::this_thread::sleep_for(1ms);
  }));
  ASSERT_TRUE(pool.submit([&] {
    while (!release_b.load()) std::this_thread::sleep_for(1ms);
  }));
  ASSERT_TRUE(cistern_test::eventually([&] { return pool.running() == 2; }));
  ASSERT_TRUE(pool.submit([] {}));  // both busy: queued behind one of them
  release_b = true;                 // one of them finishes and goes idle
  ASSERT_TRUE(cistern_test::eventually([&] { return pool.idle() == 1; }));
  ASSERT_TRUE(pool.submit([&] { ran = true; }));
  EXPECT_TRUE(cistern_test::eventually([&] { return ran.load(); })) << "it waited behind the busy worker";
  release_a = true;
}

// Tasks queued behind a worker stuck in a long task are taken by another worker
// rather than waiting for the long one to finish: by one that runs out of its own
// work, or, if it went idle while the stuck one was between tasks or had not
// started yet (a matter of timing, hence the rounds), by an idle one found by the
// purge timer.
TEST(WorkerPool, QueuedTasksDoNotWaitBehindASlowTaskWhileAnotherWorkerIsFree) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    WorkerPool pool({.capacity = 2});
    std::atomic<bool> release_a{false}, release_b{false};
    std::atomic<int> ran{0};
    ASSERT_TRUE(pool.submit([&] {
      while (!release_a.load()) std::this_thread::sleep_for(1ms);
    }));
    ASSERT_TRUE(pool.submit([&] {
      while (!release_b.load()) std::this_thread::sleep_for(1ms);
    }));
    ASSERT_TRUE(cistern_test::eventually([&] { return pool.running() == 2; }));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.submit([&] { ran.fetch_add(1); }));  // queued
    release_b = true;  // one worker is free now; the other is still in its long task
    EXPECT_TRUE(cistern_test::eventually([&] { return ran.load() == 3; }))
        << ran.load() << " of 3 queued tasks ran while a worker was free";
    release_a = true;
  }
}

TEST(WorkerPool, CapturesOfEverySizeAndAlignment) {
  struct alignas(16) Wide {
    long double v = 1;
  };
  struct Big {
    char bytes[200] = {};
  };
  auto alive = std::make_shared<int>(0);
  std::atomic<int> ran{0};
  {
    WorkerPool pool({.capacity = 2, .backlog = 4});
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(pool.submit([&ran, keep = alive] { ran.fetch_add(1); }));
      ASSERT_TRUE(pool.submit([&ran, w = Wide{}, keep = alive] { ran.fetch_add(w.v == 1 ? 1 : 1000); }));
      ASSERT_TRUE(pool.submit([&ran, b = Big{}, keep = alive] { ran.fetch_add(b.bytes[199] == 0 ? 1 : 1000); }));
    }
    EXPECT_TRUE(pool.shutdown(60s));
  }
  EXPECT_EQ(ran.load(), 3000);
  EXPECT_EQ(alive.use_count(), 1) << "every capture was destroyed";
}

TEST(WorkerPool, CapacityIsNeverExceeded) {
  WorkerPool pool({.capacity = 3});
  std::atomic<int> now{0}, peak{0};
  std::vector<std::thread> submitters;
  for (int s = 0; s < 6; ++s)
    submitters.emplace_back([&] {
      for (int i = 0; i < 300; ++i)
        pool.submit([&] {
          int n = now.fetch_add(1) + 1;
          int p = peak.load();
          while (n > p && !peak.compare_exchange_weak(p, n)) {
          }
          spin_for(20us);
          now.fetch_sub(1);
        });
    });
  for (auto& t : submitters) t.join();
  pool.shutdown(10s);
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);
}

TEST(WorkerPool, IdleWorkersExpireAndThreadsGoAway) {
  WorkerPool pool({.capacity = 64, .idle_expiry = 100ms});
  // Counted once the pool exists: it starts the shared housekeeping thread (and a
  // sanitizer may start one of its own with the first thread).
  std::size_t before = process_threads();
  std::atomic<int> inside{0};
  std::atomic<bool> release{false};
  for (int i = 0; i < 64; ++i)
    ASSERT_TRUE(pool.submit([&] {
      inside.fetch_add(1);
      while (!release.load()) std::this_thread::sleep_for(1ms);
    }));
  ASSERT_TRUE(cistern_test::eventually([&] { return inside.load() == 64; }));
  EXPECT_GE(process_threads(), before + 64);
  release = true;
  auto burst_end = std::chrono::steady_clock::now();
  ASSERT_TRUE(cistern_test::eventually([&] { return pool.idle() == 0 && pool.running() == 0; }, 3000ms));
  ASSERT_TRUE(cistern_test::eventually([&] { return process_threads() <= before; }, 3000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - burst_end, 100ms + 500ms) << "idle_expiry + a purge interval (+ slack)";
}

TEST(WorkerPool, NonblockingRejectsWhenAllAreBusy) {
  WorkerPool pool({.capacity = 1, .nonblocking = true});
  std::atomic<bool> release{false};
  ASSERT_TRUE(pool.submit([&] {
    while (!release.load()) std::this_thread::sleep_for(1ms);
  }));
  EXPECT_FALSE(pool.submit([] {}));
  EXPECT_EQ(pool.stats().rejected, 1u);
  release = true;
}

// Tasks may submit to their own pool. When every worker is in such a task and
// waits for room that only the others could make, the last one to try is told
// false instead of all of them waiting forever; the rest then proceed.
TEST(WorkerPool, TasksSubmittingToTheirOwnFullPoolAreRejectedRatherThanDeadlocked) {
  for (std::size_t backlog : {0u, 1u}) {
    SCOPED_TRACE(backlog);
    WorkerPool pool({.capacity = 2, .backlog = backlog});
    std::atomic<int> entered{0}, outer_done{0}, rejected{0}, inner_ran{0};
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(pool.submit([&] {
        entered.fetch_add(1);
        while (entered.load() < 2) std::this_thread::yield();  // both workers busy
        // More than both rings hold: one of the two ends up waiting for room.
        for (std::size_t k = 0; k < 2 * backlog + 1; ++k)
          if (!pool.submit([&] { inner_ran.fetch_add(1); })) rejected.fetch_add(1);
        outer_done.fetch_add(1);
      }));
    }
    const int nested = 2 * (2 * int(backlog) + 1);
    EXPECT_TRUE(cistern_test::eventually([&] { return outer_done.load() == 2; })) << "the tasks deadlocked";
    EXPECT_TRUE(cistern_test::eventually([&] { return inner_ran.load() + rejected.load() == nested; }));
    EXPECT_GE(rejected.load(), 1);
    EXPECT_TRUE(pool.shutdown(5s));
    EXPECT_EQ(pool.stats().rejected, std::uint64_t(rejected.load()));
  }
}

TEST(WorkerPool, MaxWaitingBoundsBlockedSubmitters) {
  WorkerPool pool({.capacity = 1, .max_waiting = 1, .backlog = 0});
  std::atomic<bool> release{false};
  ASSERT_TRUE(pool.submit([&] {
    while (!release.load()) std::this_thread::sleep_for(1ms);
  }));
  std::thread blocked([&] { EXPECT_TRUE(pool.submit([] {})); });
  ASSERT_TRUE(cistern_test::eventually([&] { return pool.waiting() == 1; }));
  EXPECT_FALSE(pool.submit([] {})) << "a second waiter is over max_waiting";
  release = true;
  blocked.join();
}

TEST(WorkerPool, ExceptionsGoToTheHandlerAndTheWorkerLivesOn) {
  std::atomic<int> caught{0};
  WorkerPool pool({.capacity = 1, .on_exception = [&](std::exception_ptr e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::runtime_error& ex) {
                       if (std::string(ex.what()) == "boom") caught.fetch_add(1);
                     }
                   }});
  for (int i = 0; i < 10; ++i) pool.submit([] { throw std::runtime_error("boom"); });
  auto f = pool.async([] { return 42; });
  EXPECT_EQ(f.get(), 42);
  auto bad = pool.async([]() -> int { throw std::logic_error("from async"); });
  EXPECT_THROW(bad.get(), std::logic_error);
  pool.shutdown(10s);
  EXPECT_EQ(caught.load(), 10);
  EXPECT_EQ(pool.stats().failed, 10u) << "async exceptions go to the future, not the handler";
  EXPECT_EQ(pool.stats().threads_started, 1u);
}

TEST(WorkerPool, MoveOnlyTasksAndStateDestroyedRightAfterRunning) {
  WorkerPool pool({.capacity = 2});
  auto token = std::make_shared<int>(7);
  std::weak_ptr<int> watch = token;
  std::atomic<bool> ran{false};
  auto owned = std::make_unique<int>(5);
  pool.submit([t = std::move(token), o = std::move(owned), &ran] { ran = *t + *o == 12; });
  ASSERT_TRUE(cistern_test::eventually([&] { return ran.load() && watch.expired(); }))
      << "the captured state went with the task, while the worker lives on";
  EXPECT_EQ(pool.idle() + pool.running(), 1u);
}

TEST(WorkerPool, TuneUpAndDownUnderLoad) {
  WorkerPool pool({.capacity = 2});
  std::atomic<int> now{0}, peak{0};
  std::atomic<bool> stop{false};
  auto task = [&] {
    int n = now.fetch_add(1) + 1;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    spin_for(50us);
    now.fetch_sub(1);
  };
  std::vector<std::thread> submitters;
  for (int s = 0; s < 8; ++s)
    submitters.emplace_back([&] {
      while (!stop.load()) pool.submit(task);
    });
  std::this_thread::sleep_for(50ms);
  EXPECT_LE(peak.load(), 2);
  pool.tune(6);
  EXPECT_TRUE(cistern_test::eventually([&] { return peak.load() > 2; }));
  pool.tune(1);
  // Busy workers beyond 1 finish the task they are in and leave.
  EXPECT_TRUE(cistern_test::eventually([&] { return pool.running() <= 1; }));
  peak = 0;
  std::this_thread::sleep_for(100ms);
  EXPECT_LE(peak.load(), 1);
  stop = true;
  for (auto& t : submitters) t.join();
  EXPECT_EQ(pool.capacity(), 1u);
  EXPECT_THROW(pool.tune(0), std::invalid_argument);
}

// Shrinking takes effect as the busy workers finish the task they are in, not
// after the tasks queued behind them: those go to the workers that stay. Among
// the tasks that start after tune(1) returned, never two run at once (a worker
// that read the capacity just before the change may start one more task).
TEST(WorkerPool, ShrinkingTakesEffectAfterTheCurrentTaskNotTheQueue) {
  WorkerPool pool({.capacity = 4, .backlog = 64});
  std::atomic<bool> shrunk{false}, stop{false};
  std::atomic<int> after{0}, overlaps{0};
  std::atomic<long> ran{0};
  auto task = [&] {
    const bool late = shrunk.load();
    if (late && after.fetch_add(1) > 0) overlaps.fetch_add(1);
    spin_for(100us);
    if (late) after.fetch_sub(1);
    ran.fetch_add(1);
  };
  std::vector<std::thread> submitters;
  for (int s = 0; s < 4; ++s)
    submitters.emplace_back([&] {
      while (!stop.load()) ASSERT_TRUE(pool.submit(task));
    });
  ASSERT_TRUE(cistern_test::eventually([&] { return pool.running() == 4 && ran.load() > 100; }));
  pool.tune(1);
  shrunk = true;
  const long at_shrink = ran.load();
  ASSERT_TRUE(cistern_test::eventually([&] { return ran.load() > at_shrink + 500; }));
  stop = true;
  for (auto& t : submitters) t.join();
  EXPECT_TRUE(pool.shutdown(60s));
  EXPECT_LE(overlaps.load(), 3) << "tasks kept running side by side after the pool shrank to 1";
}

// What workers leave behind when the pool shrinks still runs, exactly once, also
// when shutdown() follows at once.
TEST(WorkerPool, ShutdownRightAfterShrinkingRunsWhatWorkersLeftBehind) {
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE(round);
    constexpr int kTasks = 4 * 64;
    std::vector<std::atomic<std::uint8_t>> runs(kTasks);
    WorkerPool pool({.capacity = 4, .backlog = 64});
    std::atomic<bool> go{false};
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(pool.submit([&] {
        while (!go.load()) std::this_thread::yield();
      }));
    for (int id = 0; id < kTasks; ++id)
      ASSERT_TRUE(pool.submit([&runs, id] { runs[id].fetch_add(1); }));  // queued behind the four
    pool.tune(1);
    go = true;  // three of the four leave with their rings full
    EXPECT_TRUE(pool.shutdown(60s));
    long wrong = 0;
    for (auto& r : runs) wrong += r.load() != 1;
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(pool.stats().completed, std::uint64_t(kTasks + 4));
  }
}

// Capacity going up and down while submitters keep rings full, some tasks are
// long (others take what waits behind them) and idle workers expire: every
// accepted task still runs exactly once, and the counts agree.
TEST(WorkerPool, NothingIsLostOrRunTwiceWhileTheCapacityChanges) {
  constexpr int kTasks = scaled(200'000);
  constexpr int kSubmitters = 4;
  std::vector<std::atomic<std::uint8_t>> runs(kTasks);
  WorkerPool pool({.capacity = 2, .idle_expiry = 2ms, .backlog = 8});
  std::atomic<int> next{0};
  std::atomic<bool> done{false};
  std::thread tuner([&] {
    for (std::size_t n = 1; !done.load(); n = n % 5 + 1) {
      pool.tune(n);
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> submitters;
  for (int s = 0; s < kSubmitters; ++s)
    submitters.emplace_back([&] {
      for (int id; (id = next.fetch_add(1)) < kTasks;) {
        ASSERT_TRUE(pool.submit([&runs, id] {
          runs[id].fetch_add(1);
          if (id % 500 == 0) std::this_thread::sleep_for(300us);  // long: rings fill behind it
        }));
      }
    });
  for (auto& t : submitters) t.join();
  done = true;
  tuner.join();
  EXPECT_TRUE(pool.shutdown(60s));
  const auto st = pool.stats();
  EXPECT_EQ(st.submitted, std::uint64_t(kTasks));
  EXPECT_EQ(st.completed, std::uint64_t(kTasks));
  EXPECT_EQ(st.rejected, 0u);
  long wrong = 0;
  for (auto& r : runs) wrong += r.load() != 1;
  EXPECT_EQ(wrong, 0);
}

TEST(WorkerPool, ShutdownRunsAcceptedTasksAndRejectsBlockedSubmitters) {
  WorkerPool pool({.capacity = 2, .backlog = 0});
  std::atomic<int> ran{0};
  std::atomic<bool> release{false};
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(pool.submit([&] {
      while (!release.load()) std::this_thread::sleep_for(1ms);
      ran.fetch_add(1);
    }));
  std::atomic<int> rejected{0};
  std::vector<std::thread> blocked;
  for (int i = 0; i < 3; ++i)
    blocked.emplace_back([&] {
      if (!pool.submit([&] { ran.fetch_add(100); })) rejected.fetch_add(1);
    });
  ASSERT_TRUE(cistern_test::eventually([&] { return pool.waiting() == 3; }));
  std::thread stopper([&] { EXPECT_TRUE(pool.shutdown(5s)); });
  std::this_thread::sleep_for(20ms);
  release = true;
  stopper.join();
  for (auto& t : blocked) t.join();
  EXPECT_EQ(ran.load(), 2) << "both accepted tasks ran; none of the blocked ones was accepted";
  EXPECT_EQ(rejected.load(), 3);
  EXPECT_FALSE(pool.submit([] {}));
  EXPECT_EQ(pool.idle() + pool.running(), 0u);
}

TEST(WorkerPool, BacklogTasksAreAcceptedAndAllRunAtShutdown) {
  WorkerPool pool({.capacity = 2, .backlog = 3});
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  auto slow = [&] {
    while (!release.load()) std::this_thread::sleep_for(1ms);
    ran.fetch_add(1);
  };
  for (int i = 0; i < 2 + 2 * 3; ++i) ASSERT_TRUE(pool.submit(slow)) << i;  // 2 running + 2 x 3 queued
  std::atomic<bool> blocked_done{false};
  std::thread blocked([&] {
    EXPECT_TRUE(pool.submit(slow));  // every backlog is full: waits for room
    blocked_done = true;
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(blocked_done.load());
  EXPECT_EQ(pool.waiting(), 1u);
  release = true;
  blocked.join();
  EXPECT_TRUE(pool.shutdown(5s));
  EXPECT_EQ(ran.load(), 9) << "every accepted task ran exactly once";
}

// A task that shuts down its own pool would wait for itself forever: it gets an
// exception instead (which goes to on_exception like any other).
TEST(WorkerPool, ShutdownFromItsOwnTaskIsAnErrorNotAHang) {
  std::atomic<bool> told{false};
  WorkerPool pool({.capacity = 1, .on_exception = [&](std::exception_ptr e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::logic_error& err) {
                       told = std::string(err.what()).find("its own tasks") != std::string::npos;
                     } catch (...) {
                     }
                   }});
  ASSERT_TRUE(pool.submit([&] { pool.shutdown(1s); }));
  EXPECT_TRUE(cistern_test::eventually([&] { return told.load(); }));
  EXPECT_TRUE(pool.shutdown(5s));
}

TEST(WorkerPool, ShutdownTimeoutReportsUnfinishedWork) {
  WorkerPool pool({.capacity = 1});
  std::atomic<bool> release{false};
  pool.submit([&] {
    while (!release.load()) std::this_thread::sleep_for(1ms);
  });
  EXPECT_FALSE(pool.shutdown(20ms));
  release = true;  // the destructor waits for it
}

TEST(WorkerPool, OptionsAreCheckedAndNamedPoolsAppearInMetrics) {
  EXPECT_THROW(WorkerPool({.capacity = 0}), std::invalid_argument);
  EXPECT_THROW(WorkerPool({.capacity = 1, .idle_expiry = 0ms}), std::invalid_argument);
  WorkerPool pool({.capacity = 2, .name = "exports"});
  pool.submit([] {});
  pool.shutdown(5s);
  EXPECT_NE(cistern::metrics_text().find("cistern_worker_pool_completed_total{pool=\"exports\"} 1"), std::string::npos);
}

}  // namespace
