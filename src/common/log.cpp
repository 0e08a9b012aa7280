#include "switchyard/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace switchyard {

std::shared_ptr<spdlog::logger> named_logger(const std::string& name) {
  if (auto logger = spdlog::get(name)) return logger;
  try {
    return spdlog::stderr_color_mt(name);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(name);  // another thread registered it between get() and here
  }
}

}  // namespace switchyard
