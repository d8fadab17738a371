#pragma once
// Domain rejections are values: a closed set with stable names. HTTP status mapping lives
// in api/, never here.
#include <string_view>

namespace ordo {

enum class RejectCode {
  invalid_command,         // a command that should never have passed validation at the edge
  unknown_sku,             // a SKU that has not been defined
  already_exists,          // the id is taken (product or order)
  not_found,               // the aggregate the command targets does not exist
  out_of_stock,            // not enough available stock for a line
  stock_below_reserved,    // a shrink would take on hand below what is reserved
  stock_limit,             // a restock would pass the stock ceiling
  mixed_sellers,           // an order's lines belong to more than one seller
  mixed_currencies,        // an order's lines are priced in more than one currency
  amount_overflow,         // an order total beyond the money ceiling
  invalid_transition,      // the aggregate's status does not allow the command
  version_conflict,        // If-Match did not match the stream version
  insufficient_funds,      // a wallet's available balance is below the amount
  amount_mismatch,         // a provider's capture differs from the payment's amount
  refund_exceeds_capture,  // refunds would pass what was captured (or is still in escrow)
};

inline constexpr RejectCode kAllRejectCodes[] = {
    RejectCode::invalid_command,
    RejectCode::unknown_sku,
    RejectCode::already_exists,
    RejectCode::not_found,
    RejectCode::out_of_stock,
    RejectCode::stock_below_reserved,
    RejectCode::stock_limit,
    RejectCode::mixed_sellers,
    RejectCode::mixed_currencies,
    RejectCode::amount_overflow,
    RejectCode::invalid_transition,
    RejectCode::version_conflict,
    RejectCode::insufficient_funds,
    RejectCode::amount_mismatch,
    RejectCode::refund_exceeds_capture,
};

constexpr std::string_view to_string(RejectCode c) noexcept {
  switch (c) {
    case RejectCode::invalid_command:
      return "invalid_command";
    case RejectCode::unknown_sku:
      return "unknown_sku";
    case RejectCode::already_exists:
      return "already_exists";
    case RejectCode::not_found:
      return "not_found";
    case RejectCode::out_of_stock:
      return "out_of_stock";
    case RejectCode::stock_below_reserved:
      return "stock_below_reserved";
    case RejectCode::stock_limit:
      return "stock_limit";
    case RejectCode::mixed_sellers:
      return "mixed_sellers";
    case RejectCode::mixed_currencies:
      return "mixed_currencies";
    case RejectCode::amount_overflow:
      return "amount_overflow";
    case RejectCode::invalid_transition:
      return "invalid_transition";
    case RejectCode::version_conflict:
      return "version_conflict";
    case RejectCode::insufficient_funds:
      return "insufficient_funds";
    case RejectCode::amount_mismatch:
      return "amount_mismatch";
    case RejectCode::refund_exceeds_capture:
      return "refund_exceeds_capture";
  }
  return "unknown";
}

}  // namespace ordo
