#pragma once
// Starts the real `ordo serve` binary (path in $ORDO_BIN) as a child process on a free
// loopback port, waits until /readyz answers, and stops it with SIGTERM or SIGKILL.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/jwt.hpp"
#include "tests/support/http_client.hpp"

namespace ordo::test {

inline std::string ordo_bin() {
  const char* b = std::getenv("ORDO_BIN");
  if (!b) throw std::runtime_error("set ORDO_BIN to the ordo binary");
  return b;
}

// The Kafka suites: ORDO_TEST_KAFKA=HOST:PORT runs every server against that broker
// (`--kafka`), so the e2e and crash suites are the same code for both backends.
inline std::optional<std::string> test_kafka_brokers() {
  const char* b = std::getenv("ORDO_TEST_KAFKA");
  if (!b || !*b) return std::nullopt;
  return std::string(b);
}

// Each data directory gets a topic (and transactional ids) of its own, stable across
// restarts of the same directory, so tests sharing one broker never see each other.
inline std::string test_kafka_topic(const std::string& data_dir) {
  return fmt::format("ordo.test.{:016x}", std::hash<std::string>{}(data_dir));
}

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() /
             ("ordo-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd())))
                .string();
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline const std::string kTestSecret = "test-secret-0123456789abcdef0123456789abcdef";

inline std::string token(const std::string& sub, api::Role role, int64_t ttl_s = 3600,
                         std::optional<std::string> tier = std::nullopt,
                         const std::string& secret = kTestSecret) {
  api::Claims c;
  c.sub = sub;
  c.role = role;
  c.exp_s = std::chrono::duration_cast<std::chrono::seconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count() +
            ttl_s;
  c.tier = std::move(tier);
  return api::sign_jwt(c, secret);
}

inline std::map<std::string, std::string> bearer(const std::string& t) {
  return {{"Authorization", "Bearer " + t}};
}

class ServerProcess {
 public:
  ServerProcess(std::string data_dir, std::vector<std::string> extra_args = {})
      : data_dir_(std::move(data_dir)), extra_(std::move(extra_args)) {}
  ~ServerProcess() { kill9(); }

  void start() {
    std::filesystem::create_directories(data_dir_);
    std::string secret_file = data_dir_ + "/test-jwt.secret";
    std::ofstream(secret_file) << kTestSecret << "\n";
    std::filesystem::permissions(
        secret_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::string port_file = data_dir_ + "/port";
    std::filesystem::remove(port_file);
    std::vector<std::string> args{ordo_bin(),          "serve",       "--data-dir",  data_dir_,
                                  "--listen",          "127.0.0.1:0", "--port-file", port_file,
                                  "--jwt-secret-file", secret_file};
    args.insert(args.end(), extra_.begin(), extra_.end());
    // ORDO_TEST_HTTP_THREADS=N serves with N HTTP threads (the default is 2, with a strand per
    // connection; 1 runs every connection on the one thread without strands).
    if (const char* t = std::getenv("ORDO_TEST_HTTP_THREADS");
        t && *t && std::find(extra_.begin(), extra_.end(), "--http-threads") == extra_.end())
      args.insert(args.end(), {"--http-threads", t});
    if (auto brokers = test_kafka_brokers();
        brokers && std::find(extra_.begin(), extra_.end(), "--kafka") == extra_.end()) {
      const std::string topic = test_kafka_topic(data_dir_);
      args.insert(args.end(), {"--kafka", *brokers, "--kafka-topic", topic,
                               "--kafka-transactional-prefix", topic + "-"});
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      if (!stderr_path_.empty()) {
        int fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) ::dup2(fd, 2);
      }
      if (open_file_limit_ > 0) {
        rlimit fds{open_file_limit_, open_file_limit_};
        if (::setrlimit(RLIMIT_NOFILE, &fds) != 0) ::_exit(126);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid_ < 0) throw std::runtime_error("fork failed");
    // Poll (bounded) until the port file appears and /readyz answers.
    for (int i = 0; i < 3000; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        startup_exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        throw std::runtime_error("ordo serve exited during start-up");
      }
      std::ifstream pf(port_file);
      int port = 0;
      if (pf >> port && port > 0) {
        // Over HTTPS the plain client cannot ask /readyz; the port file (written once the
        // listener is up) is the signal, and the test talks TLS itself.
        const bool tls = std::find(extra_.begin(), extra_.end(), "--tls-cert") != extra_.end();
        HttpClient c(static_cast<uint16_t>(port));
        if (tls || c.get("/readyz").status == 200) {
          port_ = static_cast<uint16_t>(port);
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("ordo serve did not become ready");
  }

  // The server's stderr goes to `path` (appended) instead of the test's, so a test can read
  // what the server logged. Call before start().
  void capture_stderr(std::string path) { stderr_path_ = std::move(path); }
  // The server runs with this open-file limit, soft and hard (0: the test's own).
  void limit_open_files(rlim_t n) { open_file_limit_ = n; }
  // The exit status of a server that exited during start() (-1: did not exit, or by a signal).
  int startup_exit_code() const { return startup_exit_code_; }
  void kill9() { stop(SIGKILL); }
  void terminate() { stop(SIGTERM); }
  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  void stop(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string data_dir_;
  std::vector<std::string> extra_;
  std::string stderr_path_;
  rlim_t open_file_limit_ = 0;
  pid_t pid_ = -1;
  int startup_exit_code_ = -1;
  uint16_t port_ = 0;
};

}  // namespace ordo::test
