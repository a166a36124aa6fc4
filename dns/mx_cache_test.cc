// mx_cache_test.cc — the shared MX cache with an injected clock and
// scripted sources: hits and misses, TTL clamping, negative caching,
// temporary failures, serve-stale, eviction, single-flight (same shard and
// across threads, callbacks on the registering thread), bounds, and
// lock-free readers racing a writer (run under --config=asan / tsan too).
#include "dns/mx_cache.h"

#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "dns/clock.h"

namespace ringpost::dns {
namespace {

MxResult OkResult(uint32_t ttl, std::string site = "192.0.2.1:25") {
  MxResult r;
  r.status = MxStatus::kOk;
  r.code = 250;
  r.enhanced = "2.0.0";
  r.ttl_s = ttl;
  r.site_key = std::move(site);
  MxHost h;
  h.name = "mx.test";
  r.hosts.push_back(h);
  return r;
}

MxResult Temp() {
  MxResult r;
  r.status = MxStatus::kTemporary;
  r.text = "SERVFAIL";
  return r;
}

MxResult NxDomain(uint32_t ttl) {
  MxResult r;
  r.status = MxStatus::kPermanent;
  r.code = 550;
  r.enhanced = "5.1.2";
  r.ttl_s = ttl;
  return r;
}

// Collects fetches; the test completes them when it wants (or `sync`
// answers inside Fetch).
class FakeSource final : public MxSource {
 public:
  std::function<std::optional<MxResult>(std::string_view)> sync;
  std::deque<std::pair<std::string, MxCallback>> pending;
  int fetches = 0;

  void Fetch(std::string_view domain, MxCallback done) override {
    ++fetches;
    if (sync) {
      if (auto r = sync(domain)) {
        done(std::move(*r));
        return;
      }
    }
    pending.emplace_back(std::string(domain), std::move(done));
  }
  void CompleteNext(MxResult r) {
    ASSERT_FALSE(pending.empty());
    auto cb = std::move(pending.front().second);
    pending.pop_front();
    cb(std::move(r));
  }
};

struct Fixture {
  uint64_t now = 1'000'000;
  MxCacheOptions options;
  std::unique_ptr<MxCache> cache;
  FakeSource source;

  explicit Fixture(int shards = 1) {
    options.shards = shards;
    options.clock = [this] { return now; };
    cache = std::make_unique<MxCache>(options);
  }
  void Rebuild() {
    options.clock = [this] { return now; };
    cache = std::make_unique<MxCache>(options);
  }
  // Lookup on shard 0: the result now, or after the source completes.
  MxResultPtr Get(std::string_view domain, std::vector<MxResultPtr>* later) {
    return cache->Lookup(0, domain, now, &source,
                         [later](MxResultPtr r) { later->push_back(std::move(r)); });
  }
};

TEST(MxCacheTest, MissThenHit) {
  Fixture f;
  std::vector<MxResultPtr> later;
  EXPECT_EQ(f.Get("example.test", &later), nullptr);
  EXPECT_EQ(f.source.fetches, 1);
  EXPECT_FALSE(f.cache->HasCompletions(0));
  f.source.CompleteNext(OkResult(300));
  EXPECT_TRUE(f.cache->HasCompletions(0));
  EXPECT_TRUE(later.empty());  // only from DrainCompletions
  EXPECT_EQ(f.cache->DrainCompletions(0), 1u);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0]->status, MxStatus::kOk);
  MxResultPtr hit = f.Get("example.test", &later);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit, later[0]);
  // Case and trailing dot do not matter.
  EXPECT_NE(f.Get("EXAMPLE.Test.", &later), nullptr);
  bool peeked = false;
  EXPECT_TRUE(f.cache->Peek(0, "example.TEST", f.now, [&](const MxResult& r) {
    peeked = r.site_key == "192.0.2.1:25";
  }));
  EXPECT_TRUE(peeked);
  MxCacheStats s = f.cache->Stats();
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.fetches, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(f.source.fetches, 1);
}

