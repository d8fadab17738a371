#include "api/problem.hpp"

#include <fmt/core.h>

#include "engine/log/json.hpp"

namespace ordo::api {
namespace {

std::string_view title_for(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

}  // namespace

std::string problem_body(const Problem& p) {
  Json::Object o{{"type", Json("https://ordo.dev/problems/" + p.code)},
                 {"title", Json(title_for(p.status))},
                 {"status", Json(int64_t(p.status))},
                 {"detail", Json(p.detail)},
                 {"code", Json(p.code)}};
  if (p.field) o.emplace("field", Json(*p.field));
  return to_canonical(Json(std::move(o)));
}

Response make_problem(const Problem& p, unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(p.status), version};
  res.set(http::field::content_type, "application/problem+json");
  if (p.retry_after_s) res.set(http::field::retry_after, std::to_string(*p.retry_after_s));
  res.keep_alive(keep_alive);
  res.body() = problem_body(p);
  res.prepare_payload();
  return res;
}

int status_for(RejectCode code) noexcept {
  switch (code) {
    case RejectCode::invalid_command:
      return 400;
    case RejectCode::unknown_sku:
      return 422;
    case RejectCode::already_exists:
      return 409;
    case RejectCode::not_found:
      return 404;
    case RejectCode::out_of_stock:
      return 409;
    case RejectCode::stock_below_reserved:
      return 409;
    case RejectCode::stock_limit:
      return 422;
    case RejectCode::mixed_sellers:
      return 422;
    case RejectCode::mixed_currencies:
      return 422;
    case RejectCode::amount_overflow:
      return 422;
    case RejectCode::invalid_transition:
      return 409;
    case RejectCode::version_conflict:
      return 412;
    case RejectCode::insufficient_funds:
      return 409;
    case RejectCode::amount_mismatch:
      return 422;
    case RejectCode::refund_exceeds_capture:
      return 409;
  }
  return 500;
}

}  // namespace ordo::api
