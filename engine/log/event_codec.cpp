#include "engine/log/event_codec.hpp"

#include <fmt/core.h>

#include <optional>

#include "engine/log/canonical_object.hpp"
#include "engine/log/canonical_text.hpp"
#include "engine/log/money_fields.hpp"

namespace ordo {
namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

// Reads fields out of a payload object (a Json or a CanonicalText::Value), remembering the first
// problem.
template <class Obj>
class Reader {
 public:
  explicit Reader(const Obj& o) : o_(o) {}
  std::string str(std::string_view k) {
    auto v = o_.find(k);
    if (!v || !v->is_string()) {
      fail(k);
      return {};
    }
    return std::string(v->as_string());
  }
  int64_t num(std::string_view k) {
    auto v = o_.find(k);
    if (!v || !v->is_int()) {
      fail(k);
      return 0;
    }
    return v->as_int();
  }
  // The array's elements, or nothing (and a failure) when `k` is not an array.
  auto arr(std::string_view k) {
    auto v = o_.find(k);
    using A = std::decay_t<decltype(v->as_array())>;
    if (!v || !v->is_array()) {
      fail(k);
      return std::optional<A>();
    }
    return std::optional<A>(v->as_array());
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(std::string_view k) {
    if (error_.empty()) error_ = fmt::format("payload field {} missing or of the wrong type", k);
  }

 private:
  const Obj& o_;
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

// Field (de)serialisers for the types the money events use.
template <class T>
Json field_json(const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    return Json(v);
  else if constexpr (std::is_same_v<T, bool>)
    return Json(v);
  else if constexpr (std::is_same_v<T, PaymentMethod>)
    return Json(to_string(v));
  else if constexpr (std::is_same_v<typename T::value_type, std::string>)
    return Json(v.value());
  else
    return Json(static_cast<int64_t>(v.value()));
}

template <class T, class V>  // V: const Json* or std::optional<CanonicalText::Value>
bool field_read(const V& j, T& out) {
  if (!j) return false;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!j->is_string()) return false;
    out = std::string(j->as_string());
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j->is_bool()) return false;
    out = j->as_bool();
  } else if constexpr (std::is_same_v<T, PaymentMethod>) {
    return j->is_string() && parse_payment_method(j->as_string(), out);
  } else if constexpr (std::is_same_v<typename T::value_type, std::string>) {
    if (!j->is_string()) return false;
    out = T{std::string(j->as_string())};
  } else {
    if (!j->is_int()) return false;
    out = T{j->as_int()};
  }
  return true;
}

template <class E>
Json encode_fields(const E& e) {
  Json::Object o;
  money_fields::fields(const_cast<E&>(e),
                       [&](const char* name, const auto& v) { o.emplace(name, field_json(v)); });
  return Json(std::move(o));
}

template <class E, class Obj>
Result<Event> decode_fields(const Obj& payload) {
  E e{};
  std::string bad;
  money_fields::fields(e, [&](const char* name, auto& v) {
    if (bad.empty() && !field_read(payload.find(name), v)) bad = name;
  });
  if (!bad.empty()) return Error{fmt::format("payload field {} missing or of the wrong type", bad)};
  return Event{std::move(e)};
}

// Decodes `type` if it is one of the money events. Alternatives are tried in index order.
template <size_t I = 0, class Obj>
std::optional<Result<Event>> decode_money(std::string_view type, const Obj& payload) {
  if constexpr (I == std::variant_size_v<Event>) {
    return std::nullopt;
  } else {
    using E = std::variant_alternative_t<I, Event>;
    if constexpr (money_fields::HasFields<E>) {
      if (type == event_type(Event{std::in_place_index<I>})) return decode_fields<E>(payload);
    }
    return decode_money<I + 1, Obj>(type, payload);
  }
}

}  // namespace

// OrderPlaced v2 added `channel`. Every other type is still at v1.
int64_t current_schema_version(std::string_view type) noexcept {
  return type == "OrderPlaced" ? 2 : 1;
}

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
            return Json(
                Json::Object{{"order_id", Json(x.order_id.value())}, {"reason", Json(x.reason)}});
          },
          [](const OrderExpired& x) {
            return Json(Json::Object{{"order_id", Json(x.order_id.value())}});
          },
          [](const auto& x) { return encode_fields(x); },
      },
      e);
}

namespace {

// One member of a money event, by the same type rules as field_json.
template <class T>
void field_write(CanonicalObject& o, const char* name, const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    o.str(name, v);
  else if constexpr (std::is_same_v<T, bool>)
    o.boolean(name, v);
  else if constexpr (std::is_same_v<T, PaymentMethod>)
    o.str(name, to_string(v));
  else if constexpr (std::is_same_v<typename T::value_type, std::string>)
    o.str(name, v.value());
  else
    o.num(name, static_cast<int64_t>(v.value()));
}

}  // namespace

