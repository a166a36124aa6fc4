// dns/mx_cache.cc — see mx_cache.h for the design and the memory-ordering
// argument. Summary of the ordering rules used here:
//   - Reader: epoch_.load(seq_cst); reader.epoch.store(e, seq_cst);
//     stripe.table.load(seq_cst) ... reader.epoch.store(0, release).
//   - Writer (mu_ held): stripe.table.store(new, seq_cst) then retire the
//     old table/entry tagged with the current epoch. The epoch advances
//     (seq_cst store) only when every reader slot is 0 or equal to it;
//     retired memory with tag E is freed when the epoch is >= E + 2.
//   All of these are in one seq_cst total order, so a reader whose table
//   load comes after an epoch advance sees every unlink made before it,
//   and a reader that announced an epoch blocks the second advance that
//   would free what it might still see.
#include "dns/mx_cache.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "base/check.h"
#include "dns/clock.h"

namespace ringpost::dns {

struct MxCache::Entry {
  uint64_t hash = 0;
  uint64_t expires_ms = 0;      // fresh before this
  uint64_t stale_until_ms = 0;  // ok results: may be served stale before this
  uint64_t retry_after_ms = 0;  // failed refresh: serve stale, no query, before this
  MxResultPtr value;
  bool ok = false;              // value->status == kOk, readable without a deref
  mutable std::atomic<uint8_t> referenced{1};  // CLOCK bit
  uint16_t key_len = 0;
  // The canonical key is stored right after the struct, in the same
  // allocation: a lookup touches one object, not a separate string buffer.
  std::string_view key() const {
    return std::string_view(reinterpret_cast<const char*>(this + 1), key_len);
  }

  static Entry* New(std::string_view key, uint64_t hash) {
    CHECK(key.size() <= kMaxNameChars);
    void* mem = ::operator new(sizeof(Entry) + key.size());
    auto* e = new (mem) Entry();
    e->hash = hash;
    e->key_len = static_cast<uint16_t>(key.size());
    std::memcpy(reinterpret_cast<char*>(e + 1), key.data(), key.size());
    return e;
  }
  static void Delete(const Entry* e) {
    if (e == nullptr) return;
    e->~Entry();
    ::operator delete(const_cast<Entry*>(e));
  }
};

struct MxCache::Table {
  struct Slot {
    uint64_t hash;
    const Entry* entry;  // nullptr: empty
  };
  uint32_t mask = 0;
  uint32_t count = 0;
  // mask + 1 slots follow the header in the same allocation (one fewer
  // dependent cache miss per lookup than a separate array).
  Slot* slots() { return reinterpret_cast<Slot*>(this + 1); }
  const Slot* slots() const { return reinterpret_cast<const Slot*>(this + 1); }

  static Table* New(uint32_t capacity) {
    static_assert(sizeof(Table) % alignof(Slot) == 0);
    void* mem = ::operator new(sizeof(Table) + capacity * sizeof(Slot));
    auto* t = new (mem) Table();
    t->mask = capacity - 1;
    for (uint32_t i = 0; i < capacity; ++i) new (&t->slots()[i]) Slot{0, nullptr};
    return t;
  }
  static void Delete(const Table* t) {
    if (t == nullptr) return;
    t->~Table();
    ::operator delete(const_cast<Table*>(t));
  }
};

class MxCache::ReadSection {
 public:
  ReadSection(const MxCache* cache, int shard) : reader_(&cache->readers_[shard]) {
    CHECK(reader_->epoch.load(std::memory_order_relaxed) == 0);  // no nesting
    reader_->epoch.store(cache->epoch_.load(std::memory_order_seq_cst),
                         std::memory_order_seq_cst);
  }
  ~ReadSection() { reader_->epoch.store(0, std::memory_order_release); }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

 private:
  Reader* reader_;
};

namespace {

// Eight bytes at a time: ASCII 'A'..'Z' to lowercase, every other byte
// unchanged (SWAR; no carries cross bytes because each byte is masked to
// 7 bits before the adds).
uint64_t LowerAscii8(uint64_t x) {
  constexpr uint64_t k7f = 0x7f7f7f7f7f7f7f7fULL;
  constexpr uint64_t k80 = 0x8080808080808080ULL;
  const uint64_t low7 = x & k7f;
  const uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3fULL;  // bit 7 set: byte >= 'A'
  const uint64_t gt_z = low7 + 0x2525252525252525ULL;  // bit 7 set: byte > 'Z'
  const uint64_t upper = ge_a & ~gt_z & ~x & k80;
  return x | (upper >> 2);
}

uint64_t Load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // constant size: one unaligned load
  return v;
}

// The last `n` (1..7) bytes of s[0, size), zero-extended, without a
// variable-length memcpy: one overlapping 8-byte load when size >= 8.
uint64_t LoadTail(const char* s, size_t size, size_t n) {
  if (size >= 8) return Load8(s + size - 8) >> (8 * (8 - n));
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(s[size - n + k])) << (8 * k);
  }
  return v;
}

