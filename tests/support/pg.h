#pragma once
// Test support: a fresh database per test on the local Postgres that scripts/pg.sh started.
// SWITCHYARD_TEST_PG_URL overrides the server (any database on it; the test creates its own).
#include <gtest/gtest.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <string>

#include "support/worker_process.h"
#include "switchyard/store/store.h"

namespace switchyard::testing {

inline std::string pg_server_url(const std::string& database) {
  const char* env = std::getenv("SWITCHYARD_TEST_PG_URL");
  std::string base = env ? env : "postgresql://postgres@127.0.0.1:55432/postgres";
  auto slash = base.rfind('/');
  auto query = base.find('?', slash);
  return base.substr(0, slash + 1) + database +
         (query == std::string::npos ? "" : base.substr(query));
}

// Drops and re-creates `name`, applies the migrations, returns its URL.
inline std::string fresh_database(const std::string& name) {
  return recreate_database(pg_server_url("postgres"), name);
}

// Drops and re-creates `name` without any migration (to migrate it step by step).
inline std::string empty_database(const std::string& name) {
  return recreate_database(pg_server_url("postgres"), name, /*migrate=*/false);
}

inline std::string query_one(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  pqxx::result r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
}

}  // namespace switchyard::testing
