#include "api/render.hpp"

#include "api/problem.hpp"
#include "engine/domain/assert.hpp"
#include "engine/log/json.hpp"

namespace ordo::api {
namespace {

template <typename E>
const E& first_of(const Outcome& o) {
  for (const auto& e : o.events)
    if (const auto* x = std::get_if<E>(&e)) return *x;
  ORDO_ASSERT(false, "accepted outcome without its defining event");
  std::abort();
}

}  // namespace

Rendered render_rejection(const Rejection& r) {
  int status = status_for(r.code);
  return {status, problem_body(Problem{status, std::string(to_string(r.code)), r.detail, {}, {}})};
}

Rendered render_product_defined(const Outcome& o) {
  if (o.rejection) return render_rejection(*o.rejection);
  const auto& e = first_of<ProductDefined>(o);
  return {201, to_canonical(Json(Json::Object{{"sku", Json(e.sku.value())},
                                              {"seller_id", Json(e.seller_id.value())},
                                              {"name", Json(e.name)},
                                              {"price_minor", Json(e.price_minor.value())},
                                              {"currency", Json(e.currency.value())},
                                              {"on_hand", Json(e.initial_stock.value())},
                                              {"reserved", Json(int64_t{0})},
                                              {"available", Json(e.initial_stock.value())}}))};
}

Rendered render_stock_adjusted(const Outcome& o) {
  if (o.rejection) return render_rejection(*o.rejection);
  const auto& e = first_of<StockAdjusted>(o);
  return {200, to_canonical(Json(Json::Object{{"sku", Json(e.sku.value())},
                                              {"delta", Json(e.delta.value())},
                                              {"on_hand", Json(e.on_hand_after.value())}}))};
}

Rendered render_order_placed(const Outcome& o) {
  if (o.rejection) return render_rejection(*o.rejection);
  const auto& e = first_of<OrderPlaced>(o);
  Json::Array lines;
  for (const auto& l : e.lines)
    lines.push_back(Json(Json::Object{{"sku", Json(l.sku.value())},
                                      {"qty", Json(l.qty.value())},
                                      {"unit_price_minor", Json(l.unit_price_minor.value())}}));
  return {201, to_canonical(Json(Json::Object{{"order_id", Json(e.order_id.value())},
                                              {"customer_id", Json(e.customer_id.value())},
                                              {"seller_id", Json(e.seller_id.value())},
                                              {"status", Json("reserved")},
                                              {"total_minor", Json(e.total_minor.value())},
                                              {"currency", Json(e.currency.value())},
                                              {"lines", Json(std::move(lines))},
                                              {"expires_at_ms", Json(e.expires_at.value())},
                                              {"version", Json(int64_t{1})}}))};
}

}  // namespace ordo::api
