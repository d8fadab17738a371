#include "api/secrets.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/log/envelope.hpp"  // sha256_hex

namespace ordo::api {

Result<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot read secret file " + path};
  // Anyone who can read the secret can mint tokens (or webhooks): say so, once per read.
  if (struct stat st{}; ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    std::fprintf(stderr,
                 "ordo: warning: secret file %s can be read by other users (mode %03o); "
                 "chmod 600 it\n",
                 path.c_str(), static_cast<unsigned>(st.st_mode & 0777));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.size() < kMinSecretBytes) return Error{"secret in " + path + " is shorter than 32 bytes"};
  return s;
}

Result<std::string> read_or_create_secret_file(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) return Error{"no randomness for a new secret"};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char c : raw) {
      hex.push_back(kHex[c >> 4]);
      hex.push_back(kHex[c & 15]);
    }
    hex.push_back('\n');
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) &&
                ::fsync(fd) == 0;
      ::close(fd);
      if (!ok) return Error{"cannot write secret file " + path};
    } else if (errno != EEXIST) {
      return Error{"cannot create secret file " + path};
    }
  }
  return read_secret_file(path);
}

Result<int64_t> previous_secret_first_seen(const std::string& path, const std::string& secret,
                                           int64_t now_ms) {
  const std::string digest = sha256_hex(secret);  // names the secret without holding it
  if (std::ifstream in(path); in) {
    std::string stored_digest;
    int64_t stored_ms = 0;
    if (!(in >> stored_digest >> stored_ms) || stored_digest.size() != 64 || stored_ms <= 0)
      std::fprintf(stderr, "ordo: warning: %s is not a grace record; starting the grace again\n",
                   path.c_str());
    else if (stored_digest == digest)
      return std::min(stored_ms, now_ms);  // a clock stepped back does not lengthen it
  }
  // Another secret's record (an earlier rotation), or none: this start is the first.
  const std::string line = digest + " " + std::to_string(now_ms) + "\n";
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return Error{"cannot write " + tmp};
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return Error{"cannot write " + path};
  // The rename is durable once the directory is synced.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  const bool dir_synced = dfd >= 0 && ::fsync(dfd) == 0;
  if (dfd >= 0) ::close(dfd);
  if (!dir_synced) return Error{"cannot sync the directory of " + path};
  return now_ms;
}

}  // namespace ordo::api
