#pragma once
// The SQL files of migrations/, compiled in (see CMakeLists.txt), sorted by file name.
#include <string>
#include <vector>

namespace switchyard {

struct EmbeddedMigration {
  std::string name;  // e.g. "0001_spine.sql"; the leading number is the version
  std::string sql;
};

const std::vector<EmbeddedMigration>& embedded_migrations();

}  // namespace switchyard