TEST(MxCacheTest, CaseFoldingIsAsciiOnly) {
  Fixture f;
  f.source.sync = [](std::string_view) { return OkResult(300); };
  std::vector<MxResultPtr> later;
  f.Get("abc.test", &later);
  f.Get("mail.sub-domain.example.org", &later);
  f.cache->DrainCompletions(0);
  auto hit = [&](std::string_view name) {
    return f.cache->Peek(0, name, f.now, [](const MxResult&) {});
  };
  EXPECT_TRUE(hit("ABC.TEST"));
  EXPECT_TRUE(hit("aBc.TeSt."));
  EXPECT_TRUE(hit("Mail.Sub-Domain.Example.ORG"));
  EXPECT_FALSE(hit("mail.sub-domain.example.or"));
  EXPECT_FALSE(hit("\xC1\xC2\xC3.test"));  // 'A'|0x80...: not letters
  EXPECT_FALSE(hit("!\"#.test"));
  EXPECT_FALSE(hit("abc.tesu"));
  EXPECT_FALSE(hit(""));
}

TEST(MxCacheTest, SynchronousSourceStillCallsBackFromDrain) {
  Fixture f;
  f.source.sync = [](std::string_view) { return OkResult(300); };
  std::vector<MxResultPtr> later;
  EXPECT_EQ(f.Get("example.test", &later), nullptr);
  EXPECT_TRUE(later.empty());
  EXPECT_EQ(f.cache->DrainCompletions(0), 1u);
  EXPECT_EQ(later.size(), 1u);
}

TEST(MxCacheTest, TtlIsClamped) {
  Fixture f;
  f.options.min_ttl_s = 60;
  f.options.max_ttl_s = 3600;
  f.Rebuild();
  f.source.sync = [](std::string_view d) {
    return d == "short.test" ? OkResult(5) : OkResult(1'000'000);
  };
  std::vector<MxResultPtr> later;
  f.Get("short.test", &later);
  f.Get("long.test", &later);
  f.cache->DrainCompletions(0);
  const uint64_t t0 = f.now;
  f.now = t0 + 59'000;
  EXPECT_NE(f.Get("short.test", &later), nullptr);
  f.now = t0 + 61'000;
  EXPECT_EQ(f.Get("short.test", &later), nullptr);  // refetch (min TTL 60 s)
  f.now = t0 + 3'599'000;
  EXPECT_NE(f.Get("long.test", &later), nullptr);
  f.now = t0 + 3'601'000;
  EXPECT_EQ(f.Get("long.test", &later), nullptr);  // max TTL 3600 s
  EXPECT_EQ(f.source.fetches, 4);
}

TEST(MxCacheTest, NegativeAnswersAreCached) {
  Fixture f;
  f.source.sync = [](std::string_view) { return NxDomain(120); };
  std::vector<MxResultPtr> later;
  f.Get("gone.test", &later);
  f.cache->DrainCompletions(0);
  const uint64_t t0 = f.now;
  f.now = t0 + 119'000;
  MxResultPtr r = f.Get("gone.test", &later);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->enhanced, "5.1.2");
  f.now = t0 + 121'000;
  EXPECT_EQ(f.Get("gone.test", &later), nullptr);
  EXPECT_EQ(f.source.fetches, 2);
}

TEST(MxCacheTest, TemporaryFailureRememberedBriefly) {
  Fixture f;
  f.options.failure_ttl_s = 5;
  f.Rebuild();
  f.source.sync = [](std::string_view) { return Temp(); };
  std::vector<MxResultPtr> later;
  f.Get("broken.test", &later);
  f.cache->DrainCompletions(0);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0]->status, MxStatus::kTemporary);
  f.now += 4'000;
  MxResultPtr r = f.Get("broken.test", &later);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, MxStatus::kTemporary);
  f.now += 2'000;
  EXPECT_EQ(f.Get("broken.test", &later), nullptr);
  EXPECT_EQ(f.source.fetches, 2);
  EXPECT_EQ(f.cache->Stats().failures, 2u);
}

