#include <cstdlib>
#include <pqxx/pqxx>

#include "store/migrations_data.h"
#include "switchyard/store/store.h"

namespace switchyard {

namespace {

// Any fixed number works; it only has to be the same for every switchyard process.
constexpr long long kMigrationLockKey = 0x5357'4954'4348;  // "SWITCH"

int version_of(const std::string& name) {
  return std::atoi(name.c_str());
}

}  // namespace

int latest_migration_version() {
  int latest = 0;
  for (const auto& m : embedded_migrations()) latest = std::max(latest, version_of(m.name));
  return latest;
}

MigrationReport apply_migrations(const std::string& url) {
  MigrationReport report;
  try {
    pqxx::connection conn(url);
    {
      pqxx::work tx(conn);
      tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
      tx.exec(
          "CREATE TABLE IF NOT EXISTS switchyard_migrations ("
          " version integer PRIMARY KEY, name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      tx.commit();
    }
    for (const auto& m : embedded_migrations()) {
      int version = version_of(m.name);
      pqxx::work tx(conn);
      // Serialises concurrent migrators; the second one finds the version recorded and skips.
      tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
      pqxx::result done =
          tx.exec_params("SELECT name FROM switchyard_migrations WHERE version = $1", version);
      if (!done.empty() && done[0][0].as<std::string>() != m.name) {
        // Another build's migration holds this version: applying ours on top would leave the
        // schema neither build expects.
        report.error = "migration " + std::to_string(version) + " of this database is '" +
                       done[0][0].as<std::string>() + "', but this build's is '" + m.name +
                       "': the database was migrated by a different build; migrate it with that "
                       "build's history or recreate it";
        return report;
      }
      if (done.empty()) {
        tx.exec(m.sql);
        tx.exec_params("INSERT INTO switchyard_migrations (version, name) VALUES ($1, $2)", version,
                       m.name);
        report.applied.push_back(m.name);
      }
      tx.commit();
      report.version = std::max(report.version, version);
    }
  } catch (const std::exception& e) {
    report.error = e.what();
  }
  return report;
}

int database_schema_version(const std::string& url, std::string& error) {
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    pqxx::result exists = tx.exec("SELECT to_regclass('switchyard_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return 0;
    pqxx::result v = tx.exec("SELECT coalesce(max(version), 0) FROM switchyard_migrations");
    return v[0][0].as<int>();
  } catch (const std::exception& e) {
    error = e.what();
    return -1;
  }
}

}  // namespace switchyard