std::string_view StripDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

void Bump(std::atomic<uint64_t>& counter) {
  // Single writer (the slot's own thread): a plain add, no locked RMW.
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace

uint64_t MxCache::HashName(std::string_view name) const {
  // Lowercased 8-byte chunks, each mixed by multiply-xorshift, then the
  // murmur3 finalizer so both the stripe (high bits) and the slot (low
  // bits) are well mixed. Seeded per process, so colliding names cannot
  // be precomputed.
  uint64_t h = hash_seed_ ^ (name.size() * 0x9E3779B97F4A7C15ULL);
  size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    h = (h ^ LowerAscii8(Load8(name.data() + i))) * 0x9FB21C651E98DF25ULL;
    h ^= h >> 29;
  }
  if (i < name.size()) {
    const uint64_t tail = LoadTail(name.data(), name.size(), name.size() - i);
    h = (h ^ LowerAscii8(tail)) * 0x9FB21C651E98DF25ULL;
    h ^= h >> 29;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

bool MxCache::KeyEquals(std::string_view key, std::string_view name) {
  if (key.size() != name.size()) return false;
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    if (Load8(key.data() + i) != LowerAscii8(Load8(name.data() + i))) return false;
  }
  if (i < key.size()) {
    const size_t n = key.size() - i;
    if (LoadTail(key.data(), key.size(), n) !=
        LowerAscii8(LoadTail(name.data(), name.size(), n))) {
      return false;
    }
  }
  return true;
}

MxCache::MxCache(MxCacheOptions options) : options_(std::move(options)) {
  CHECK(options_.shards >= 1);
  CHECK(options_.shards <= 1024);
  CHECK(options_.min_ttl_s <= options_.max_ttl_s);
  if (!options_.clock) options_.clock = MonotonicMs;
  if (options_.max_entries < kStripes) options_.max_entries = kStripes;
  stripe_capacity_ = (options_.max_entries + kStripes - 1) / kStripes;
  stripes_.reset(new Stripe[kStripes]);
  readers_.reset(new Reader[static_cast<size_t>(options_.shards)]);
  inboxes_.reset(new Inbox[static_cast<size_t>(options_.shards)]);
  clock_hands_.assign(kStripes, 0);
  if (getrandom(&hash_seed_, sizeof(hash_seed_), GRND_NONBLOCK) != sizeof(hash_seed_)) {
    hash_seed_ = MonotonicMs() * 0x9E3779B97F4A7C15ULL;
  }
}

MxCache::~MxCache() {
  for (size_t s = 0; s < kStripes; ++s) {
    const Table* t = stripes_[s].table.load(std::memory_order_relaxed);
    if (t == nullptr) continue;
    for (uint32_t i = 0; i <= t->mask; ++i) Entry::Delete(t->slots()[i].entry);
    Table::Delete(t);
  }
  for (const Retired& r : retired_) {
    Table::Delete(r.table);
    Entry::Delete(r.entry);
  }
}

void MxCache::SetWakeHook(WakeHook hook) { wake_ = std::move(hook); }

const MxCache::Entry* MxCache::Find(const Table* t, uint64_t hash,
                                    std::string_view name) const {
  if (t == nullptr) return nullptr;
  uint32_t i = static_cast<uint32_t>(hash) & t->mask;
  // Load factor <= 1/2: an empty slot ends every probe; the bound is a
  // belt-and-braces limit.
  for (uint32_t probe = 0; probe <= t->mask; ++probe) {
    const Table::Slot& s = t->slots()[i];
    if (s.entry == nullptr) return nullptr;
    if (s.hash == hash && KeyEquals(s.entry->key(), name)) return s.entry;
    i = (i + 1) & t->mask;
  }
  return nullptr;
}

const MxCache::Entry* MxCache::Usable(const Entry* e, uint64_t now, bool* stale) const {
  if (e == nullptr) return nullptr;
  if (now < e->expires_ms) {
    *stale = false;
    return e;
  }
  if (e->ok && now < e->stale_until_ms &&
      now < e->retry_after_ms) {
    *stale = true;
    return e;
  }
  return nullptr;
}

bool MxCache::Peek(int shard, std::string_view domain, uint64_t now_ms,
                   absl::FunctionRef<void(const MxResult&)> fn) {
  CHECK(shard >= 0);
  CHECK(shard < options_.shards);
  domain = StripDot(domain);
  const uint64_t h = HashName(domain);
  Reader& me = readers_[shard];
  ReadSection section(this, shard);
  const Table* t = stripes_[h >> (64 - kStripeBits)].table.load(std::memory_order_seq_cst);
  bool stale = false;
  const Entry* e = Usable(Find(t, h, domain), now_ms, &stale);
  if (e == nullptr) return false;
  if (e->referenced.load(std::memory_order_relaxed) == 0) {
    e->referenced.store(1, std::memory_order_relaxed);
  }
  Bump(stale ? me.stale : me.hits);
  fn(*e->value);
  return true;
}

MxResultPtr MxCache::Lookup(int shard, std::string_view domain, uint64_t now_ms,
                            MxSource* source, MxWaiter done) {
  CHECK(shard >= 0);
  CHECK(shard < options_.shards);
  CHECK(source != nullptr);
  domain = StripDot(domain);
  const uint64_t h = HashName(domain);
  Reader& me = readers_[shard];
  {
    ReadSection section(this, shard);
    const Table* t =
        stripes_[h >> (64 - kStripeBits)].table.load(std::memory_order_seq_cst);
    bool stale = false;
    if (const Entry* e = Usable(Find(t, h, domain), now_ms, &stale)) {
      if (e->referenced.load(std::memory_order_relaxed) == 0) {
        e->referenced.store(1, std::memory_order_relaxed);
      }
      Bump(stale ? me.stale : me.hits);
      return e->value;
    }
  }
  return StartOrJoin(shard, domain, h, now_ms, source, std::move(done));
}

MxResultPtr MxCache::StartOrJoin(int shard, std::string_view domain, uint64_t hash,
                                 uint64_t now, MxSource* source, MxWaiter done) {
  Reader& me = readers_[shard];
  auto canonical = NormalizeName(domain);
  if (!canonical.ok()) {
    // Address literal or invalid name: the source decides, nothing cached.
    uncached_.fetch_add(1, std::memory_order_relaxed);
    Bump(me.misses);
    source->Fetch(domain, [this, shard, done = std::move(done)](MxResult r) mutable {
      Post(shard, shard, std::move(done), std::make_shared<const MxResult>(std::move(r)));
    });
    return nullptr;
  }
  std::string key = std::move(*canonical);
  std::unique_lock<std::mutex> lock(mu_);
  // Another shard may have completed the lookup since our lock-free miss.
  const Entry* old = FindLocked(hash, key);
  bool stale = false;
  if (const Entry* e = Usable(old, now, &stale)) {
    Bump(stale ? me.stale : me.hits);
    return e->value;
  }
  if (auto it = flights_.find(key); it != flights_.end()) {
    if (it->second.waiters.size() >= options_.max_waiters) {
      return RejectLocked(shard, old, now,
                          "too many deliveries waiting for the MX lookup of " + key, &done);
    }
    it->second.waiters.push_back(Waiter{shard, std::move(done)});
    coalesced_.fetch_add(1, std::memory_order_relaxed);
    Bump(me.misses);
    return nullptr;
  }
  if (flights_.size() >= options_.max_inflight) {
    return RejectLocked(shard, old, now, "too many MX lookups in flight", &done);
  }
  Flight flight;
  flight.owner = shard;
  flight.waiters.push_back(Waiter{shard, std::move(done)});
  flights_.emplace(key, std::move(flight));
  fetches_.fetch_add(1, std::memory_order_relaxed);
  Bump(me.misses);
  lock.unlock();
  // The source may complete synchronously: Complete() queues, never calls.
  const std::string name = key;
  source->Fetch(name, [this, key = std::move(key), hash](MxResult r) {
    Complete(key, hash, std::move(r));
  });
  return nullptr;
}

MxResultPtr MxCache::RejectLocked(int shard, const Entry* old, uint64_t now,
                                  std::string why, MxWaiter* done) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  Reader& me = readers_[shard];
  if (old != nullptr && old->ok && now < old->stale_until_ms) {
    Bump(me.stale);
    return old->value;
  }
  Bump(me.misses);
  auto r = std::make_shared<MxResult>();
  r->status = MxStatus::kTemporary;
  r->code = 451;
  r->enhanced = "4.4.3";
  r->text = std::move(why);
  Post(shard, shard, std::move(*done), std::move(r));
  return nullptr;
}

