#pragma once
// One named spdlog logger per area ("worker", "kafka", "http", "sim", "store", "cli"), created on
// first use and registered, so `spdlog::set_level` and `set_pattern` apply to all of them.
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace switchyard {

std::shared_ptr<spdlog::logger> named_logger(const std::string& name);

}  // namespace switchyard
