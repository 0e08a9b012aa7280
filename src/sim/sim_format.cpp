#include "sim/sim_format.h"

#include <charconv>

namespace switchyard::sim {

void append_uint(std::string& out, std::uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out.append(digits, end);
}

void append_hex16(std::string& out, std::uint64_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(value >> shift) & 0xF]);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 529:
      return "Overloaded";
    default:
      return status < 500 ? "Client Error" : "Server Error";
  }
}

void start_head(std::string& head, int status) {
  head.clear();
  head.append("HTTP/1.1 ");
  append_uint(head, static_cast<std::uint64_t>(status));
  head.push_back(' ');
  head.append(reason_phrase(status));
  head.append("\r\nServer: switchyard-provider-sim\r\n");
}

void finish_head(std::string& head, std::string_view content_type, std::size_t body_bytes,
                 bool keep_alive) {
  head.append("Content-Type: ");
  head.append(content_type);
  head.append("\r\nContent-Length: ");
  append_uint(head, body_bytes);
  head.append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
}

}  // namespace switchyard::sim
