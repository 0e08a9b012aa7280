#pragma once
// Test helpers for the provider simulator: a plain synchronous Beast client over loopback, JSON
// parsing, and request bodies/headers of each dialect.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <string>
#include <utility>
#include <vector>

#include "switchyard/sim/provider_sim.h"

namespace switchyard::sim_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Response = http::response<http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// One keep-alive connection to the simulator.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(context_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  Response send(http::verb verb, const std::string& target, const std::string& body = "",
                const Headers& headers = {}) {
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    http::write(socket_, request);
    Response response;
    http::read(socket_, buffer_, response);
    return response;
  }

  // Sends without reading; then closed_by_server() or read_response().
  void send_only(http::verb verb, const std::string& target, const std::string& body,
                 const Headers& headers = {}) {
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    http::write(socket_, request);
  }

  Response chat(const std::string& body) {
    return send(http::verb::post, "/v1/chat/completions", body);
  }
  Response anthropic(const std::string& body, const Headers& headers = anthropic_headers()) {
    return send(http::verb::post, "/v1/messages", body, headers);
  }
  Response azure(const std::string& deployment, const std::string& body,
                 const Headers& headers = {{"api-key", "test-key"}},
                 const std::string& query = "?api-version=2024-10-21") {
    return send(http::verb::post, "/openai/deployments/" + deployment + "/chat/completions" + query,
                body, headers);
  }

  static Headers anthropic_headers() {
    return {{"x-api-key", "test-key"}, {"anthropic-version", "2023-06-01"}};
  }

  // True when the server closed the connection (read fails) instead of answering.
  bool closed_by_server() {
    beast::error_code ec;
    Response response;
    http::read(socket_, buffer_, response, ec);
    return static_cast<bool>(ec);
  }

  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context context_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

inline rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

inline std::string header(const Response& response, std::string_view name) {
  auto it = response.find(beast::string_view(name.data(), name.size()));
  return it == response.end() ? std::string() : std::string(it->value());
}

inline SimOptions ephemeral(SimOptions options = {}) {
  options.port = 0;
  return options;
}

// `count` short words: exactly `count` tokens under approx_token_count().
inline std::string words(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    if (i > 0) text += ' ';
    text += "word";
  }
  return text;
}

}  // namespace switchyard::sim_test