void MxCache::Complete(const std::string& key, uint64_t hash, MxResult result) {
  const uint64_t now = options_.clock();
  MxResultPtr value;
  std::vector<Waiter> waiters;
  int owner = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = flights_.find(key);
    CHECK(it != flights_.end());
    owner = it->second.owner;
    waiters = std::move(it->second.waiters);
    flights_.erase(it);

    const Entry* old = FindLocked(hash, key);
    Entry* e = Entry::New(key, hash);
    if (result.status == MxStatus::kTemporary) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      if (old != nullptr && old->ok && now < old->stale_until_ms) {
        // Serve-stale: keep the old answer, stop re-querying for a while.
        e->value = old->value;
        e->expires_ms = old->expires_ms;
        e->stale_until_ms = old->stale_until_ms;
        e->retry_after_ms = now + uint64_t{options_.stale_retry_s} * 1000;
        stale_served_waiters_.fetch_add(waiters.size(), std::memory_order_relaxed);
      } else {
        e->value = std::make_shared<const MxResult>(std::move(result));
        e->expires_ms = now + uint64_t{options_.failure_ttl_s} * 1000;
        e->stale_until_ms = e->expires_ms;
      }
    } else {
      const uint32_t ttl =
          std::clamp(result.ttl_s, options_.min_ttl_s, options_.max_ttl_s);
      const bool ok = result.status == MxStatus::kOk;
      e->value = std::make_shared<const MxResult>(std::move(result));
      e->expires_ms = now + uint64_t{ttl} * 1000;
      e->stale_until_ms =
          e->expires_ms + (ok ? uint64_t{options_.stale_ttl_s} * 1000 : 0);
    }
    e->ok = e->value->status == MxStatus::kOk;
    value = e->value;
    InsertLocked(e, now);
    ReclaimLocked();
  }
  for (Waiter& w : waiters) Post(owner, w.shard, std::move(w.done), value);
}

