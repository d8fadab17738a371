#pragma once
// Strong types for the domain: ids, quantities, money and time. Units come last in names.
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/domain/named_type.hpp"

namespace ordo {

using Sku = named_type<std::string, struct SkuTag>;
using SellerId = named_type<std::string, struct SellerIdTag>;
using CustomerId = named_type<std::string, struct CustomerIdTag>;
using OrderId = named_type<std::string, struct OrderIdTag>;
using Currency = named_type<std::string, struct CurrencyTag>;
using PaymentId = named_type<std::string, struct PaymentIdTag>;
using PayoutId = named_type<std::string, struct PayoutIdTag>;
// The owner of a wallet: a customer or a seller id (the `sub` of their token).
using OwnerId = named_type<std::string, struct OwnerIdTag>;

// Units of stock. Signed so that a delta (restock or shrink) has the same type.
using Quantity = named_type<int64_t, struct QuantityTag>;
// Money in minor units of a currency (cents for USD). Never a float.
using AmountMinor = named_type<int64_t, struct AmountMinorTag>;
// Milliseconds since the Unix epoch, always passed in from an injected clock.
using TimestampMs = named_type<int64_t, struct TimestampMsTag>;
using DurationMs = named_type<int64_t, struct DurationMsTag>;

// Limits that keep every number far from int64 overflow: price * qty * lines fits.
inline constexpr int64_t kMaxPriceMinor = 1'000'000'000'000;  // 10^12 minor units
inline constexpr int64_t kMaxStock = 1'000'000'000'000;       // 10^12 units
inline constexpr int64_t kMaxLineQty = 1'000'000;
inline constexpr size_t kMaxOrderLines = 100;
inline constexpr size_t kMaxIdLength = 64;
// Free text (names, reasons, references, destinations) is limited in characters (Unicode
// code points), as the JSON Schemas' maxLength counts them, so the edge, the schema and the
// domain agree on every string; 200 characters are at most 800 bytes of UTF-8.
inline constexpr size_t kMaxNameLength = 200;
inline constexpr size_t kMaxReasonLength = 200;
// One money movement (deposit, payout, payment) is at most 10^15 minor units, so sums of
// many stay far from int64 overflow.
inline constexpr int64_t kMaxAmountMinor = 1'000'000'000'000'000;
// Platform fee in basis points of an escrow's amount (10000 = 100%).
inline constexpr int64_t kMaxFeeBps = 10'000;

// Ids are client-chosen strings [A-Za-z0-9._:-]{1,64} (DESIGN §3).
bool is_valid_id(std::string_view s) noexcept;
bool is_id_char(char c) noexcept;  // one of [A-Za-z0-9._:-]
// A stream's name is its kind and its ids ("order-o1", "wallet-acme.EUR"): id characters
// only, at most kMaxStreamNameLength.
inline constexpr size_t kMaxStreamNameLength = 128;
bool is_valid_stream_name(std::string_view s) noexcept;
// Well-formed UTF-8 (no overlongs, no surrogates): free text must survive a JSON round trip.
bool is_valid_utf8(std::string_view s) noexcept;
// The number of code points of valid UTF-8 `s`.
size_t utf8_length(std::string_view s) noexcept;
// Free text: valid UTF-8 of at most `max_chars` code points, without U+0000 (which
// PostgreSQL's text and jsonb cannot hold: one would stop the views' projector for good).
bool is_text_within(std::string_view s, size_t max_chars) noexcept;
// ISO 4217 alphabetic code: three upper-case letters.
bool is_valid_currency(std::string_view s) noexcept;

}  // namespace ordo
