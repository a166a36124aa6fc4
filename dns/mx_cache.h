// dns/mx_cache.h — the process-wide MX cache: one instance shared by every
// shard thread, read on every delivery job, written once per TTL per domain.
//
// What it does
//   Lookup(domain) returns the cached MxResult when there is one (fresh, or
//   stale while refreshes fail), else registers the caller as a waiter and
//   makes sure exactly one lookup for that name is running in the whole
//   process (single-flight): the first shard to miss resolves it with its
//   own MxSource (its MxResolver on its own loop); shards that miss while
//   it runs just wait. When the lookup completes, every waiter's callback
//   is queued to ITS OWN shard and that shard is woken; the shard runs the
//   callbacks from DrainCompletions() in a turn hook. A callback therefore
//   always runs on the thread that registered it, never inside Lookup().
//
// Usage (per shard; see dns/README-integration.md)
//   cache->SetWakeHook([&](int from, int to) { loops[from]->Wake(loops[to]); });
//   loop->AddTurnHook([&] { cache->DrainCompletions(index); });
//   loop->SetPendingWorkCheck([&] { return cache->HasCompletions(index) || ...; });
//   if (MxResultPtr r = cache->Lookup(index, domain, loop->now_ms(), &mx_resolver,
//                                     [job](MxResultPtr r) { Route(job, *r); })) {
//     Route(job, *r);  // hit: the callback is dropped, never called
//   }
//
// Read path: lock-free, no shared writes
//   256 stripes, each an immutable open-addressing table of pointers to
//   immutable entries, published through one atomic pointer per stripe
//   (on its own cache line). A writer (miss completion, refresh, eviction)
//   takes the single writer mutex, builds a new table for the stripe
//   (copy-on-write: O(entries per stripe), ~max_entries/256), publishes it,
//   and retires the old table and any replaced entry. Readers never lock,
//   never wait, and never write shared memory: no reference count is
//   touched on the Peek() path (Lookup() copies one shared_ptr — an atomic
//   increment on the entry's control block, the price of handing the result
//   out beyond the read section).
//   Reclamation is epoch-based (EBR): each reader slot (one per shard, on
//   its own cache line) announces the global epoch for the few nanoseconds
//   of a lookup — one seq_cst store to its own line — and clears it after.
//   Memory retired in epoch E is freed once the epoch reached E+2, which
//   needs every reader that was inside a lookup to have left it. A reader
//   is never blocked by a writer and a writer never waits for a reader: it
//   just frees later (on its next write or a DrainCompletions() call).
//   Why not the alternatives: a reader-writer lock or a seqlock writes or
//   spins on shared lines on every read; std::atomic<std::shared_ptr> in
//   libstdc++ takes an internal spin lock; refcounting a per-stripe snapshot
//   makes two shards reading popular domains bounce one cache line.
//   The "referenced" bit for CLOCK eviction is set by a reader only when
//   it is clear (a read-mostly line, written once per eviction sweep).
//
// Policy
//   - TTL = clamp(result TTL, min_ttl_s, max_ttl_s) for answers (ok and
//     permanent: NXDOMAIN and NODATA are negative answers cached per
//     RFC 2308, their TTL from the SOA; null MX by its record TTL).
//   - A temporary failure (SERVFAIL, timeout) with no stale entry is
//     remembered for failure_ttl_s, so a broken domain is not re-queried by
//     every job (RFC 2308 section 7.1 allows up to 5 minutes).
//   - Serve-stale (RFC 8767): an ok entry past its TTL is refreshed on the
//     next lookup; if the refresh fails temporarily the stale result is
//     served (to the waiters and to lookups for the next stale_retry_s),
//     for at most stale_ttl_s past expiry. A permanent answer replaces it.
//   - Bounded: max_entries names (CLOCK eviction per stripe, dead entries
//     first), max_inflight names being resolved, max_waiters per name.
//     Beyond a bound the caller gets a temporary result (or the stale one).
//   - Names are compared case-insensitively, trailing dot ignored. Address
//     literals and invalid names are not cached: they go to the source
//     directly and their result to the caller's queue.
//
// Threads: Lookup/Peek/DrainCompletions/HasCompletions with shard index i
// must be called by one thread at a time per index (the shard's own).
// Stats() and size() from any thread. Destroy after every shard stopped.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "dns/mx.h"

namespace ringpost::dns {

using MxResultPtr = std::shared_ptr<const MxResult>;
using MxWaiter = absl::AnyInvocable<void(MxResultPtr)>;
// Called on the thread of shard `from` after it queued a completion for
// shard `to` (to != from): wake `to`'s loop if it sleeps.
using WakeHook = std::function<void(int from, int to)>;

struct MxCacheOptions {
  int shards = 1;                 // reader/waiter slots, 1..1024
  size_t max_entries = 100000;    // names cached (dns_cache_size)
  uint32_t min_ttl_s = 60;        // dns_min_ttl
  uint32_t max_ttl_s = 3600;      // dns_max_ttl
  uint32_t failure_ttl_s = 5;     // temporary failure without stale data
  uint32_t stale_ttl_s = 86400;   // dns_stale_ttl: serve-stale window
  uint32_t stale_retry_s = 30;    // failed refresh: serve stale, no query, this long
  size_t max_inflight = 4096;     // names being resolved at once
  size_t max_waiters = 4096;      // waiters per name
  std::function<uint64_t()> clock;  // monotonic ms; default dns::MonotonicMs (dns/clock.h)
};

struct MxCacheStats {
  uint64_t hits = 0;          // fresh results returned
  uint64_t stale_serves = 0;  // expired results served while refreshes fail
  uint64_t misses = 0;        // lookups that had to wait
  uint64_t fetches = 0;       // lookups started (one per name in flight)
  uint64_t coalesced = 0;     // misses that joined a lookup already running
  uint64_t failures = 0;      // lookups that ended temporarily failed
  uint64_t rejected = 0;      // over max_inflight / max_waiters
  uint64_t evictions = 0;
  uint64_t uncached = 0;      // address literals and invalid names
  uint64_t entries = 0;       // now
  uint64_t inflight = 0;      // now
};

class MxCache {
 public:
  explicit MxCache(MxCacheOptions options);
  ~MxCache();
  MxCache(const MxCache&) = delete;
  MxCache& operator=(const MxCache&) = delete;