TEST(MxCacheTest, ServeStaleWhileRefreshFails) {
  Fixture f;
  f.options.min_ttl_s = 60;
  f.options.stale_ttl_s = 3600;
  f.options.stale_retry_s = 30;
  f.Rebuild();
  std::vector<MxResultPtr> later;
  f.Get("example.test", &later);
  f.source.CompleteNext(OkResult(100, "old"));
  f.cache->DrainCompletions(0);
  const uint64_t t0 = f.now;

  // Expired: the next lookup waits for a refresh; the refresh fails, so the
  // waiter gets the stale answer.
  f.now = t0 + 101'000;
  later.clear();
  EXPECT_EQ(f.Get("example.test", &later), nullptr);
  EXPECT_EQ(f.source.fetches, 2);
  f.source.CompleteNext(Temp());
  f.cache->DrainCompletions(0);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0]->site_key, "old");
  // For stale_retry_s, lookups get the stale answer at once, no query.
  f.now += 20'000;
  MxResultPtr r = f.Get("example.test", &later);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->site_key, "old");
  EXPECT_EQ(f.source.fetches, 2);
  // After that, another refresh; this one succeeds and replaces the entry.
  f.now += 11'000;
  later.clear();
  EXPECT_EQ(f.Get("example.test", &later), nullptr);
  f.source.CompleteNext(OkResult(300, "new"));
  f.cache->DrainCompletions(0);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0]->site_key, "new");
  MxCacheStats s = f.cache->Stats();
  EXPECT_EQ(s.stale_serves, 2u);  // the waiter + one direct lookup
  EXPECT_EQ(s.failures, 1u);
}

TEST(MxCacheTest, StaleWindowIsBounded) {
  Fixture f;
  f.options.stale_ttl_s = 100;
  f.Rebuild();
  std::vector<MxResultPtr> later;
  f.Get("example.test", &later);
  f.source.CompleteNext(OkResult(60, "old"));
  f.cache->DrainCompletions(0);
  f.now += 60'000 + 101'000;  // past expiry + stale window
  later.clear();
  EXPECT_EQ(f.Get("example.test", &later), nullptr);
  f.source.CompleteNext(Temp());
  f.cache->DrainCompletions(0);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0]->status, MxStatus::kTemporary);
}

TEST(MxCacheTest, PermanentAnswerReplacesStale) {
  Fixture f;
  std::vector<MxResultPtr> later;
  f.Get("example.test", &later);
  f.source.CompleteNext(OkResult(60));
  f.cache->DrainCompletions(0);
  f.now += 61'000;
  later.clear();
  f.Get("example.test", &later);
  f.source.CompleteNext(NxDomain(300));
  f.cache->DrainCompletions(0);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0]->status, MxStatus::kPermanent);
  EXPECT_EQ(f.Get("example.test", &later)->status, MxStatus::kPermanent);
}

TEST(MxCacheTest, SingleFlightOnOneShard) {
  Fixture f;
  std::vector<MxResultPtr> later;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.Get("example.test", &later), nullptr);
  EXPECT_EQ(f.source.fetches, 1);
  f.source.CompleteNext(OkResult(300));
  EXPECT_EQ(f.cache->DrainCompletions(0), 5u);
  EXPECT_EQ(later.size(), 5u);
  MxCacheStats s = f.cache->Stats();
  EXPECT_EQ(s.coalesced, 4u);
  EXPECT_EQ(s.inflight, 0u);
}

TEST(MxCacheTest, BoundedSizeWithEviction) {
  Fixture f;
  f.options.max_entries = 512;  // 2 per stripe
  f.Rebuild();
  f.source.sync = [](std::string_view) { return OkResult(3600); };
  std::vector<MxResultPtr> later;
  for (int i = 0; i < 5000; ++i) {
    f.Get("d" + std::to_string(i) + ".test", &later);
    if (i % 100 == 0) f.cache->DrainCompletions(0);
  }
  f.cache->DrainCompletions(0);
  EXPECT_EQ(later.size(), 5000u);
  MxCacheStats s = f.cache->Stats();
  EXPECT_LE(s.entries, 512u);
  EXPECT_GE(s.entries, 400u);
  EXPECT_EQ(s.entries + s.evictions, 5000u);
}

TEST(MxCacheTest, EvictionPrefersDeadEntries) {
  Fixture f;
  f.options.max_entries = 256;  // 1 per stripe: each insert into a full stripe evicts
  f.options.stale_ttl_s = 0;
  f.Rebuild();
  f.source.sync = [](std::string_view) { return OkResult(60); };
  std::vector<MxResultPtr> later;
  for (int i = 0; i < 2000; ++i) f.Get("d" + std::to_string(i) + ".test", &later);
  f.cache->DrainCompletions(0);
  EXPECT_LE(f.cache->Stats().entries, 256u);
}

