#include "engine/log/event_codec.hpp"

#include <fmt/core.h>

namespace ordo {
namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

// Reads fields out of a payload object, remembering the first problem.
class Reader {
 public:
  explicit Reader(const Json& o) : o_(o) {}
  std::string str(std::string_view k) {
    const Json* v = o_.find(k);
    if (!v || !v->is_string()) {
      fail(k);
      return {};
    }
    return v->as_string();
  }
  int64_t num(std::string_view k) {
    const Json* v = o_.find(k);
    if (!v || !v->is_int()) {
      fail(k);
      return 0;
    }
    return v->as_int();
  }
  const Json::Array* arr(std::string_view k) {
    const Json* v = o_.find(k);
    if (!v || !v->is_array()) {
      fail(k);
      return nullptr;
    }
    return &v->as_array();
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(std::string_view k) {
    if (error_.empty()) error_ = fmt::format("payload field {} missing or of the wrong type", k);
  }

 private:
  const Json& o_;
  std::string error_;
};

Json lines_json(const std::vector<PricedLine>& lines) {
  Json::Array a;
  a.reserve(lines.size());
  for (const auto& l : lines)
    a.push_back(Json(Json::Object{{"qty", Json(l.qty.value())},
                                  {"sku", Json(l.sku.value())},
                                  {"unit_price_minor", Json(l.unit_price_minor.value())}}));
  return Json(std::move(a));
}

}  // namespace

// OrderPlaced v2 added `channel`. Every other type is still at v1.
int64_t current_schema_version(std::string_view type) noexcept { return type == "OrderPlaced" ? 2 : 1; }

Json encode_event_payload(const Event& e) {
  return std::visit(
      overloaded{
          [](const ProductDefined& x) {
            return Json(Json::Object{{"sku", Json(x.sku.value())},
                                     {"seller_id", Json(x.seller_id.value())},
                                     {"name", Json(x.name)},
                                     {"price_minor", Json(x.price_minor.value())},
                                     {"currency", Json(x.currency.value())},
                                     {"initial_stock", Json(x.initial_stock.value())}});
          },
          [](const StockAdjusted& x) {
            return Json(Json::Object{{"sku", Json(x.sku.value())},
                                     {"delta", Json(x.delta.value())},
                                     {"reason", Json(x.reason)},
                                     {"on_hand_after", Json(x.on_hand_after.value())}});
          },
          [](const OrderPlaced& x) {
            return Json(Json::Object{{"order_id", Json(x.order_id.value())},
                                     {"customer_id", Json(x.customer_id.value())},
                                     {"seller_id", Json(x.seller_id.value())},
                                     {"currency", Json(x.currency.value())},
                                     {"lines", lines_json(x.lines)},
                                     {"total_minor", Json(x.total_minor.value())},
                                     {"expires_at", Json(x.expires_at.value())},
                                     {"channel", Json(x.channel)}});
          },
          [](const StockReserved& x) {
            return Json(Json::Object{{"sku", Json(x.sku.value())},
                                     {"order_id", Json(x.order_id.value())},
                                     {"qty", Json(x.qty.value())}});
          },
          [](const StockReleased& x) {
            return Json(Json::Object{{"sku", Json(x.sku.value())},
                                     {"order_id", Json(x.order_id.value())},
                                     {"qty", Json(x.qty.value())}});
          },
          [](const OrderCancelled& x) {
            return Json(Json::Object{{"order_id", Json(x.order_id.value())},
                                     {"reason", Json(x.reason)}});
          },
          [](const OrderExpired& x) {
            return Json(Json::Object{{"order_id", Json(x.order_id.value())}});
          },
      },
      e);
}

Result<Event> decode_event(std::string_view type, int64_t schema_version, const Json& payload) {
  if (!payload.is_object()) return Error{"payload is not an object"};
  // Every version from 1 to the current one is readable; older ones are upcast below.
  if (schema_version < 1 || schema_version > current_schema_version(type))
    return Error{fmt::format("{} schema_version {} is not known", type, schema_version)};
  Reader r(payload);
  Event out;
  if (type == "ProductDefined") {
    out = ProductDefined{Sku{r.str("sku")}, SellerId{r.str("seller_id")}, r.str("name"),
                         AmountMinor{r.num("price_minor")}, Currency{r.str("currency")},
                         Quantity{r.num("initial_stock")}};
  } else if (type == "StockAdjusted") {
    out = StockAdjusted{Sku{r.str("sku")}, Quantity{r.num("delta")}, r.str("reason"),
                        Quantity{r.num("on_hand_after")}};
  } else if (type == "OrderPlaced") {
    OrderPlaced p{OrderId{r.str("order_id")}, CustomerId{r.str("customer_id")},
                  SellerId{r.str("seller_id")}, Currency{r.str("currency")}, {},
                  AmountMinor{r.num("total_minor")}, TimestampMs{r.num("expires_at")}};
    // Upcast v1 → v2: orders from before `channel` existed all came through the API.
    p.channel = schema_version >= 2 ? r.str("channel") : "api";
    if (const auto* lines = r.arr("lines")) {
      for (const auto& l : *lines) {
        Reader lr(l);
        p.lines.push_back(PricedLine{Sku{lr.str("sku")}, Quantity{lr.num("qty")},
                                     AmountMinor{lr.num("unit_price_minor")}});
        if (!lr.ok()) return Error{lr.error()};
      }
    }
    out = std::move(p);
  } else if (type == "StockReserved") {
    out = StockReserved{Sku{r.str("sku")}, OrderId{r.str("order_id")}, Quantity{r.num("qty")}};
  } else if (type == "StockReleased") {
    out = StockReleased{Sku{r.str("sku")}, OrderId{r.str("order_id")}, Quantity{r.num("qty")}};
  } else if (type == "OrderCancelled") {
    out = OrderCancelled{OrderId{r.str("order_id")}, r.str("reason")};
  } else if (type == "OrderExpired") {
    out = OrderExpired{OrderId{r.str("order_id")}};
  } else {
    return Error{fmt::format("unknown event type {}", type)};
  }
  if (!r.ok()) return Error{r.error()};
  return out;
}

}  // namespace ordo
