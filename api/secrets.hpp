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
// When a server first started with `secret` as its previous JWT secret (ms since the epoch):
// read from `path` (one line, the secret's SHA-256 and the time), or `now_ms`, recorded there
// (mode 0600, synced) when the file names no time for this secret. A rotation's grace counts
// from then, so a restart does not lengthen it.
Result<int64_t> previous_secret_first_seen(const std::string& path, const std::string& secret,
                                           int64_t now_ms);

}  // namespace ordo::api
