#pragma once
// Shared by the integration harness (tests/integration/harness.h) and the end-to-end bench
// (bench/e2e_bench.cpp): a fresh migrated database, and the real `switchyard run` as a child
// process with its output in a log file. No GoogleTest here, so the bench can use it too.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <vector>

#include "switchyard/store/store.h"

namespace switchyard::testing {

// Drops and re-creates database `name` on the server of `server_url` (a URL naming any database
// there), applies the migrations unless `migrate` is false, and returns the new database's URL.
// Throws when it cannot.
inline std::string recreate_database(const std::string& server_url, const std::string& name,
                                     bool migrate = true) {
  {
    pqxx::connection admin(server_url);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  }
  const auto slash = server_url.rfind('/');
  const auto query = server_url.find('?', slash);
  std::string url = server_url.substr(0, slash + 1) + name +
                    (query == std::string::npos ? "" : server_url.substr(query));
  if (!migrate) return url;
  MigrationReport report = apply_migrations(url);
  if (!report.error.empty())
    throw std::runtime_error("migrations on " + name + " failed: " + report.error);
  return url;
}

// The worker binary as a child process: `binary run --config CONFIG [args...]`, stdout and
// stderr to `log_path`.
class WorkerProcess {
 public:
  WorkerProcess() = default;
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;
  ~WorkerProcess() { stop(SIGKILL); }

  void start(const std::string& binary, const std::string& config_path, const std::string& log_path,
             const std::vector<std::string>& args = {}) {
    if (pid_ > 0) throw std::runtime_error("worker already running");
    exit_status_ = 0;
    std::vector<std::string> argv_text = {binary, "run", "--config", config_path};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    pid_ = pid;
  }

  // Sends `sig` (unless it has exited already) and waits for the exit; returns the exit status,
  // or -signal; 0 when none was started.
  int stop(int sig = SIGTERM) {
    if (pid_ > 0) {
      kill(pid_, sig);
      int status = 0;
      waitpid(pid_, &status, 0);
      reaped(status);
    }
    const int status = exit_status_;
    exit_status_ = 0;
    return status;
  }

  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    reaped(status);
    return false;
  }
  pid_t pid() const { return pid_; }

 private:
  void reaped(int status) {
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

}  // namespace switchyard::testing
