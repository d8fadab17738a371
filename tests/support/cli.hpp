#pragma once
// Running the real `ordo` binary as a command line, and the files such runs read and write.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/support/server_process.hpp"

namespace ordo::test {

// A whole file's bytes ("" when it cannot be read: the caller's checks then fail on it).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct CliRun {
  int code = -1;  // the exit code; -1 when killed by a signal
  std::string out, err;
};

// Runs `ordo ARGS` through the shell, bounded by `timeout`, capturing stdout and stderr in
// files under `dir` and the exit code. ARGS is shell text: quote what may hold spaces.
inline CliRun run_ordo(const TempDir& dir, const std::string& args) {
  const std::string out = dir.path() + "/cli.out", err = dir.path() + "/cli.err";
  const std::string cmd =
      "timeout 120 '" + ordo_bin() + "' " + args + " > '" + out + "' 2> '" + err + "'";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// A self-signed certificate for 127.0.0.1, valid for a day, and its key (openssl's CLI).
inline void make_self_signed_cert(const std::string& cert, const std::string& key) {
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
      key + "' -out '" + cert + "' >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace ordo::test
