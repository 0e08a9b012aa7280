// `switchyard run`, `check-config` and `migrate`.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "switchyard/app/commands.h"
#include "switchyard/common/flags.h"
#include "switchyard/common/log.h"
#include "switchyard/config/config.h"
#include "switchyard/store/store.h"
#include "switchyard/worker/worker.h"

namespace switchyard {

namespace {

std::atomic<Worker*> g_worker{nullptr};
std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
  if (Worker* w = g_worker.load()) w->request_stop();
}

void set_log_level(const std::string& level) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  if (!level.empty()) spdlog::set_level(spdlog::level::from_str(level));
}

void raise_fd_limit() {
  // 10,000 requests in flight need 10,000 keep-alive connections.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

bool load_or_report(const std::string& path, Config& out) {
  if (path.empty()) {
    std::fprintf(stderr, "error: --config FILE is required\n");
    return false;
  }
  ConfigLoad load = load_config_file(path);
  if (!load.ok()) {
    std::fprintf(stderr, "%s: %zu problem%s:\n", path.c_str(), load.problems.size(),
                 load.problems.size() == 1 ? "" : "s");
    for (const auto& p : load.problems) std::fprintf(stderr, "  - %s\n", p.c_str());
    return false;
  }
  out = std::move(load.config);
  return true;
}

}  // namespace

int cmd_check_config(const Args& args) {
  Flags flags(args, {"config"}, {"keys", "help"});
  if (flags.has("help") || flags.has("keys")) {
    std::printf("usage: switchyard check-config FILE\n\nkeys:\n%s", describe_config_keys().c_str());
    return 0;
  }
  std::string path = flags.get("config", flags.positional().empty() ? "" : flags.positional()[0]);
  Config config;
  if (!load_or_report(path, config)) return 1;
  std::printf("%s: ok (%zu deployments, %zu teams, %zu request topics)\n", path.c_str(),
              config.deployments.size(), config.teams.size(), config.request_topics().size());
  return 0;
}

int cmd_migrate(const Args& args) {
  Flags flags(args, {"config", "url"}, {"help"});
  if (!flags.ok() || flags.has("help")) {
    for (const auto& e : flags.errors()) std::fprintf(stderr, "error: %s\n", e.c_str());
    std::fprintf(stderr, "usage: switchyard migrate (--config FILE | --url POSTGRES_URL)\n");
    return flags.has("help") ? 0 : 2;
  }
  std::string url = flags.get("url");
  if (url.empty()) {
    Config config;
    if (!load_or_report(flags.get("config"), config)) return 1;
    url = config.postgres_url();
  }
  MigrationReport report = apply_migrations(url);
  if (!report.error.empty()) {
    std::fprintf(stderr, "migrate failed: %s\n", report.error.c_str());
    return 1;
  }
  for (const auto& name : report.applied) std::printf("applied %s\n", name.c_str());
  std::printf("schema at version %d\n", report.version);
  return 0;
}

int cmd_run(const Args& args) {
  Flags flags(args, {"config", "log-level", "stats-file", "bootstrap"}, {"migrate", "help"});
  if (!flags.ok() || flags.has("help")) {
    for (const auto& e : flags.errors()) std::fprintf(stderr, "error: %s\n", e.c_str());
    std::fprintf(
        stderr,
        "usage: switchyard run --config FILE [--bootstrap HOST:PORT] [--migrate] [--log-level "
        "LEVEL]\n"
        "                      [--stats-file PATH]\n"
        "  --bootstrap    overrides kafka.bootstrap_servers\n"
        "  --migrate      apply pending migrations before starting\n"
        "  --stats-file   write the worker's counters and latency figures (JSON) on exit\n");
    return flags.has("help") ? 0 : 2;
  }
  set_log_level(flags.get("log-level", "info"));
  Config config;
  if (!load_or_report(flags.get("config"), config)) return 1;
  // From here on the config's log format and level apply (--log-level wins over log.level);
  // both were validated at load.
  {
    const std::string level = flags.has("log-level") ? flags.get("log-level") : config.log.level;
    auto parsed_level = parse_log_level(level);
    if (!parsed_level) {
      std::fprintf(stderr, "error: --log-level: unknown level '%s'\n", level.c_str());
      return 2;
    }
    configure_logging(parse_log_format(config.log.format).value_or(LogFormat::text), *parsed_level);
  }
  if (flags.has("bootstrap")) config.kafka.bootstrap_servers = flags.get("bootstrap");
  raise_fd_limit();
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGPIPE, SIG_IGN);

  // Postgres may still be starting: wait for it rather than fail, but say so.
  const std::string url = config.postgres_url();
  for (int attempt = 0;; ++attempt) {
    if (g_stop.load()) return 0;
    std::string error;
    if (flags.has("migrate")) {
      MigrationReport report = apply_migrations(url);
      error = report.error;
    }
    int version = error.empty() ? database_schema_version(url, error) : -1;
    if (version >= 0) {
      if (version < latest_migration_version()) {
        spdlog::error(
            "database schema is at version {}, this worker needs {}: run `switchyard migrate`",
            version, latest_migration_version());
        return 1;
      }
      break;
    }
    if (attempt % 10 == 0) spdlog::warn("postgres not reachable yet ({}); retrying", error);
    std::this_thread::sleep_for(std::chrono::milliseconds(config.postgres.retry_backoff_ms));
  }

  Worker worker(config);
  g_worker.store(&worker);
  if (g_stop.load()) worker.request_stop();
  int code = 0;
  try {
    code = worker.run();
  } catch (const std::exception& e) {
    spdlog::error("worker failed to start: {}", e.what());
    code = 1;
  }
  g_worker.store(nullptr);
  if (flags.has("stats-file")) {
    if (FILE* f = std::fopen(flags.get("stats-file").c_str(), "w")) {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);
      std::string json = worker.stats().to_json();
      json.insert(json.size() - 1, ",\"peak_rss_kb\":" + std::to_string(usage.ru_maxrss));
      std::fputs(json.c_str(), f);
      std::fclose(f);
    }
  }
  return code;
}

}  // namespace switchyard
