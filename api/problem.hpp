#pragma once
// RFC 9457 problem details: every error the API returns is application/problem+json with
// `type`, `title`, `status`, `detail` and Ordo's stable `code`.
#include <optional>
#include <string>
#include <string_view>

#include "api/http_types.hpp"
#include "engine/domain/reject.hpp"

namespace ordo::api {

struct Problem {
  int status = 500;
  std::string code;                  // stable machine-readable name, e.g. "out_of_stock"
  std::string detail;                // human-readable, specific to this occurrence
  std::optional<std::string> field;  // the offending request field, for validation errors
  std::optional<int> retry_after_s;
};

std::string problem_body(const Problem& p);
Response make_problem(const Problem& p, unsigned version, bool keep_alive);

// The HTTP status for a domain rejection: the only place this mapping exists.
int status_for(RejectCode code) noexcept;

}  // namespace ordo::api
