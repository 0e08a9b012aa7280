#include "worker/store_health.h"

#include "worker/job.h"  // worker_log

namespace switchyard {

void StoreHealth::failed(const char* what, const std::string& error) {
  failures_.inc();
  if (healthy_.exchange(false)) {
    worker_log()->error(
        "{} failed: {}; intake paused, results kept in memory, retrying every {} ms", what, error,
        retry_backoff_ms_);
  }
}

void StoreHealth::succeeded() {
  if (!healthy_.exchange(true)) worker_log()->info("postgres reachable again; intake resumes");
}

}  // namespace switchyard
