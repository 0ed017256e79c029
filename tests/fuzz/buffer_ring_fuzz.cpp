// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: random sequences of operations on BufferPool buffers and a
// ByteRing, checked against a plain model (std::string, std::deque).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "cistern/buffer.hpp"
#include "cistern/ring.hpp"

namespace {

struct Input {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t pos = 0;
  bool more() const { return pos < size; }
  std::uint8_t byte() { return pos < size ? data[pos++] : 0; }
  std::size_t number(std::size_t limit) {
    std::size_t v = byte();
    v = v << 8 | byte();
    return limit == 0 ? 0 : v % limit;
  }
};

[[noreturn]] void mismatch() { __builtin_trap(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static cistern::BufferPool pool;  // shared across inputs: calibration sees them all
  Input in{data, size};
  std::optional<cistern::Buffer> buffers[4];
  std::string models[4];
  cistern::ByteRing ring(4096);
  std::deque<std::byte> ring_model;
  std::uint8_t next_byte = 0;

  while (in.more()) {
    std::uint8_t op = in.byte();
    std::size_t i = op >> 4 & 3;
    switch (op & 15) {
      case 0:
        buffers[i] = pool.get(in.number(70000));
        models[i].clear();
        break;
      case 1:
        if (buffers[i]) {
          std::string chunk(in.number(5000), static_cast<char>(in.byte()));
          buffers[i]->append(chunk);
          models[i] += chunk;
        }
        break;
      case 2:
        if (buffers[i]) {
          std::size_t n = in.number(9000);
          buffers[i]->resize(n);
          models[i].resize(n, '\0');
        }
        break;
      case 3:
        if (buffers[i]) {
          buffers[i]->clear();
          models[i].clear();
        }
        break;
      case 4:
        buffers[i].reset();
        models[i].clear();
        break;
      case 5: {  // ring: write up to n bytes
        auto w = ring.write_span();
        std::size_t n = std::min(w.size(), in.number(6000));
        for (std::size_t k = 0; k < n; ++k) {
          w[k] = std::byte(next_byte++);
          ring_model.push_back(w[k]);
        }
        ring.commit(n);
        break;
      }
      case 6: {  // ring: read up to n bytes and compare
        auto r = ring.read_span();
        if (r.size() != ring_model.size()) mismatch();
        std::size_t n = std::min(r.size(), in.number(6000));
        for (std::size_t k = 0; k < n; ++k) {
          if (r[k] != ring_model.front()) mismatch();
          ring_model.pop_front();
        }
        ring.consume(n);
        break;
      }
      default:
        break;
    }
    for (std::size_t k = 0; k < 4; ++k) {
      if (buffers[k] && buffers[k]->view() != models[k]) mismatch();
    }
  }
  return 0;
}
