// schemas/events/{Type}.v{N}.json against the code: a schema for every version of every event
// type, and the payloads the code writes (and the golden v1 events) valid against them.
#include <doctest/doctest.h>

#include <filesystem>
#include <regex>

#include "engine/log/event_codec.hpp"
#include "tests/replay/history.hpp"

using namespace ordo;
using namespace ordo::test;

namespace {

const std::string kSchemas = std::string(ORDO_SOURCE_DIR) + "/schemas/events/";

Json load_schema(const std::string& type, int64_t version) {
  const std::string path = kSchemas + fmt::format("{}.v{}.json", type, version);
  REQUIRE_MESSAGE(std::filesystem::exists(path), path);
  auto j = parse_json(read_file(path));
  REQUIRE_MESSAGE(j.ok(), path);
  return j.value();
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The subset of JSON Schema 2020-12 the event schemas use. Returns the first problem.
std::string validate(const Json& schema, const Json& v, const std::string& at) {
  const Json* type = schema.find("type");
  if (type) {
    const std::string& t = type->as_string();
    bool ok = (t == "object" && v.is_object()) || (t == "array" && v.is_array()) ||
              (t == "string" && v.is_string()) || (t == "integer" && v.is_int()) ||
              (t == "boolean" && v.is_bool());
    if (!ok) return at + ": not " + t;
  }
  if (v.is_int()) {
    if (auto* m = schema.find("minimum"); m && v.as_int() < m->as_int())
      return at + ": below minimum";
    if (auto* m = schema.find("maximum"); m && v.as_int() > m->as_int())
      return at + ": above maximum";
  }
  if (v.is_string()) {
    if (auto* m = schema.find("maxLength"); m && int64_t(code_points(v.as_string())) > m->as_int())
      return at + ": too long";
    if (auto* p = schema.find("pattern");
        p && !std::regex_search(v.as_string(), std::regex(p->as_string())))
      return at + ": does not match " + p->as_string();
    if (auto* e = schema.find("enum")) {
      bool listed = false;
      for (const auto& x : e->as_array()) listed |= x == v;
      if (!listed) return at + ": not one of the enum";
    }
  }
  if (v.is_array()) {
    if (auto* m = schema.find("minItems"); m && int64_t(v.as_array().size()) < m->as_int())
      return at + ": too few items";
    if (auto* m = schema.find("maxItems"); m && int64_t(v.as_array().size()) > m->as_int())
      return at + ": too many items";
    if (auto* items = schema.find("items"))
      for (size_t i = 0; i < v.as_array().size(); ++i)
        if (auto w = validate(*items, v.as_array()[i], fmt::format("{}[{}]", at, i)); !w.empty())
          return w;
  }
  if (v.is_object()) {
    const Json* props = schema.find("properties");
    if (auto* req = schema.find("required"))
      for (const auto& k : req->as_array())
        if (!v.find(k.as_string())) return at + ": missing " + k.as_string();
    for (const auto& [k, child] : v.as_object()) {
      const Json* sub = props ? props->find(k) : nullptr;
      if (!sub) {
        const Json* extra = schema.find("additionalProperties");
        if (extra && extra->is_bool() && !extra->as_bool()) return at + ": unexpected " + k;
        continue;
      }
      if (auto w = validate(*sub, child, at + "." + k); !w.empty()) return w;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("every event type has a schema per version, and the code's payloads match them") {
  const std::vector<Event> events = {
      ProductDefined{Sku{"sku-1"}, SellerId{"s1"}, "Caf\xc3\xa9 mug", AmountMinor{1250},
                     Currency{"EUR"}, Quantity{10}},
      StockAdjusted{Sku{"sku-1"}, Quantity{-3}, "broken", Quantity{7}},
      OrderPlaced{OrderId{"o1"},
                  CustomerId{"c1"},
                  SellerId{"s1"},
                  Currency{"EUR"},
                  {PricedLine{Sku{"sku-1"}, Quantity{2}, AmountMinor{1250}}},
                  AmountMinor{2500},
                  TimestampMs{1'700'000'900'000},
                  "mobile"},
      StockReserved{Sku{"sku-1"}, OrderId{"o1"}, Quantity{2}},
      StockReleased{Sku{"sku-1"}, OrderId{"o1"}, Quantity{2}},
      OrderCancelled{OrderId{"o1"}, "changed my mind"},
      OrderExpired{OrderId{"o1"}},
      OrderPaymentRequested{OrderId{"o1"}, PaymentId{"pay-1"}, PaymentMethod::card,
                            CustomerId{"c1"}, SellerId{"s1"}, AmountMinor{2500}, Currency{"EUR"}},
      OrderPaid{OrderId{"o1"}, PaymentId{"pay-1"}},
      StockCommitted{Sku{"sku-1"}, OrderId{"o1"}, Quantity{2}},
      OrderPaymentFailed{OrderId{"o1"}, PaymentId{"pay-1"}, "insufficient_funds"},
      OrderShipped{OrderId{"o1"}},
      OrderDelivered{OrderId{"o1"}, TimestampMs{1'700'600'000'000}},
      OrderCompleted{OrderId{"o1"}, "auto", AmountMinor{2500}, Currency{"EUR"}},
      OrderDisputed{OrderId{"o1"}, "broken"},
      OrderRefunded{OrderId{"o1"}, PaymentId{"pay-1"}, "upheld", AmountMinor{2500},
                    Currency{"EUR"}},
      StockRestocked{Sku{"sku-1"}, OrderId{"o1"}, Quantity{2}},
      WalletDeposited{OwnerId{"c1"}, Currency{"EUR"}, AmountMinor{10000}, "top-up"},
      PaymentInitiated{PaymentId{"pay-1"}, OrderId{"o1"}, PaymentMethod::wallet, CustomerId{"c1"},
                       SellerId{"s1"}, AmountMinor{2500}, Currency{"EUR"}},
      PaymentCaptured{PaymentId{"pay-1"}, OrderId{"o1"}, AmountMinor{2500}, ""},
      PaymentFailed{PaymentId{"pay-1"}, OrderId{"o1"}, "card declined", "evt_1"},
      PaymentRefunded{PaymentId{"pay-1"}, OrderId{"o1"}, AmountMinor{500}, "evt_2"},
      EscrowHeld{OrderId{"o1"}, PaymentId{"pay-1"}, "wallet:c1", CustomerId{"c1"}, SellerId{"s1"},
                 AmountMinor{2500}, Currency{"EUR"}},
      EscrowReleased{OrderId{"o1"}, SellerId{"s1"}, AmountMinor{2500}, AmountMinor{125},
                     Currency{"EUR"}},
      EscrowRefunded{OrderId{"o1"}, "external:card", AmountMinor{500}, Currency{"EUR"}, false},
      PayoutRequested{PayoutId{"po-1"}, OwnerId{"s1"}, Currency{"EUR"}, AmountMinor{1000},
                      "iban:DE00"},
      PayoutCompleted{PayoutId{"po-1"}, OwnerId{"s1"}, Currency{"EUR"}, AmountMinor{1000}},
      PayoutRejected{PayoutId{"po-1"}, "kyc"},
      OrderPaymentReturned{OrderId{"o1"}, PaymentId{"pay-1"}, AmountMinor{2500}, Currency{"EUR"}},
  };
  REQUIRE(events.size() == std::variant_size_v<Event>);
  for (const Event& e : events) {
    const std::string type(event_type(e));
    CAPTURE(type);
    for (int64_t v = 1; v <= current_schema_version(type); ++v) {
      Json s = load_schema(type, v);
      CHECK(s.find("$schema")->as_string() == "https://json-schema.org/draft/2020-12/schema");
    }
    CHECK_FALSE(std::filesystem::exists(
        kSchemas + fmt::format("{}.v{}.json", type, current_schema_version(type) + 1)));
    const Json payload = encode_event_payload(e);
    CHECK(validate(load_schema(type, current_schema_version(type)), payload, type) == "");
    // The current schema names exactly the fields the code writes.
    CHECK(load_schema(type, current_schema_version(type)).find("required")->as_array().size() ==
          payload.as_object().size());
  }
  // v1 OrderPlaced has no channel, and v2 requires one.
  Json v2 = encode_event_payload(events[2]);
  Json v1 = v2;
  v1.as_object().erase("channel");
  CHECK(validate(load_schema("OrderPlaced", 1), v1, "v1") == "");
  CHECK(validate(load_schema("OrderPlaced", 1), v2, "v1") != "");
  CHECK(validate(load_schema("OrderPlaced", 2), v1, "v2") != "");
}

TEST_CASE("the golden v1 events match their recorded schema versions") {
  int n = 0;
  for (const auto& line :
       read_lines(std::string(ORDO_SOURCE_DIR) + "/tests/golden/events-v1.jsonl")) {
    auto e = decode_envelope(line);
    REQUIRE(e.ok());
    CHECK(validate(load_schema(e->type, e->schema_version), e->payload, e->type) == "");
    ++n;
  }
  CHECK(n == 29);
}
