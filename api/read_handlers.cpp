// The query side of the API: GET endpoints served from the PostgreSQL views, with
// ownership scoping, cursor pagination and Ordo-Min-Position (read your own writes).
#include <fmt/core.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api/result_waiter.hpp"
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>

#include "api/base64url.hpp"
#include "api/call.hpp"
#include "engine/log/json.hpp"
#include "projections/queries.hpp"
#include "projections/runner.hpp"

namespace ordo::api {
namespace {

constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 500;

std::string page_body(const std::string& items_key, const projections::Page& page) {
  std::string body = "{\"" + items_key + "\":" + page.items_json + ",\"next_cursor\":";
  if (page.last_key)
    write_json_string(base64url_encode(*page.last_key), body);
  else
    body += "null";
  body += "}";
  return body;
}

}  // namespace

asio::awaitable<std::optional<Response>> App::wait_min_position(Call& call) {
  std::string_view header = call.req["Ordo-Min-Position"];
  if (header.empty()) co_return std::nullopt;
  size_t dash = header.find('-');
  auto part = dash == std::string_view::npos ? std::nullopt : parse_int(header.substr(0, dash));
  auto offset = dash == std::string_view::npos ? std::nullopt : parse_int(header.substr(dash + 1));
  if (!part || !offset || *part < 0 || *part >= engine_.partition_count() || *offset < -1)
    co_return call.problem({400,
                            "validation_failed",
                            "Ordo-Min-Position must look like 0-42",
                            "Ordo-Min-Position",
                            {}});
  // A position past the end of the log was never handed out (a command's reply comes after
  // its events are in the log): refuse it now instead of waiting for it in vain.
  if (auto tail = engine_.log().known_tail(PartitionId{static_cast<uint32_t>(*part)});
      tail && *offset > tail->last_offset.value())
    co_return call.problem({400,
                            "validation_failed",
                            "Ordo-Min-Position is past the end of the log",
                            "Ordo-Min-Position",
                            {}});
  const uint32_t partition = static_cast<uint32_t>(*part);
  if (read_.runner->position(partition) >= *offset) co_return std::nullopt;
  // A waiter holds a place of the query lane while it waits (given back before its query is
  // offloaded): waiting and running queries share the one --max-pending-queries bound, so a
  // flood of waiters cannot spin timers on the HTTP threads while the views lag.
  if (query_lane_.pending.fetch_add(1) >= query_lane_.max_pending) {
    query_lane_.pending.fetch_sub(1);
    co_return call.problem({503,
                            "views_busy",
                            "too many queries are waiting for the views; retry later",
                            {},
                            config_.retry_after_s});
  }
  struct Waiting {
    std::atomic<size_t>& pending;
    ~Waiting() { pending.fetch_sub(1); }
  } waiting{query_lane_.pending};
  // Poll the runner's applied position, from every 2 ms up to every 50 ms; bounded by
  // min_position_timeout.
  auto deadline = std::chrono::steady_clock::now() + config_.min_position_timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto pause = std::chrono::milliseconds(2);
  while (read_.runner->position(partition) < *offset) {
    // A stop does not wait the bound out: the drain is for answers, not for waits.
    if (offloads_stopping_.load())
      co_return call.problem(
          {503, "stopping", "the server is stopping", {}, config_.retry_after_s});
    if (std::chrono::steady_clock::now() >= deadline)
      co_return call.problem({503,
                              "position_not_reached",
                              fmt::format("the views have not reached position {} within {} ms",
                                          header, config_.min_position_timeout.count()),
                              {},
                              1});
    timer.expires_after(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::nullopt;
}

asio::awaitable<Response> App::handle_query(Call& call) {
  if (!read_.queries || !read_.runner)
    co_return call.problem({503,
                            "views_not_configured",
                            "this server runs without PostgreSQL views (--postgres)",
                            {},
                            5});
  if (auto problem = co_await wait_min_position(call)) co_return std::move(*problem);

  const ListScope scope = scope_for(call.who);
  auto limit_of = [&](int& limit) -> std::optional<Response> {
    limit = kDefaultPage;
    if (auto v = call.query.get("limit")) {
      auto n = parse_int(*v);
      if (!n || *n < 1 || *n > kMaxPage)
        return call.problem({400, "validation_failed", "limit must be 1..500", "limit", {}});
      limit = static_cast<int>(*n);
    }
    return std::nullopt;
  };
  // A cursor is the last key of a page, base64url-encoded; `parse` reads the key, and
  // anything it does not take is forged (arbitrary bytes would fail in PostgreSQL instead).
  auto keyed_cursor = [&](auto parse, auto& after) -> std::optional<Response> {
    // An empty cursor is none (the schema's pattern allows it): the first page.
    if (auto v = call.query.get("cursor"); v && !v->empty()) {
      auto d = base64url_decode(*v);
      auto key = d ? parse(*d) : decltype(parse(*d)){};
      if (!key)
        return call.problem({400, "validation_failed", "cursor is not valid", "cursor", {}});
      after = std::move(*key);
    }
    return std::nullopt;
  };
  // Lists keyed by one id (an order id or a SKU).
  auto cursor_of = [&](std::string& after) {
    return keyed_cursor(
        [](const std::string& k) { return is_valid_id(k) ? std::optional(k) : std::nullopt; },
        after);
  };
  auto id_param = [&](const char* name, std::string& out) -> std::optional<Response> {
    if (auto v = call.query.get(name)) {
      if (!is_valid_id(*v))
        return call.problem({400,
                             "validation_failed",
                             fmt::format("{} must match [A-Za-z0-9._:-]{{1,64}}", name),
                             name,
                             {}});
      out = *v;
    }
    return std::nullopt;
  };

  projections::ViewQueries& q = *read_.queries;
  QueryOutcome outcome;
  std::optional<Response> bad;
  std::optional<std::optional<std::string>> answer;  // outer: finished in time; inner: found

  switch (call.rule.endpoint) {
    case Endpoint::get_order: {
      const std::string id = call.params.at(0);
      if (!is_valid_id(id)) co_return call.problem({404, "not_found", "no such order", {}, {}});
      // Named, not a temporary: GCC 12 mishandles non-trivial temporaries in co_await.
      std::function<std::optional<projections::OrderView>()> work = [&q, id] {
        return q.order(id);
      };
      auto r = co_await offload<std::optional<projections::OrderView>>(query_lane_, std::move(work),
                                                                       outcome);
      if (r && *r) {
        ResourceFacts facts;
        facts.order_customer_id = (*r)->customer_id;
        facts.order_seller_id = (*r)->seller_id;
        if (authorize(call.rule, call.who, facts) != Verdict::allow)
          co_return deny(call, DenyReason::not_found_ownership,
                         {404, "not_found", "no such order", {}, {}});
        answer.emplace((*r)->json);
      } else if (r) {
        answer.emplace(std::nullopt);
      }
      break;
    }
    case Endpoint::list_orders: {
      projections::OrderFilter f;
      if ((bad = limit_of(f.limit)) || (bad = cursor_of(f.after_order_id)) ||
          (bad = id_param("customer_id", f.customer_id)) ||
          (bad = id_param("seller_id", f.seller_id)))
        co_return std::move(*bad);
      if (auto st = call.query.get("status")) {
        OrderStatus parsed;
        if (!parse_order_status(*st, parsed))
          co_return call.problem(
              {400, "validation_failed", "status is not a known order status", "status", {}});
        f.status = *st;
      }
      // The caller's role narrows the list; asking for someone else's rows finds nothing.
      if (!scope.customer_id.empty()) {
        if (!f.customer_id.empty() && f.customer_id != scope.customer_id) f.status = "\x01none";
        f.customer_id = scope.customer_id;
      }
      if (!scope.seller_id.empty()) {
        if (!f.seller_id.empty() && f.seller_id != scope.seller_id) f.status = "\x01none";
        f.seller_id = scope.seller_id;
      }
      std::function<projections::Page()> work = [&q, f] { return q.orders(f); };
      auto r = co_await offload<projections::Page>(query_lane_, std::move(work), outcome);
      if (r) answer.emplace(page_body("orders", *r));
      break;
    }
    case Endpoint::get_product: {
      const std::string sku = call.params.at(0);
      if (!is_valid_id(sku)) co_return call.problem({404, "not_found", "no such product", {}, {}});
      std::function<std::optional<std::string>()> work = [&q, sku] { return q.product(sku); };
      auto r = co_await offload<std::optional<std::string>>(query_lane_, std::move(work), outcome);
      if (r) answer.emplace(*r);
      break;
    }
    case Endpoint::list_products: {
      int limit = 0;
      std::string after, seller;
      if ((bad = limit_of(limit)) || (bad = cursor_of(after)) ||
          (bad = id_param("seller_id", seller)))
        co_return std::move(*bad);
      std::function<projections::Page()> work = [&q, seller, after, limit] {
        return q.products(seller, after, limit);
      };
      auto r = co_await offload<projections::Page>(query_lane_, std::move(work), outcome);
      if (r) answer.emplace(page_body("products", *r));
      break;
    }
    case Endpoint::sales_report:
    case Endpoint::low_stock_report: {
      const bool sales = call.rule.endpoint == Endpoint::sales_report;
      int limit = 0;
      std::string seller, from, to;
      if ((bad = limit_of(limit)) || (bad = id_param("seller_id", seller)))
        co_return std::move(*bad);
      if (!scope.seller_id.empty()) {
        if (!seller.empty() && seller != scope.seller_id)
          co_return deny(call, DenyReason::forbidden,
                         {403, "forbidden", "a merchant sees only its own reports", {}, {}});
        seller = scope.seller_id;
      }
      for (auto [name, out] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
        if (auto v = call.query.get(name)) {
          if (!projections::is_valid_day(*v))
            co_return call.problem({400,
                                    "validation_failed",
                                    fmt::format("{} must be a date like 2026-11-23", name),
                                    name,
                                    {}});
          *out = *v;
        }
      }
      // The cursor is the last row's key in the report's order.
      std::optional<projections::SalesKey> after_sale;
      std::optional<projections::LowStockKey> after_low;
      if ((bad = sales ? keyed_cursor(projections::parse_sales_key, after_sale)
                       : keyed_cursor(projections::parse_low_stock_key, after_low)))
        co_return std::move(*bad);
      std::function<projections::Page()> work = [&q, sales, seller, from, to, after_sale, after_low,
                                                 limit] {
        return sales ? q.sales_report(seller, from, to, after_sale, limit)
                     : q.low_stock(seller, after_low, limit);
      };
      auto r = co_await offload<projections::Page>(query_lane_, std::move(work), outcome);
      if (r) answer.emplace(page_body("rows", *r));
      break;
    }
    case Endpoint::get_wallet:
    case Endpoint::wallet_entries: {
      // The owner is in the path: someone else's wallet is refused before any query.
      const std::string owner = call.params.at(0);
      if (!is_valid_id(owner)) co_return call.problem({404, "not_found", "no such wallet", {}, {}});
      ResourceFacts facts;
      facts.path_owner = owner;
      if (authorize(call.rule, call.who, facts) != Verdict::allow)
        co_return deny(call, DenyReason::not_found_ownership,
                       {404, "not_found", "no such wallet", {}, {}});
      if (call.rule.endpoint == Endpoint::get_wallet) {
        std::string currency;
        if (auto v = call.query.get("currency")) {
          if (!is_valid_currency(*v))
            co_return call.problem({400,
                                    "validation_failed",
                                    "currency must be an ISO 4217 code like EUR",
                                    "currency",
                                    {}});
          currency = *v;
        }
        std::function<std::optional<std::string>()> work = [&q, owner, currency] {
          return q.wallet(owner, currency);
        };
        auto r =
            co_await offload<std::optional<std::string>>(query_lane_, std::move(work), outcome);
        if (r) answer.emplace(*r);
        break;
      }
      int limit = 0;
      std::optional<projections::EntryKey> after;
      if ((bad = limit_of(limit)) || (bad = keyed_cursor(projections::parse_entry_key, after)))
        co_return std::move(*bad);
      std::function<projections::Page()> work = [&q, owner, after, limit] {
        return q.wallet_entries(owner, after, limit);
      };
      auto r = co_await offload<projections::Page>(query_lane_, std::move(work), outcome);
      if (r) answer.emplace(page_body("entries", *r));
      break;
    }
    case Endpoint::get_escrow:
    case Endpoint::get_payment:
    case Endpoint::get_payout: {
      const std::string id = call.params.at(0);
      if (!is_valid_id(id)) co_return call.problem({404, "not_found", "no such resource", {}, {}});
      const Endpoint which = call.rule.endpoint;
      std::function<std::optional<projections::MoneyView>()> work = [&q, id, which] {
        return which == Endpoint::get_escrow    ? q.escrow(id)
               : which == Endpoint::get_payment ? q.payment(id)
                                                : q.payout(id);
      };
      auto r = co_await offload<std::optional<projections::MoneyView>>(query_lane_, std::move(work),
                                                                       outcome);
      if (r && *r) {
        ResourceFacts facts;
        facts.buyer_id = (*r)->buyer;
        facts.seller_id = (*r)->seller;
        facts.resource_owner = (*r)->owner;
        if (authorize(call.rule, call.who, facts) != Verdict::allow)
          co_return deny(call, DenyReason::not_found_ownership,
                         {404, "not_found", "no such resource", {}, {}});
        answer.emplace((*r)->json);
      } else if (r) {
        answer.emplace(std::nullopt);
      }
      break;
    }
    case Endpoint::ledger_balances: {
      std::function<std::string()> work = [&q] { return q.ledger_balances(); };
      auto r = co_await offload<std::string>(query_lane_, std::move(work), outcome);
      if (r) answer.emplace(*r);
      break;
    }
    default:
      co_return call.problem({404, "not_found", "no such resource", {}, {}});
  }

  if (outcome.refused)
    co_return call.problem({503,
                            "views_busy",
                            fmt::format("{} queries are already waiting for the views; retry later",
                                        query_lane_.max_pending),
                            {},
                            config_.retry_after_s});
  if (outcome.error) {
    std::string what = "the views could not be queried";
    try {
      std::rethrow_exception(outcome.error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ordo: query failed: %s\n", e.what());
    }
    co_return call.problem({503, "views_unavailable", what, {}, 1});
  }
  if (!answer)
    co_return call.problem({503, "views_timeout", "the query did not finish in time", {}, 1});
  if (!*answer) co_return call.problem({404, "not_found", "no such resource", {}, {}});
  co_return call.json(200, std::move(**answer));
}

Response App::handle_metrics(Call& call) {
  std::string out;
  auto line = [&](std::string_view name, std::string_view labels, int64_t v) {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, v);
  };
  // One family at a time, every partition's sample under its TYPE line: the text format
  // wants a family's samples together, so a scraper of several partitions takes them.
  struct PartitionSample {
    int64_t last_offset, queue_depth, commands, batches, events, writable;
  };
  std::vector<PartitionSample> parts;
  for (uint32_t p = 0; p < engine_.partition_count(); ++p) {
    auto tail = engine_.log().known_tail(PartitionId{p});
    auto& proc = engine_.processor(PartitionId{p});
    const auto stats = proc.stats();
    parts.push_back({tail ? tail->last_offset.value() : -1,
                     static_cast<int64_t>(proc.queue_depth()), static_cast<int64_t>(stats.commands),
                     static_cast<int64_t>(stats.batches), static_cast<int64_t>(stats.events),
                     // 0 while the partition cannot write (as /readyz; why is in the log).
                     proc.health().writable ? 1 : 0});
  }
  auto family = [&](std::string_view name, std::string_view type, int64_t PartitionSample::*field) {
    fmt::format_to(std::back_inserter(out), "# TYPE {} {}\n", name, type);
    for (size_t p = 0; p < parts.size(); ++p)
      line(name, fmt::format("partition=\"{}\"", p), parts[p].*field);
  };
  family("ordo_partition_last_offset", "gauge", &PartitionSample::last_offset);
  family("ordo_partition_queue_depth", "gauge", &PartitionSample::queue_depth);
  family("ordo_commands_total", "counter", &PartitionSample::commands);
  family("ordo_group_commits_total", "counter", &PartitionSample::batches);
  family("ordo_events_total", "counter", &PartitionSample::events);
  family("ordo_partition_writable", "gauge", &PartitionSample::writable);
  if (read_.runner) {
    for (const char* name : {"ordo_projection_position", "ordo_projection_lag_events"}) {
      fmt::format_to(std::back_inserter(out), "# TYPE {} gauge\n", name);
      const bool lag = std::string_view(name) == "ordo_projection_lag_events";
      for (size_t p = 0; p < parts.size(); ++p)
        for (const auto& projection : projections::kProjectionNames) {
          const int64_t pos = read_.runner->position(static_cast<uint32_t>(p));
          line(name, fmt::format("projection=\"{}\",partition=\"{}\"", projection, p),
               lag ? parts[p].last_offset - pos : pos);
        }
    }
  }
  // Refusals for who the caller is (api/denials.hpp), one series per reason.
  out += "# TYPE ordo_http_denied_total counter\n";
  for (DenyReason r : kDenyReasons)
    line("ordo_http_denied_total", fmt::format("reason=\"{}\"", to_string(r)),
         static_cast<int64_t>(denials_.count(r)));
  if (read_.runner) {
    out += "# TYPE ordo_projector_healthy gauge\n";
    line("ordo_projector_healthy", "", read_.runner->healthy() ? 1 : 0);
  }
  Response res = call.json(200, std::move(out));
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  return res;
}

}  // namespace ordo::api
