#pragma once
// Secrets come from files or the environment, never from a command line that `ps` shows.
#include <string>

#include "engine/log/result.hpp"

namespace ordo::api {

inline constexpr size_t kMinSecretBytes = 32;

// Reads a secret file (trailing whitespace trimmed); refuses one shorter than 32 bytes.
Result<std::string> read_secret_file(const std::string& path);
// Reads `path`, or creates it with 32 random bytes (hex) and mode 0600 if it does not exist.
Result<std::string> read_or_create_secret_file(const std::string& path);

}  // namespace ordo::api
