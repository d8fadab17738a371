// CanonicalText reads JSON text only when it is already canonical: whatever it accepts must be
// exactly what to_canonical() writes for the value the text denotes (verify relies on that to
// hash stored bytes in place), and it must decline every other spelling.
#include <doctest/doctest.h>

#include <string>

#include "engine/log/canonical_text.hpp"
#include "engine/log/event_codec.hpp"
#include "engine/log/json.hpp"

using namespace ordo;

namespace {

bool is_canonical(const std::string& text) {
  auto tree = parse_json(text);
  return tree.ok() && to_canonical(tree.value()) == text;
}

}  // namespace

TEST_CASE("canonical text is read, and it is what to_canonical writes") {
  const std::string accepted[] = {
      "{}",
      "[]",
      "0",
      "\"x\"",
      "{\"a\":1}",
      "{\"a\":-5,\"b\":\"x y\",\"c\":[1,2,{\"d\":true}],\"e\":null,\"f\":false}",
      "{\"\":1,\"a\":2}",
      "{\"A\":1,\"a\":2}",         // byte order: upper case first
      "{\"z\":1,\"\xc3\xa9\":2}",  // é (0xC3 0xA9) sorts after z: bytes are unsigned
      "{\"a\":\"\xc3\xa9\x7f\"}",  // non-ASCII and DEL are written as they are
      "{\"a\":9223372036854775807}",
      "{\"a\":-9223372036854775808}",
      "{\"lines\":[{\"qty\":1,\"sku\":\"s\"},{\"qty\":2,\"sku\":\"t\"}],\"x\":[]}",
  };
  for (const std::string& t : accepted) {
    CAPTURE(t);
    CanonicalText c;
    CHECK(c.read(t));
    CHECK(is_canonical(t));
  }
}

TEST_CASE("any other spelling is declined") {
  std::string deep;
  for (int i = 0; i < CanonicalText::kMaxDepth + 2; ++i) deep += "[";
  for (int i = 0; i < CanonicalText::kMaxDepth + 2; ++i) deep += "]";
  const std::string declined[] = {
      "",
      "{",
      "{\"b\":1,\"a\":2}",         // keys out of order
      "{\"a\":1,\"a\":2}",         // a key twice
      "{\"\xc3\xa9\":1,\"z\":2}",  // out of byte order
      "{ \"a\":1}",
      "{\"a\": 1}",
      "{\"a\":1 }",
      "[1, 2]",
      "{\"a\":01}",
      "{\"a\":-0}",
      "{\"a\":1.0}",
      "{\"a\":1e3}",
      "{\"a\":-}",
      "{\"a\":9223372036854775808}",
      "{\"a\":-9223372036854775809}",
      "{\"a\":\"x\\\"y\"}",  // canonical, but escapes take the general path
      "{\"a\":\"\\u00e9\"}",
      "{\"a\":\"tab\there\"}",  // a raw control byte
      "{\"a\":tru}",
      "{\"a\":nul}",
      "{\"a\":1,}",
      "[1,]",
      "{\"a\":1}x",
      "{a:1}",
      deep,
  };
  for (const std::string& t : declined) {
    CAPTURE(t);
    CanonicalText c;
    CHECK_FALSE(c.read(t));
  }
}

TEST_CASE("the tape holds the values and finds members") {
  CanonicalText c;
  REQUIRE(c.read("{\"a\":-5,\"b\":\"x\",\"c\":[1,{\"d\":true}],\"e\":null}"));
  const auto root = c.root();
  REQUIRE(root.is_object());
  CHECK(root.find("a")->as_int() == -5);
  CHECK(root.find("b")->as_string() == "x");
  CHECK_FALSE(root.find("e")->is_int());
  CHECK_FALSE(root.find("z").has_value());
  const auto arr = root.find("c");
  REQUIRE(arr->is_array());
  int n = 0;
  for (const auto v : arr->as_array()) {
    if (n == 0) CHECK(v.as_int() == 1);
    if (n == 1) CHECK(v.find("d")->as_bool());
    ++n;
  }
  CHECK(n == 2);
  // The tape is reused: a second read replaces the first.
  REQUIRE(c.read("[]"));
  CHECK(c.root().is_array());
  CHECK_FALSE(c.root().as_array().begin() != c.root().as_array().end());
}

TEST_CASE("a canonical payload decodes in place; other spellings are left to the full decode") {
  const std::string payload = "{\"order_id\":\"o-1\",\"qty\":2,\"sku\":\"s-1\"}";
  Event ev;
  REQUIRE(decode_canonical_payload("StockReserved", 1, payload, ev));
  const auto& r = std::get<StockReserved>(ev);
  CHECK(r.order_id.value() == "o-1");
  CHECK(r.qty.value() == 2);
  CHECK(r.sku.value() == "s-1");
  // Re-spelled, missing a field, of a wrong type, an unknown type: nothing.
  CHECK_FALSE(decode_canonical_payload("StockReserved", 1,
                                       "{\"sku\":\"s-1\",\"order_id\":\"o-1\",\"qty\":2}", ev));
  CHECK_FALSE(decode_canonical_payload("StockReserved", 1, "{\"order_id\":\"o-1\",\"qty\":2}", ev));
  CHECK_FALSE(decode_canonical_payload("StockReserved", 1,
                                       "{\"order_id\":\"o-1\",\"qty\":\"2\",\"sku\":\"s-1\"}", ev));
  CHECK_FALSE(decode_canonical_payload("NoSuchEvent", 1, payload, ev));
  // An unknown member is canonical and decodes as the full decode would (ignored by both).
  REQUIRE(decode_canonical_payload(
      "StockReserved", 1, "{\"order_id\":\"o-1\",\"qty\":2,\"sku\":\"s-1\",\"zzz\":0}", ev));
  CHECK(std::get<StockReserved>(ev).qty.value() == 2);
  // An old schema version is upcast as the full decode does it: OrderPlaced v1 had no channel.
  const std::string v1 =
      "{\"currency\":\"EUR\",\"customer_id\":\"c\",\"expires_at\":5,\"lines\":[{\"qty\":1,"
      "\"sku\":\"s\",\"unit_price_minor\":3}],\"order_id\":\"o\",\"seller_id\":\"m\","
      "\"total_minor\":3}";
  REQUIRE(decode_canonical_payload("OrderPlaced", 1, v1, ev));
  auto tree = parse_json(v1);
  REQUIRE(tree.ok());
  auto full = decode_event("OrderPlaced", 1, tree.value());
  REQUIRE(full.ok());
  CHECK(std::get<OrderPlaced>(ev).channel == "api");
  CHECK(to_canonical(encode_event_payload(ev)) == to_canonical(encode_event_payload(full.value())));
}