void MxCache::Post(int from, int to, MxWaiter done, MxResultPtr value) {
  CHECK(to >= 0);
  CHECK(to < options_.shards);
  Inbox& in = inboxes_[to];
  {
    std::lock_guard<std::mutex> lock(in.mu);
    in.items.emplace_back(std::move(done), std::move(value));
    // seq_cst: the wake hook that follows reads whether the target thread
    // sleeps, and that thread sets its own "about to sleep" flag before it
    // reads HasCompletions() (a store-then-load on each side). With both
    // sides sequentially consistent, at least one of them sees the other's
    // store: either the target finds this item, or the hook sees it asleep.
    in.pending.store(true, std::memory_order_seq_cst);
  }
  if (to != from && wake_) wake_(from, to);
}

size_t MxCache::DrainCompletions(int shard) {
  CHECK(shard >= 0);
  CHECK(shard < options_.shards);
  if (retired_count_.load(std::memory_order_relaxed) > 0 && mu_.try_lock()) {
    ReclaimLocked();
    mu_.unlock();
  }
  Inbox& in = inboxes_[shard];
  if (!in.pending.load(std::memory_order_acquire)) return 0;
  std::vector<std::pair<MxWaiter, MxResultPtr>> items;
  {
    std::lock_guard<std::mutex> lock(in.mu);
    items.swap(in.items);
    in.pending.store(false, std::memory_order_relaxed);
  }
  // Only what was queued at the swap runs now; callbacks that queue more
  // (a new miss answered synchronously) run on the next call.
  for (auto& [done, value] : items) {
    if (done) done(std::move(value));
  }
  return items.size();
}

bool MxCache::HasCompletions(int shard) const {
  CHECK(shard >= 0);
  CHECK(shard < options_.shards);
  return inboxes_[shard].pending.load(std::memory_order_seq_cst);
}

const MxCache::Entry* MxCache::FindLocked(uint64_t hash, std::string_view key) const {
  return Find(stripes_[hash >> (64 - kStripeBits)].table.load(std::memory_order_relaxed),
              hash, key);
}

