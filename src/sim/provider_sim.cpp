// Provider simulator: one io_context per thread ("shard"), one acceptor on shard 0 handing
// accepted sockets round-robin to the shards, one coroutine per connection (plain TCP or TLS).
// A shard is touched only by its own thread, so the connection registry and the JSON parse
// buffer need no locks; counters shared across shards are relaxed atomics. The per-model
// counters are per shard behind a mutex only stats() contends for; the prompt-cache memory and
// the request log are shared behind mutexes, touched only by long prompts and when recording.
//
// Per request: Beast parses the HTTP message, RapidJSON parses the body in place with a
// per-shard arena, the dialect module (dialect.h) reads it and writes the reply into
// per-connection buffers that keep their capacity across requests, so a warm keep-alive
// connection allocates only for the request itself (header fields, body string).
#include "switchyard/sim/provider_sim.h"

#include "sim/sim_server.h"

namespace switchyard {

using sim_server::Server;

std::uint32_t approx_token_count(std::string_view text) {
  std::uint32_t tokens = 0;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  auto is_letter = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
  };
  auto is_digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
  auto is_space = [](unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (i < n) {
    unsigned char c = at(i);
    if (is_letter(c)) {
      std::size_t start = i;
      while (i < n && is_letter(at(i))) ++i;
      std::size_t length = i - start;
      tokens += static_cast<std::uint32_t>(length <= 7 ? 1 : (length + 3) / 4);
    } else if (is_digit(c)) {
      std::size_t start = i;
      while (i < n && is_digit(at(i))) ++i;
      tokens += static_cast<std::uint32_t>((i - start + 2) / 3);
    } else {
      if (!is_space(c)) ++tokens;
      ++i;
    }
  }
  return tokens;
}

struct ProviderSimulator::Impl : Server {
  using Server::Server;
};

ProviderSimulator::ProviderSimulator(SimOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ProviderSimulator::~ProviderSimulator() = default;  // Server's destructor stops

void ProviderSimulator::start() {
  impl_->start();
}
void ProviderSimulator::stop() {
  impl_->stop();
}
std::uint16_t ProviderSimulator::port() const {
  return impl_->port();
}
SimStats ProviderSimulator::stats() const {
  return impl_->stats();
}
std::vector<SimRequestRecord> ProviderSimulator::request_log() const {
  return impl_->request_log();
}

}  // namespace switchyard