TEST(MxCacheTest, LiteralsAndBadNamesBypassTheCache) {
  Fixture f;
  f.source.sync = [](std::string_view) { return OkResult(300); };
  std::vector<MxResultPtr> later;
  EXPECT_EQ(f.Get("[192.0.2.1]", &later), nullptr);
  EXPECT_EQ(f.Get("[192.0.2.1]", &later), nullptr);
  EXPECT_EQ(f.Get("bad..name", &later), nullptr);
  f.cache->DrainCompletions(0);
  EXPECT_EQ(later.size(), 3u);
  EXPECT_EQ(f.source.fetches, 3);
  EXPECT_EQ(f.cache->Stats().entries, 0u);
  EXPECT_EQ(f.cache->Stats().uncached, 3u);
}

TEST(MxCacheTest, InflightAndWaiterBounds) {
  Fixture f;
  f.options.max_inflight = 1;
  f.options.max_waiters = 2;
  f.Rebuild();
  std::vector<MxResultPtr> later;
  EXPECT_EQ(f.Get("a.test", &later), nullptr);
  EXPECT_EQ(f.Get("b.test", &later), nullptr);  // over max_inflight
  EXPECT_EQ(f.Get("a.test", &later), nullptr);  // second waiter
  EXPECT_EQ(f.Get("a.test", &later), nullptr);  // over max_waiters
  EXPECT_EQ(f.source.fetches, 1);
  f.cache->DrainCompletions(0);
  ASSERT_EQ(later.size(), 2u);  // the two rejections, temporary
  EXPECT_EQ(later[0]->status, MxStatus::kTemporary);
  EXPECT_EQ(later[1]->status, MxStatus::kTemporary);
  EXPECT_EQ(f.cache->Stats().rejected, 2u);
  f.source.CompleteNext(OkResult(300));
  EXPECT_EQ(f.cache->DrainCompletions(0), 2u);
}

