// The OpenAPI document's request-body schemas and the command decoders agree: for every
// property of every command body, the schema's bounds (required, type, minimum/maximum,
// maxLength, the id pattern, array sizes, additionalProperties: false) are probed from the
// embedded document itself, and the decoder must accept exactly at the bound and refuse just
// past it, naming the field. One source (schemas/openapi.yaml), tested against the code.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "api/command_codec.hpp"
#include "api/money_codec.hpp"
#include "api/openapi.hpp"
#include "engine/log/json.hpp"

using namespace ordo;
using namespace ordo::api;

namespace {

// Decodes a body with the decoder for one schema; returns "" when accepted, else the field.
using Decode = std::function<std::optional<std::string>(const std::string&)>;

template <typename T>
std::optional<std::string> field_of(const Decoded<T>& d) {
  if (std::holds_alternative<T>(d)) return std::nullopt;
  return std::get<FieldError>(d).field;
}

const Json& doc() {
  static const Json j = [] {
    auto r = parse_json(openapi_json());
    REQUIRE(r.ok());
    return r.value();
  }();
  return j;
}

const Json& resolve(const Json& s) {
  if (const Json* ref = s.find("$ref")) {
    const std::string name = ref->as_string().substr(ref->as_string().rfind('/') + 1);
    return *doc().find("components")->find("schemas")->find(name);
  }
  return s;
}

Json with(Json obj, const std::string& k, Json v) {
  obj.as_object()[k] = std::move(v);
  return obj;
}

// Probes every property of `schema` (an object schema) in `valid`, a body the decoder
// accepts; `path` prefixes field names (e.g. "lines[0].").
void probe_object(const Json& schema, const Json& valid, const std::string& path,
                  const std::function<std::optional<std::string>(const Json&)>& decode) {
  REQUIRE_MESSAGE(!decode(valid), "valid example refused at ", path);
  const Json* ap = schema.find("additionalProperties");
  REQUIRE_MESSAGE(ap, path, ": additionalProperties must be stated");
  CHECK(!ap->as_bool());
  CHECK(decode(with(valid, "unexpected_field", Json(1))) == path + "unexpected_field");
  if (const Json* req = schema.find("required")) {
    for (const auto& r : req->as_array()) {
      Json v = valid;
      v.as_object().erase(r.as_string());
      CHECK_MESSAGE(decode(v) == path + r.as_string(), "required ", path, r.as_string());
    }
  }
  static const Json kNoProperties = Json(Json::Object{});
  const Json* properties = schema.find("properties");
  for (const auto& [name, raw] : (properties ? *properties : kNoProperties).as_object()) {
    // allOf: [a $ref, {not: {const: …}}] is the referenced schema less one value.
    Json merged;
    if (const Json* all = raw.find("allOf")) {
      merged = resolve(all->as_array().at(0));
      for (const auto& part : all->as_array())
        if (const Json* n = part.find("not")) merged.as_object()["not"] = *n;
    }
    const Json& p = raw.find("allOf") ? merged : resolve(raw);
    const std::string field = path + name;
    INFO("field ", field);
    const Json* type = p.find("type");
    const std::string t = type ? type->as_string() : "";
    if (t == "integer") {
      CHECK(decode(with(valid, name, Json("1"))) == field);  // wrong type
      if (const Json* min = p.find("minimum")) {
        CHECK(!decode(
            with(valid, name, Json(min->as_int() == 0 && p.find("not") ? 1 : min->as_int()))));
        CHECK(decode(with(valid, name, Json(min->as_int() - 1))) == field);
      }
      if (const Json* max = p.find("maximum")) {
        CHECK(!decode(with(valid, name, Json(max->as_int()))));
        CHECK(decode(with(valid, name, Json(max->as_int() + 1))) == field);
      }
      if (const Json* n = p.find("not"))
        CHECK(decode(with(valid, name, *n->find("const"))) == field);
    } else if (t == "string") {
      CHECK(decode(with(valid, name, Json(int64_t{7}))) == field);
      if (const Json* n = p.find("not"))
        CHECK(decode(with(valid, name, *n->find("const"))) == field);
      if (const Json* pattern = p.find("pattern")) {
        if (pattern->as_string() == "^[A-Za-z0-9._:-]{1,64}$") {
          CHECK(!decode(with(valid, name, Json("Az09._:-"))));
          CHECK(!decode(with(valid, name, Json(std::string(64, 'i')))));
          CHECK(decode(with(valid, name, Json(std::string(65, 'i')))) == field);
          CHECK(decode(with(valid, name, Json("has space"))) == field);
          CHECK(decode(with(valid, name, Json("slash/no"))) == field);
          CHECK(decode(with(valid, name, Json(""))) == field);
        } else if (pattern->as_string() == "^[A-Z]{3}$") {
          CHECK(!decode(with(valid, name, Json("USD"))));
          CHECK(decode(with(valid, name, Json("usd"))) == field);
          CHECK(decode(with(valid, name, Json("EURO"))) == field);
        } else {
          FAIL("no probe for pattern ", pattern->as_string());
        }
      }
      if (const Json* max = p.find("maxLength"); max && !p.find("pattern")) {
        CHECK(
            !decode(with(valid, name, Json(std::string(static_cast<size_t>(max->as_int()), 'x')))));
        CHECK(decode(with(valid, name,
                          Json(std::string(static_cast<size_t>(max->as_int()) + 1, 'x')))) ==
              field);
        // maxLength counts characters, not bytes: "é" is two bytes, "€" three.
        auto repeat = [](std::string_view unit, int64_t n) {
          std::string out;
          for (int64_t i = 0; i < n; ++i) out += unit;
          return out;
        };
        for (std::string_view unit : {"\xc3\xa9", "\xe2\x82\xac"}) {
          CHECK(!decode(with(valid, name, Json(repeat(unit, max->as_int())))));
          CHECK(decode(with(valid, name, Json(repeat(unit, max->as_int() + 1)))) == field);
        }
      }
      if (const Json* min = p.find("minLength"); min && min->as_int() == 1 && !p.find("pattern"))
        CHECK(decode(with(valid, name, Json(""))) == field);
      if (const Json* values = p.find("enum")) {
        for (const auto& v : values->as_array())
          CHECK_MESSAGE(!decode(with(valid, name, v)), v.as_string());
        CHECK(decode(with(valid, name, Json("not-a-member"))) == field);
        CHECK(decode(with(valid, name, Json(""))) == field);
      }
    } else if (t == "array") {
      const Json& items = resolve(*p.find("items"));
      const Json& list = *valid.find(name);
      REQUIRE(!list.as_array().empty());
      CHECK(decode(with(valid, name, Json(Json::Array{}))) == field);  // minItems 1
      const auto max = static_cast<size_t>(p.find("maxItems")->as_int());
      Json::Array too_many;
      for (size_t i = 0; i <= max; ++i)
        too_many.push_back(with(list.as_array()[0], "sku", Json("s" + std::to_string(i))));
      CHECK(decode(with(valid, name, Json(too_many))) == field);
      too_many.pop_back();
      CHECK(!decode(with(valid, name, Json(too_many))));
      // The first item, probed like an object of its own inside the body.
      probe_object(items, list.as_array()[0], field + "[0].", [&](const Json& item) {
        Json::Array l = list.as_array();
        l[0] = item;
        return decode(with(valid, name, Json(std::move(l))));
      });
    } else {
      FAIL("no probe for ", field);
    }
  }
}

void probe(const char* schema_name, const char* example, const Decode& decode) {
  INFO(schema_name);
  const Json& schema = *doc().find("components")->find("schemas")->find(schema_name);
  auto valid = parse_json(example);
  REQUIRE(valid.ok());
  probe_object(schema, valid.value(), "",
               [&](const Json& body) { return decode(to_canonical(body)); });
}

}  // namespace

