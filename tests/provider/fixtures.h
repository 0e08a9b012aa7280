#pragma once
// Test support for the provider adapters: recorded-shape response bodies from fixtures/ and
// HttpResponse values built from them.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "switchyard/provider/http_client.h"

namespace switchyard::testing {

// The text of tests/provider/fixtures/<name>; fails the test when it cannot be read.
inline std::string fixture(const std::string& name) {
  const std::string path = std::string(SWITCHYARD_SOURCE_DIR) + "/tests/provider/fixtures/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read fixture " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline HttpResponse response_of(int status, std::string body,
                                std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

inline std::string header_value(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

}  // namespace switchyard::testing
