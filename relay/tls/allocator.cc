// allocator.cc — BoringSSL's allocation hooks.
//
// libcrypto calls OPENSSL_memory_alloc/free/get_size when the executable
// defines them (weak symbols), instead of its own malloc wrapper, whose
// OPENSSL_free zeroes every block before freeing it. BoringSSL frees a
// connection's record buffers between records (that is what keeps an idle
// TLS session at a few KB), so its wrapper zeroes ~17 KB per record: a
// memset per record as large as the record itself. What those buffers hold
// is mail, which the relay's own buffers hold in the clear as well; what is
// worth zeroing is keys, secrets and handshake state, which live in small
// blocks. So blocks under kCleanseBelow are zeroed as before, larger ones
// are freed as they are.
#include <openssl/mem.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

// Keys, traffic secrets, key schedules, transcripts: all well under this.
constexpr size_t kCleanseBelow = 4096;
// The block's size, stored in front of it; 16 keeps malloc's alignment.
constexpr size_t kPrefix = 16;

size_t& SizeOf(void* ptr) { return *reinterpret_cast<size_t*>(static_cast<char*>(ptr) - kPrefix); }

}  // namespace

// Exported from the executable (see BUILD.bazel's linkopts), so the shared
// libcrypto binds its weak references to them.
extern "C" {

void* OPENSSL_memory_alloc(size_t size) {
  if (size > SIZE_MAX - kPrefix) return nullptr;
  void* block = std::malloc(size + kPrefix);
  if (block == nullptr) return nullptr;
  void* ptr = static_cast<char*>(block) + kPrefix;
  SizeOf(ptr) = size;
  return ptr;
}

void OPENSSL_memory_free(void* ptr) {
  if (ptr == nullptr) return;
  const size_t size = SizeOf(ptr);
  if (size < kCleanseBelow) OPENSSL_cleanse(ptr, size);
  std::free(static_cast<char*>(ptr) - kPrefix);
}

size_t OPENSSL_memory_get_size(void* ptr) { return SizeOf(ptr); }

}  // extern "C"