// Two shard threads miss the same name at once: one lookup runs, on the
// shard that missed first; the other shard is woken and runs its callback
// on its own thread.
TEST(MxCacheTest, SingleFlightAcrossThreadsCallsBackOnTheWaitersThread) {
  MxCacheOptions o;
  o.shards = 2;
  MxCache cache(o);
  std::atomic<int> wakes_to_1{0};
  cache.SetWakeHook([&](int from, int to) {
    EXPECT_EQ(from, 0);
    EXPECT_EQ(to, 1);
    wakes_to_1.fetch_add(1);
  });
  FakeSource source0;
  FakeSource source1;
  std::atomic<bool> shard0_waiting{false};
  std::atomic<bool> shard1_joined{false};
  std::thread::id callback_thread_1;
  std::atomic<bool> done1{false};

  std::thread shard1([&] {
    // Bounded waits: 10 s each.
    for (int i = 0; i < 10000 && !shard0_waiting.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    MxResultPtr r = cache.Lookup(1, "shared.test", MonotonicMs(), &source1,
                                 [&](MxResultPtr r) {
                                   EXPECT_EQ(r->site_key, "site");
                                   callback_thread_1 = std::this_thread::get_id();
                                   done1.store(true);
                                 });
    EXPECT_EQ(r, nullptr);
    shard1_joined.store(true);
    for (int i = 0; i < 10000 && !done1.load(); ++i) {
      if (!cache.HasCompletions(1)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      cache.DrainCompletions(1);
    }
  });

  bool done0 = false;
  EXPECT_EQ(cache.Lookup(0, "shared.test", MonotonicMs(), &source0,
                         [&](MxResultPtr) { done0 = true; }),
            nullptr);
  shard0_waiting.store(true);
  for (int i = 0; i < 10000 && !shard1_joined.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(source0.fetches, 1);
  source0.CompleteNext(OkResult(300, "site"));
  cache.DrainCompletions(0);
  const std::thread::id shard1_id = shard1.get_id();
  shard1.join();
  EXPECT_TRUE(done0);
  EXPECT_TRUE(done1.load());
  EXPECT_EQ(source1.fetches, 0);
  EXPECT_EQ(callback_thread_1, shard1_id);
  EXPECT_EQ(wakes_to_1.load(), 1);
  EXPECT_EQ(cache.Stats().fetches, 1u);
  EXPECT_EQ(cache.Stats().coalesced, 1u);
}

// Many lookups from two threads over a small name set, sources answering
// inside Fetch: every name is fetched once, every callback runs on the
// thread that registered it.
TEST(MxCacheTest, TwoThreadsHammeringTheSameNames) {
  MxCacheOptions o;
  o.shards = 2;
  MxCache cache(o);
  std::atomic<int> fetches{0};
  auto worker = [&](int shard, int* wrong_thread, int* resolved) {
    FakeSource source;
    source.sync = [&](std::string_view) {
      fetches.fetch_add(1);
      return OkResult(3600);
    };
    const auto me = std::this_thread::get_id();
    for (int i = 0; i < 20000; ++i) {
      const std::string name = "n" + std::to_string(i % 64) + ".test";
      MxResultPtr r = cache.Lookup(shard, name, MonotonicMs(), &source,
                                   [&, me](MxResultPtr r) {
                                     if (std::this_thread::get_id() != me) ++*wrong_thread;
                                     if (r->status == MxStatus::kOk) ++*resolved;
                                   });
      if (r != nullptr) ++*resolved;
      if (i % 16 == 0) cache.DrainCompletions(shard);
    }
    // Bounded: waiters of the other thread's flights arrive within 10 s.
    for (int i = 0; i < 10000 && *resolved < 20000; ++i) {
      if (cache.DrainCompletions(shard) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  };
  int wrong0 = 0, wrong1 = 0, ok0 = 0, ok1 = 0;
  std::thread t0(worker, 0, &wrong0, &ok0);
  std::thread t1(worker, 1, &wrong1, &ok1);
  t0.join();
  t1.join();
  EXPECT_EQ(wrong0 + wrong1, 0);
  EXPECT_EQ(ok0, 20000);
  EXPECT_EQ(ok1, 20000);
  EXPECT_EQ(fetches.load(), 64);
  EXPECT_EQ(cache.Stats().entries, 64u);
}

// Lock-free readers (Peek and Lookup) race a writer that keeps replacing
// and evicting entries. Under ASan a reclamation bug is a use-after-free.
TEST(MxCacheTest, ReadersRaceAWriter) {
  MxCacheOptions o;
  o.shards = 3;
  o.max_entries = 256;
  o.min_ttl_s = 0;
  o.stale_ttl_s = 0;
  std::atomic<uint64_t> clock{1'000'000};
  o.clock = [&] { return clock.load(); };
  MxCache cache(o);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  auto reader = [&](int shard) {
    FakeSource source;
    source.sync = [](std::string_view) { return OkResult(1); };
    uint64_t n = 0;
    // Bounded by `stop` (set after the writer's fixed number of rounds).
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 32; ++i) {
        const std::string name = "r" + std::to_string(i) + ".test";
        cache.Peek(shard, name, clock.load(), [&](const MxResult& r) {
          n += r.site_key.size() + r.hosts.size();
        });
        MxResultPtr p = cache.Lookup(shard, name, clock.load(), &source, [](MxResultPtr) {});
        if (p) n += p->hosts.size();
      }
      cache.DrainCompletions(shard);
    }
    reads.fetch_add(n);
  };
  std::thread r0(reader, 0);
  std::thread r1(reader, 1);
  FakeSource writer_source;
  int round = 0;
  writer_source.sync = [&](std::string_view) {
    return OkResult(1, "site-" + std::to_string(round));
  };
  for (round = 0; round < 300; ++round) {
    clock.fetch_add(1'500);  // everything expires every round
    for (int i = 0; i < 64; ++i) {
      cache.Lookup(2, "r" + std::to_string(i) + ".test", clock.load(), &writer_source,
                   [](MxResultPtr) {});
    }
    cache.DrainCompletions(2);
  }
  stop.store(true);
  r0.join();
  r1.join();
  EXPECT_GT(reads.load(), 0u);
  EXPECT_GT(cache.Stats().fetches, 300u);
}

}  // namespace
}  // namespace ringpost::dns
