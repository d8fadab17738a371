#include "replay/state_at.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace ordo::replay {

const Product* Folded::product(const std::string& stream) const {
  if (!stream.starts_with("product-")) return nullptr;
  Sku sku{stream.substr(8)};
  for (PartitionId p : verifier.partitions())
    if (const Product* x = verifier.state(p)->find_product(sku)) return x;
  return nullptr;
}

const Order* Folded::order(const std::string& stream) const {
  if (!stream.starts_with("order-")) return nullptr;
  OrderId id{stream.substr(6)};
  for (PartitionId p : verifier.partitions())
    if (const Order* x = verifier.state(p)->find_order(id)) return x;
  return nullptr;
}

Result<Folded> fold_until(EventSource& source, const Cut& cut, const Progress& progress) {
  Folded f;
  // Read as verify reads (lines checked in place on worker threads, payloads decoded there),
  // so a state-at costs what a verify of the same events costs.
  auto source_error =
      for_each_checked(source, VerifyOptions{}, progress, [&](const CheckedLine& c) {
        const EventFacts& e = c.facts;
        if (!f.verifier.accepts(e.partition)) return;
        const bool cut_here = !cut.partition || *cut.partition == e.partition.value();
        if (cut_here && ((cut.offset && e.offset.value() > *cut.offset) ||
                         (cut.time_ms && e.occurred_at.value() > *cut.time_ms))) {
          f.verifier.close(e.partition);
          return;
        }
        f.verifier.add(e, c.event);
      });
  if (source_error) return Error{*source_error};
  f.report = f.verifier.finish();
  if (!f.report.ok()) return Error{"the history does not verify: " + f.report.first_failure()};
  return f;
}

Json product_json(const Product& p) {
  return Json(Json::Object{{"sku", Json(p.sku.value())},
                           {"seller_id", Json(p.seller_id.value())},
                           {"name", Json(p.name)},
                           {"price_minor", Json(p.price_minor.value())},
                           {"currency", Json(p.currency.value())},
                           {"on_hand", Json(p.on_hand.value())},
                           {"reserved", Json(p.reserved.value())},
                           {"available", Json(p.available().value())},
                           {"version", Json(p.version)}});
}

Json order_json(const Order& o) {
  Json::Array lines;
  for (const auto& l : o.lines)
    lines.push_back(Json(Json::Object{{"sku", Json(l.sku.value())},
                                      {"qty", Json(l.qty.value())},
                                      {"unit_price_minor", Json(l.unit_price_minor.value())}}));
  return Json(Json::Object{{"order_id", Json(o.order_id.value())},
                           {"customer_id", Json(o.customer_id.value())},
                           {"seller_id", Json(o.seller_id.value())},
                           {"currency", Json(o.currency.value())},
                           {"lines", Json(std::move(lines))},
                           {"total_minor", Json(o.total_minor.value())},
                           {"placed_at", Json(o.placed_at.value())},
                           {"expires_at", Json(o.expires_at.value())},
                           {"status", Json(std::string(to_string(o.status)))},
                           {"version", Json(o.version)}});
}

Result<Json> state_at_json(const Folded& f, const Cut& cut,
                           const std::optional<std::string>& stream,
                           const std::optional<std::string>& kind) {
  Json::Object as_of;
  if (cut.offset) as_of.emplace("offset", Json(*cut.offset));
  if (cut.time_ms) as_of.emplace("time", Json(*cut.time_ms));
  if (cut.partition) as_of.emplace("partition", Json(int64_t(*cut.partition)));
  Json::Array positions;  // how far each partition was folded
  for (const auto& p : f.report.partitions)
    positions.push_back(Json(Json::Object{{"partition", Json(int64_t(p.partition.value()))},
                                          {"offset", Json(p.last_offset.value())}}));
  as_of.emplace("positions", Json(std::move(positions)));
  Json::Object out{{"as_of", Json(std::move(as_of))}};
  if (stream) {
    out.emplace("stream", Json(*stream));
    if (const Product* p = f.product(*stream))
      out.emplace("state", product_json(*p));
    else if (const Order* o = f.order(*stream))
      out.emplace("state", order_json(*o));
    else if (!stream->starts_with("product-") && !stream->starts_with("order-"))
      return Error{fmt::format("{} is not a product-… or order-… stream", *stream)};
    else
      out.emplace("state", Json(nullptr));  // the stream did not exist yet
    return Json(std::move(out));
  }
  if (!kind || (*kind != "product" && *kind != "order"))
    return Error{"--kind must be product or order"};
  out.emplace("kind", Json(*kind));
  std::vector<std::pair<std::string, Json>> rows;
  for (PartitionId p : f.verifier.partitions()) {
    const PartitionState& s = *f.verifier.state(p);
    if (*kind == "product")
      for (const auto& [sku, prod] : s.products) rows.emplace_back(sku.value(), product_json(prod));
    else
      for (const auto& [id, ord] : s.orders) rows.emplace_back(id.value(), order_json(ord));
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  Json::Array states;
  states.reserve(rows.size());
  for (auto& [_, j] : rows) states.push_back(std::move(j));
  out.emplace("states", Json(std::move(states)));
  return Json(std::move(out));
}

}  // namespace ordo::replay