TEST_CASE("openapi: the embedded document is OpenAPI 3.1 JSON") {
  CHECK(doc().find("openapi")->as_string() == "3.1.0");
  CHECK(doc().find("paths")->as_object().size() >= 10);
}

TEST_CASE("openapi: command body schemas match the decoders at every bound") {
  probe(
      "DefineProduct",
      R"({"sku":"s1","seller_id":"m1","name":"Mug","price_minor":100,"currency":"EUR","stock":5})",
      [](const std::string& b) { return field_of(decode_define_product(b)); });
  probe("AdjustStock", R"({"delta":3,"reason":"restock"})",
        [](const std::string& b) { return field_of(decode_adjust_stock(b, "s1")); });
  probe("PlaceOrder", R"({"order_id":"o1","customer_id":"c1","lines":[{"sku":"s1","qty":2}]})",
        [](const std::string& b) { return field_of(decode_place_order(b, "gen")); });
  probe("CancelOrder", R"({"reason":"no longer needed"})",
        [](const std::string& b) { return field_of(decode_cancel_order(b, "o1")); });
}

TEST_CASE("openapi: lifecycle and money body schemas match the decoders at every bound") {
  probe("PayOrder", R"({"method":"wallet","payment_id":"pay-1"})",
        [](const std::string& b) { return field_of(decode_pay_order(b, "o1", "gen")); });
  // /v1/payments/webhook is the webhook's path: no payment may take that name.
  CHECK(field_of(decode_pay_order(R"({"method":"card","payment_id":"webhook"})", "o1", "gen")) ==
        std::optional<std::string>("payment_id"));
  CHECK_FALSE(
      field_of(decode_pay_order(R"({"method":"card","payment_id":"webhooks"})", "o1", "gen")));
  probe("Deposit", R"({"amount_minor":500,"currency":"EUR","reference":"top-up"})",
        [](const std::string& b) { return field_of(decode_deposit(b, "alice")); });
  probe("RequestPayout",
        R"({"payout_id":"po-1","amount_minor":500,"currency":"EUR","destination":"iban:DE89"})",
        [](const std::string& b) { return field_of(decode_request_payout(b, "alice", "gen")); });
  probe("ProviderEvent",
        R"({"event_id":"ev-1","payment_id":"pay-1","type":"captured","amount_minor":500})",
        [](const std::string& b) { return field_of(decode_provider_event(b)); });
  // Dispute, the admin's escrow release and refund, and a payout's rejection take an
  // optional reason.
  probe("Reason", R"({"reason":"arrived broken"})",
        [](const std::string& b) { return field_of(decode_dispute_order(b, "o1")); });
  probe("Reason", R"({"reason":"refund agreed"})",
        [](const std::string& b) { return field_of(decode_resolve_dispute(b, "o1", false)); });
  probe("Reason", R"({"reason":"seller delivered"})",
        [](const std::string& b) { return field_of(decode_resolve_dispute(b, "o1", true)); });
  probe("Reason", R"({"reason":"account closed"})",
        [](const std::string& b) { return field_of(decode_reject_payout(b, "po-1")); });
  // Ship, deliver, confirm and a payout's completion take nothing but an empty object.
  for (const auto& decode : std::vector<Decode>{
           [](const std::string& b) { return field_of(decode_ship_order(b, "o1")); },
           [](const std::string& b) { return field_of(decode_deliver_order(b, "o1")); },
           [](const std::string& b) { return field_of(decode_confirm_order(b, "o1")); },
           [](const std::string& b) { return field_of(decode_complete_payout(b, "po-1")); },
       })
    probe("EmptyBody", "{}", decode);
}