void MxCache::InsertLocked(const Entry* e, uint64_t now) {
  const size_t s = e->hash >> (64 - kStripeBits);
  Stripe& stripe = stripes_[s];
  const Table* old = stripe.table.load(std::memory_order_relaxed);
  std::vector<const Entry*> keep;
  const Entry* replaced = nullptr;
  if (old != nullptr) {
    keep.reserve(old->count + 1);
    for (uint32_t i = 0; i <= old->mask; ++i) {
      const Entry* x = old->slots()[i].entry;
      if (x == nullptr) continue;
      if (x->hash == e->hash && x->key() == e->key()) {
        replaced = x;
      } else {
        keep.push_back(x);
      }
    }
  }
  const Entry* victim = nullptr;
  if (replaced == nullptr && keep.size() >= stripe_capacity_) {
    size_t pick = keep.size();
    // Dead entries (past any stale window) go first.
    for (size_t i = 0; i < keep.size(); ++i) {
      if (now >= keep[i]->stale_until_ms && now >= keep[i]->expires_ms) {
        pick = i;
        break;
      }
    }
    // Then CLOCK: the first entry not read since the hand last passed it.
    if (pick == keep.size()) {
      const size_t n = keep.size();
      const size_t hand = clock_hands_[s] % n;
      for (size_t step = 0; step < 2 * n; ++step) {
        const size_t i = (hand + step) % n;
        if (keep[i]->referenced.load(std::memory_order_relaxed) != 0) {
          keep[i]->referenced.store(0, std::memory_order_relaxed);
          continue;
        }
        pick = i;
        break;
      }
      if (pick == keep.size()) pick = hand;  // unreachable: the sweep cleared all
      clock_hands_[s] = static_cast<uint32_t>(pick + 1);
    }
    victim = keep[pick];
    keep.erase(keep.begin() + static_cast<ptrdiff_t>(pick));
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  keep.push_back(e);

  uint32_t capacity = 8;
  while (capacity < keep.size() * 2) capacity *= 2;
  Table* t = Table::New(capacity);
  t->count = static_cast<uint32_t>(keep.size());
  for (const Entry* x : keep) {
    uint32_t i = static_cast<uint32_t>(x->hash) & t->mask;
    while (t->slots()[i].entry != nullptr) i = (i + 1) & t->mask;
    t->slots()[i] = Table::Slot{x->hash, x};
  }
  stripe.table.store(t, std::memory_order_seq_cst);
  if (replaced == nullptr && victim == nullptr) {
    entries_.fetch_add(1, std::memory_order_relaxed);
  }
  RetireLocked(old, replaced);
  if (victim != nullptr) RetireLocked(nullptr, victim);
}

void MxCache::RetireLocked(const Table* t, const Entry* e) {
  if (t == nullptr && e == nullptr) return;
  retired_.push_back(Retired{epoch_.load(std::memory_order_relaxed), t, e});
  retired_count_.store(retired_.size(), std::memory_order_relaxed);
}

void MxCache::ReclaimLocked() {
  // Up to two advances: enough to free this call's own garbage when no
  // reader is inside a lookup.
  for (int round = 0; round < 2; ++round) {
    const uint64_t current = epoch_.load(std::memory_order_seq_cst);
    bool all_caught_up = true;
    for (int i = 0; i < options_.shards; ++i) {
      const uint64_t e = readers_[i].epoch.load(std::memory_order_seq_cst);
      if (e != 0 && e != current) {
        all_caught_up = false;
        break;
      }
    }
    if (!all_caught_up) break;
    epoch_.store(current + 1, std::memory_order_seq_cst);
  }
  const uint64_t now_epoch = epoch_.load(std::memory_order_seq_cst);
  size_t kept = 0;
  for (size_t i = 0; i < retired_.size(); ++i) {
    if (retired_[i].epoch + 2 <= now_epoch) {
      Table::Delete(retired_[i].table);
      Entry::Delete(retired_[i].entry);
    } else {
      retired_[kept++] = retired_[i];
    }
  }
  retired_.resize(kept);
  retired_count_.store(kept, std::memory_order_relaxed);
}

MxCacheStats MxCache::Stats() const {
  MxCacheStats s;
  for (int i = 0; i < options_.shards; ++i) {
    s.hits += readers_[i].hits.load(std::memory_order_relaxed);
    s.stale_serves += readers_[i].stale.load(std::memory_order_relaxed);
    s.misses += readers_[i].misses.load(std::memory_order_relaxed);
  }
  s.stale_serves += stale_served_waiters_.load(std::memory_order_relaxed);
  s.fetches = fetches_.load(std::memory_order_relaxed);
  s.coalesced = coalesced_.load(std::memory_order_relaxed);
  s.failures = failures_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.evictions = evictions_.load(std::memory_order_relaxed);
  s.uncached = uncached_.load(std::memory_order_relaxed);
  s.entries = entries_.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.inflight = flights_.size();
  }
  return s;
}

}  // namespace ringpost::dns
