#include "worker/job.h"

namespace switchyard {

void set_error(Job& job, ErrorCode code, std::string message) {
  job.result.error = code;
  job.result.error_message = std::move(message);
  job.result.content.clear();
  job.result.finish_reason.clear();
}

LogFields fields_of(const Job& job, const Config& config) {
  std::string_view deployment =
      job.attempt > 0 ? std::string_view(config.deployments[job.deployment_index].name)
                      : std::string_view();
  return LogFields{{"request_id", std::string_view(job.decoded.request.request_id)},
                   {"deployment", deployment},
                   {"topic", std::string_view(job.tp.topic)},
                   {"partition", static_cast<std::int64_t>(job.tp.partition)},
                   {"offset", job.offset}};
}

const std::shared_ptr<spdlog::logger>& worker_log() {
  static const auto logger = named_logger("worker");
  return logger;
}

}  // namespace switchyard
