#include "api/secrets.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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

}  // namespace ordo::api