  // Before the shards run.
  void SetWakeHook(WakeHook hook);

  // A usable result now (fresh, or stale while refreshes fail), or nullptr:
  // then `done` will run on `shard` from DrainCompletions(shard), exactly
  // once, and `source` (which must belong to `shard`) may have been asked
  // to resolve the name. On a hit `done` is destroyed without running (a
  // null `done` is allowed: the miss then only warms the cache).
  MxResultPtr Lookup(int shard, std::string_view domain, uint64_t now_ms,
                     MxSource* source, MxWaiter done);

  // The hit path alone, without copying the result: runs fn(result) inside
  // the read section and returns true on a hit; false otherwise (nothing
  // started). fn must be short and must not call into the cache.
  bool Peek(int shard, std::string_view domain, uint64_t now_ms,
            absl::FunctionRef<void(const MxResult&)> fn);

  // Runs the callbacks queued for `shard` (on its thread). Returns how many.
  size_t DrainCompletions(int shard);
  // True when DrainCompletions(shard) has work (for the loop's pending-work
  // check before sleeping; pairs with the wake hook).
  bool HasCompletions(int shard) const;

  MxCacheStats Stats() const;
  size_t size() const { return entries_.load(std::memory_order_relaxed); }
  const MxCacheOptions& options() const { return options_; }

 private:
  static constexpr int kStripeBits = 8;
  static constexpr size_t kStripes = size_t{1} << kStripeBits;
  static constexpr size_t kCacheLine = 64;

  struct Entry;
  struct Table;
  struct alignas(kCacheLine) Stripe {
    std::atomic<const Table*> table{nullptr};
  };
  struct alignas(kCacheLine) Reader {
    std::atomic<uint64_t> epoch{0};  // 0: not in a read section
    std::atomic<uint64_t> hits{0};
    std::atomic<uint64_t> stale{0};
    std::atomic<uint64_t> misses{0};
  };
  struct Waiter {
    int shard;
    MxWaiter done;
  };
  struct Flight {
    int owner;
    std::vector<Waiter> waiters;
  };
  struct alignas(kCacheLine) Inbox {
    std::mutex mu;
    std::vector<std::pair<MxWaiter, MxResultPtr>> items;
    std::atomic<bool> pending{false};
  };
  struct Retired {
    uint64_t epoch;
    const Table* table;
    const Entry* entry;
  };
  class ReadSection;

  uint64_t HashName(std::string_view name) const;
  static bool KeyEquals(std::string_view key, std::string_view name);
  const Entry* Find(const Table* t, uint64_t hash, std::string_view name) const;
  // What a lookup at `now` may return from `e` (fresh or stale), else null.
  const Entry* Usable(const Entry* e, uint64_t now, bool* stale) const;

  MxResultPtr StartOrJoin(int shard, std::string_view domain, uint64_t hash,
                          uint64_t now, MxSource* source, MxWaiter done);
  void Complete(const std::string& key, uint64_t hash, MxResult result);
  void Post(int from, int to, MxWaiter done, MxResultPtr value);
  MxResultPtr RejectLocked(int shard, const Entry* old, uint64_t now,
                           std::string why, MxWaiter* done);
  // Writer side: mu_ held.
  const Entry* FindLocked(uint64_t hash, std::string_view key) const;
  void InsertLocked(const Entry* e, uint64_t now);
  void RetireLocked(const Table* t, const Entry* e);
  void ReclaimLocked();

  MxCacheOptions options_;
  size_t stripe_capacity_;
  std::unique_ptr<Stripe[]> stripes_;
  std::unique_ptr<Reader[]> readers_;
  std::unique_ptr<Inbox[]> inboxes_;
  WakeHook wake_;
  uint64_t hash_seed_ = 0;
  std::atomic<uint64_t> epoch_{2};
  std::atomic<size_t> entries_{0};
  std::atomic<size_t> retired_count_{0};

  mutable std::mutex mu_;  // writers only: tables, flights, retired, counters below
  absl::flat_hash_map<std::string, Flight> flights_;
  std::vector<Retired> retired_;
  std::vector<uint32_t> clock_hands_;  // per stripe
  std::atomic<uint64_t> fetches_{0};
  std::atomic<uint64_t> coalesced_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> uncached_{0};
  std::atomic<uint64_t> stale_served_waiters_{0};
};

}  // namespace ringpost::dns