void write_priced_lines(const std::vector<PricedLine>& lines, std::string& out) {
  // Written straight out: the keys below are already in byte order, so this is the object
  // CanonicalObject would write, without its buffer (three per order, on every order).
  out.push_back('[');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out.push_back(',');
    out += "{\"qty\":";
    write_int(lines[i].qty.value(), out);
    out += ",\"sku\":";
    write_json_string(lines[i].sku.value(), out);
    out += ",\"unit_price_minor\":";
    write_int(lines[i].unit_price_minor.value(), out);
    out.push_back('}');
  }
  out.push_back(']');
}

void write_event_payload(const Event& e, std::string& out) {
  CanonicalObject o;
  std::visit(overloaded{
                 [&](const ProductDefined& x) {
                   o.str("sku", x.sku.value());
                   o.str("seller_id", x.seller_id.value());
                   o.str("name", x.name);
                   o.num("price_minor", x.price_minor.value());
                   o.str("currency", x.currency.value());
                   o.num("initial_stock", x.initial_stock.value());
                 },
                 [&](const StockAdjusted& x) {
                   o.str("sku", x.sku.value());
                   o.num("delta", x.delta.value());
                   o.str("reason", x.reason);
                   o.num("on_hand_after", x.on_hand_after.value());
                 },
                 [&](const OrderPlaced& x) {
                   o.str("order_id", x.order_id.value());
                   o.str("customer_id", x.customer_id.value());
                   o.str("seller_id", x.seller_id.value());
                   o.str("currency", x.currency.value());
                   o.raw_with("lines", [&](std::string& out) { write_priced_lines(x.lines, out); });
                   o.num("total_minor", x.total_minor.value());
                   o.num("expires_at", x.expires_at.value());
                   o.str("channel", x.channel);
                 },
                 [&](const StockReserved& x) {
                   o.str("sku", x.sku.value());
                   o.str("order_id", x.order_id.value());
                   o.num("qty", x.qty.value());
                 },
                 [&](const StockReleased& x) {
                   o.str("sku", x.sku.value());
                   o.str("order_id", x.order_id.value());
                   o.num("qty", x.qty.value());
                 },
                 [&](const OrderCancelled& x) {
                   o.str("order_id", x.order_id.value());
                   o.str("reason", x.reason);
                 },
                 [&](const OrderExpired& x) { o.str("order_id", x.order_id.value()); },
                 [&](const auto& x) {
                   money_fields::fields(
                       const_cast<std::decay_t<decltype(x)>&>(x),
                       [&](const char* name, const auto& v) { field_write(o, name, v); });
                 },
             },
             e);
  o.write_to(out);
}

namespace {

// Decodes into `out` (in place: verify decodes every event of the log and keeps it where it
// will be folded). On an error `out` holds some event of no meaning.
template <class Obj>
Status decode_payload(std::string_view type, int64_t schema_version, const Obj& payload,
                      Event& out) {
  if (!payload.is_object()) return Error{"payload is not an object"};
  // Every version from 1 to the current one is readable; older ones are upcast below.
  if (schema_version < 1 || schema_version > current_schema_version(type))
    return Error{fmt::format("{} schema_version {} is not known", type, schema_version)};
  Reader<Obj> r(payload);
  if (type == "ProductDefined") {
    out = ProductDefined{Sku{r.str("sku")},
                         SellerId{r.str("seller_id")},
                         r.str("name"),
                         AmountMinor{r.num("price_minor")},
                         Currency{r.str("currency")},
                         Quantity{r.num("initial_stock")}};
  } else if (type == "StockAdjusted") {
    out = StockAdjusted{Sku{r.str("sku")}, Quantity{r.num("delta")}, r.str("reason"),
                        Quantity{r.num("on_hand_after")}};
  } else if (type == "OrderPlaced") {
    OrderPlaced p{OrderId{r.str("order_id")},
                  CustomerId{r.str("customer_id")},
                  SellerId{r.str("seller_id")},
                  Currency{r.str("currency")},
                  {},
                  AmountMinor{r.num("total_minor")},
                  TimestampMs{r.num("expires_at")}};
    // Upcast v1 → v2: orders from before `channel` existed all came through the API.
    p.channel = schema_version >= 2 ? r.str("channel") : "api";
    if (const auto lines = r.arr("lines")) {
      for (const auto& l : *lines) {
        using Line = std::decay_t<decltype(l)>;
        Reader<Line> lr(l);
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
  } else if (auto money = decode_money(type, payload)) {
    if (!*money) return Error{money->error()};
    out = std::move(money->value());
  } else {
    return Error{fmt::format("unknown event type {}", type)};
  }
  if (!r.ok()) return Error{r.error()};
  return {};
}

}  // namespace

Result<Event> decode_event(std::string_view type, int64_t schema_version, const Json& payload) {
  Event e;
  if (auto s = decode_payload(type, schema_version, payload, e); !s) return Error{s.message()};
  return e;
}

bool decode_canonical_payload(std::string_view type, int64_t schema_version,
                              std::string_view payload, Event& out) {
  // A tape per thread: it keeps its buffer between calls and is not shared.
  thread_local CanonicalText text;
  return text.read(payload) && decode_payload(type, schema_version, text.root(), out).ok();
}

}  // namespace ordo
