// The pure core: every command against the states it can meet, folded with apply().
#include <doctest/doctest.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/domain/decide.hpp"
#include "tests/unit/support.hpp"

using namespace ordo;

namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kTtl = 15 * 60 * 1000;

DefineProduct define(const std::string& sku, int64_t stock = 10, int64_t price = 250,
                     const std::string& seller = "seller-1", const std::string& currency = "USD") {
  return DefineProduct{Sku{sku},           SellerId{seller},   "Widget " + sku,
                       AmountMinor{price}, Currency{currency}, Quantity{stock}};
}

AdjustStock adjust(const std::string& sku, int64_t delta, std::string reason = "count") {
  return AdjustStock{Sku{sku}, Quantity{delta}, std::move(reason)};
}

using Lines = std::vector<std::pair<std::string, int64_t>>;

PlaceOrder place(const std::string& id, const Lines& lines,
                 const std::string& customer = "cust-1") {
  PlaceOrder c{OrderId{id}, CustomerId{customer}, {}};
  for (const auto& [sku, qty] : lines) c.lines.push_back(OrderLineRequest{Sku{sku}, Quantity{qty}});
  return c;
}

CancelOrder cancel(const std::string& id, std::optional<int64_t> expected = std::nullopt) {
  return CancelOrder{OrderId{id}, "changed my mind", expected};
}

ExpireReservation expire(const std::string& id) { return ExpireReservation{OrderId{id}}; }

// One partition driven only through decide and apply, as the processor drives it.
struct Partition {
  PartitionState state;
  int64_t now = kT0;
  int64_t ttl = kTtl;

  Decision run(const Command& c) const {
    return decide(state, c, DecideContext{TimestampMs{now}, DurationMs{ttl}});
  }

  // Decides, requires acceptance, folds the events in, and checks the invariants.
  std::vector<Event> accept(const Command& c) {
    Decision d = run(c);
    const auto* r = std::get_if<Rejection>(&d);
    REQUIRE_MESSAGE(r == nullptr, command_name(c),
                    " rejected: ", r ? to_string(r->code) : std::string_view(), " ",
                    r ? r->detail : std::string());
    auto events = std::get<std::vector<Event>>(d);
    for (const auto& e : events) apply(state, e, TimestampMs{now});
    test::check_partition_invariants(state);
    return events;
  }

  // Decides, requires a rejection with `expected`, and leaves the state untouched.
  Rejection reject(const Command& c, RejectCode expected) const {
    Decision d = run(c);
    REQUIRE_MESSAGE(std::holds_alternative<Rejection>(d), command_name(c),
                    " was accepted, expected ", to_string(expected));
    Rejection r = std::get<Rejection>(d);
    CHECK_MESSAGE(r.code == expected, command_name(c), ": expected ", to_string(expected), ", got ",
                  to_string(r.code), " (", r.detail, ")");
    CHECK_FALSE(r.detail.empty());
    return r;
  }

  const Product& product(const std::string& sku) const {
    const Product* p = state.find_product(Sku{sku});
    REQUIRE_MESSAGE(p != nullptr, "no product ", sku);
    return *p;
  }
  const Order& order(const std::string& id) const {
    const Order* o = state.find_order(OrderId{id});
    REQUIRE_MESSAGE(o != nullptr, "no order ", id);
    return *o;
  }

  void check_stock(const std::string& sku, int64_t on_hand, int64_t reserved) const {
    const Product& p = product(sku);
    CHECK(p.on_hand.value() == on_hand);
    CHECK(p.reserved.value() == reserved);
    CHECK(p.available().value() == on_hand - reserved);
  }
};

template <typename T>
const T& as(const Event& e) {
  REQUIRE_MESSAGE(std::holds_alternative<T>(e), "event is ", event_type(e));
  return std::get<T>(e);
}

// Products "a" (2.50, 10 in stock) and "b" (19.99, 5 in stock) of seller-1.
Partition with_two_products() {
  Partition p;
  p.accept(define("a", 10, 250));
  p.accept(define("b", 5, 1999));
  return p;
}

}  // namespace

TEST_CASE("DefineProduct is accepted and folds into a product") {
  Partition p;
  auto events = p.accept(define("sku-1", 7, 1234));
  REQUIRE(events.size() == 1u);
  const auto& e = as<ProductDefined>(events[0]);
  CHECK(e.sku.value() == "sku-1");
  CHECK(e.seller_id.value() == "seller-1");
  CHECK(e.name == "Widget sku-1");
  CHECK(e.price_minor.value() == 1234);
  CHECK(e.currency.value() == "USD");
  CHECK(e.initial_stock.value() == 7);
  CHECK(event_stream(events[0]) == "product-sku-1");

  const Product& prod = p.product("sku-1");
  p.check_stock("sku-1", 7, 0);
  CHECK(prod.version == 1);
  CHECK(prod.seller_id.value() == "seller-1");
  CHECK(prod.price_minor.value() == 1234);
  CHECK(prod.currency.value() == "USD");
  CHECK(prod.name == "Widget sku-1");
}

TEST_CASE("DefineProduct accepts the limits themselves") {
  Partition p;
  p.accept(define("free", 0, 0));
  p.check_stock("free", 0, 0);
  p.accept(define("max", kMaxStock, kMaxPriceMinor));
  p.check_stock("max", kMaxStock, 0);
  p.accept(define(std::string(kMaxIdLength, 'x')));
  p.accept(define("A-z_0.9:x"));
  DefineProduct long_name = define("named");
  long_name.name = std::string(kMaxNameLength, 'n');
  p.accept(long_name);
  // Characters, not bytes: 200 two-byte characters fit, one more does not.
  DefineProduct accented = define("accented");
  accented.name.clear();
  for (size_t i = 0; i < kMaxNameLength; ++i) accented.name += "\xc3\xa9";
  p.accept(accented);
  DefineProduct too_long = define("too-long");
  too_long.name.clear();
  for (size_t i = 0; i <= kMaxNameLength; ++i) too_long.name += "\xc3\xa9";
  p.reject(too_long, RejectCode::invalid_command);
}

TEST_CASE("DefineProduct of an existing SKU is already_exists") {
  Partition p;
  p.accept(define("a"));
  p.reject(define("a"), RejectCode::already_exists);
  p.reject(define("a", 99, 1, "seller-2", "EUR"), RejectCode::already_exists);
  p.check_stock("a", 10, 0);
}

TEST_CASE("DefineProduct with bad fields is invalid_command") {
  const std::vector<std::pair<const char*, std::function<void(DefineProduct&)>>> cases = {
      {"empty sku", [](DefineProduct& c) { c.sku = Sku{""}; }},
      {"space in sku", [](DefineProduct& c) { c.sku = Sku{"a b"}; }},
      {"slash in sku", [](DefineProduct& c) { c.sku = Sku{"a/b"}; }},
      {"non-ascii sku", [](DefineProduct& c) { c.sku = Sku{"caf\xc3\xa9"}; }},
      {"sku of 65 chars",
       [](DefineProduct& c) { c.sku = Sku{std::string(kMaxIdLength + 1, 'x')}; }},
      {"empty seller", [](DefineProduct& c) { c.seller_id = SellerId{""}; }},
      {"bad seller chars", [](DefineProduct& c) { c.seller_id = SellerId{"seller#1"}; }},
      {"empty name", [](DefineProduct& c) { c.name.clear(); }},
      {"name too long", [](DefineProduct& c) { c.name = std::string(kMaxNameLength + 1, 'n'); }},
      {"lower-case currency", [](DefineProduct& c) { c.currency = Currency{"usd"}; }},
      {"two-letter currency", [](DefineProduct& c) { c.currency = Currency{"US"}; }},
      {"four-letter currency", [](DefineProduct& c) { c.currency = Currency{"USDX"}; }},
      {"digit in currency", [](DefineProduct& c) { c.currency = Currency{"U5D"}; }},
      {"empty currency", [](DefineProduct& c) { c.currency = Currency{""}; }},
      {"negative price", [](DefineProduct& c) { c.price_minor = AmountMinor{-1}; }},
      {"price over limit",
       [](DefineProduct& c) { c.price_minor = AmountMinor{kMaxPriceMinor + 1}; }},
      {"negative stock", [](DefineProduct& c) { c.stock = Quantity{-1}; }},
      {"stock over limit", [](DefineProduct& c) { c.stock = Quantity{kMaxStock + 1}; }},
  };
  Partition p;
  for (const auto& [what, mutate] : cases) {
    CAPTURE(what);
    DefineProduct c = define("a");
    mutate(c);
    p.reject(c, RejectCode::invalid_command);
  }
  CHECK(p.state.products.empty());
}

TEST_CASE("AdjustStock restocks and shrinks") {
  Partition p;
  p.accept(define("a", 10));

  auto events = p.accept(adjust("a", 5, "delivery"));
  REQUIRE(events.size() == 1u);
  const auto& up = as<StockAdjusted>(events[0]);
  CHECK(up.delta.value() == 5);
  CHECK(up.on_hand_after.value() == 15);
  CHECK(up.reason == "delivery");
  p.check_stock("a", 15, 0);
  CHECK(p.product("a").version == 2);

  events = p.accept(adjust("a", -9, "breakage"));
  CHECK(as<StockAdjusted>(events[0]).on_hand_after.value() == 6);
  p.check_stock("a", 6, 0);
  CHECK(p.product("a").version == 3);

  p.accept(adjust("a", -6));  // down to nothing
  p.check_stock("a", 0, 0);
}

TEST_CASE("AdjustStock never shrinks below what is reserved") {
  Partition p;
  p.accept(define("a", 10));
  p.accept(place("o1", {{"a", 3}}));
  p.reject(adjust("a", -8), RejectCode::stock_below_reserved);
  p.check_stock("a", 10, 3);
  p.accept(adjust("a", -7));  // exactly down to the reservation
  p.check_stock("a", 3, 3);
  p.reject(adjust("a", -1), RejectCode::stock_below_reserved);

  Partition empty;
  empty.accept(define("b", 2));
  empty.reject(adjust("b", -3), RejectCode::stock_below_reserved);  // on hand would go negative
}

TEST_CASE("AdjustStock beyond the stock ceiling is stock_limit") {
  Partition p;
  p.accept(define("full", kMaxStock));
  p.reject(adjust("full", 1), RejectCode::stock_limit);
  p.accept(define("some", 10));
  p.reject(adjust("some", kMaxStock), RejectCode::stock_limit);
  p.accept(adjust("some", kMaxStock - 10));  // exactly the ceiling
  p.check_stock("some", kMaxStock, 0);
}

TEST_CASE("AdjustStock with a bad delta or reason is invalid_command") {
  Partition p;
  p.accept(define("a", 10));
  p.reject(adjust("a", 0), RejectCode::invalid_command);
  p.reject(adjust("a", kMaxStock + 1), RejectCode::invalid_command);
  p.reject(adjust("a", -kMaxStock - 1), RejectCode::invalid_command);
  p.reject(adjust("a", 1, std::string(kMaxReasonLength + 1, 'r')), RejectCode::invalid_command);
  p.accept(adjust("a", 1, std::string(kMaxReasonLength, 'r')));
  // The shape is checked before existence.
  p.reject(adjust("nope", 0), RejectCode::invalid_command);
}

TEST_CASE("AdjustStock of an unknown SKU is not_found") {
  Partition p;
  p.reject(adjust("nope", 5), RejectCode::not_found);
  p.accept(define("a"));
  p.reject(adjust("b", -1), RejectCode::not_found);
}

TEST_CASE("PlaceOrder reserves every line with a price snapshot") {
  Partition p = with_two_products();
  auto events = p.accept(place("o1", {{"a", 3}, {"b", 2}}, "cust-9"));
  REQUIRE(events.size() == 3u);

  const auto& placed = as<OrderPlaced>(events[0]);
  CHECK(placed.order_id.value() == "o1");
  CHECK(placed.customer_id.value() == "cust-9");
  CHECK(placed.seller_id.value() == "seller-1");
  CHECK(placed.currency.value() == "USD");
  REQUIRE(placed.lines.size() == 2u);
  CHECK(placed.lines[0].sku.value() == "a");
  CHECK(placed.lines[0].qty.value() == 3);
  CHECK(placed.lines[0].unit_price_minor.value() == 250);
  CHECK(placed.lines[1].sku.value() == "b");
  CHECK(placed.lines[1].qty.value() == 2);
  CHECK(placed.lines[1].unit_price_minor.value() == 1999);
  CHECK(placed.total_minor.value() == 3 * 250 + 2 * 1999);
  CHECK(placed.expires_at.value() == kT0 + kTtl);
  CHECK(event_stream(events[0]) == "order-o1");

  const auto& ra = as<StockReserved>(events[1]);
  CHECK(ra.sku.value() == "a");
  CHECK(ra.order_id.value() == "o1");
  CHECK(ra.qty.value() == 3);
  const auto& rb = as<StockReserved>(events[2]);
  CHECK(rb.sku.value() == "b");
  CHECK(rb.qty.value() == 2);
  CHECK(event_stream(events[2]) == "product-b");

  p.check_stock("a", 10, 3);
  p.check_stock("b", 5, 2);
  CHECK(p.product("a").version == 2);
  CHECK(p.product("b").version == 2);
  const Order& o = p.order("o1");
  CHECK(o.status == OrderStatus::reserved);
  CHECK(o.version == 1);
  CHECK(o.placed_at.value() == kT0);
  CHECK(o.expires_at.value() == kT0 + kTtl);
  CHECK(o.total_minor.value() == 4748);
  CHECK(o.lines.size() == 2u);
}

TEST_CASE("PlaceOrder takes its expiry from the context's clock and TTL") {
  Partition p = with_two_products();
  p.now = kT0 + 123;
  p.ttl = 60'000;
  auto events = p.accept(place("o1", {{"a", 1}}));
  CHECK(as<OrderPlaced>(events[0]).expires_at.value() == kT0 + 123 + 60'000);
}

TEST_CASE("PlaceOrder may take exactly what is available") {
  Partition p = with_two_products();
  p.accept(place("o1", {{"a", 8}}));
  p.reject(place("o2", {{"a", 3}}), RejectCode::out_of_stock);
  p.accept(place("o2", {{"a", 2}}));
  p.check_stock("a", 10, 10);
  p.reject(place("o3", {{"a", 1}}), RejectCode::out_of_stock);
}

TEST_CASE("PlaceOrder with one short line reserves nothing") {
  Partition p = with_two_products();
  Decision d = p.run(place("o1", {{"a", 3}, {"b", 6}}));
  REQUIRE(std::holds_alternative<Rejection>(d));
  CHECK(std::get<Rejection>(d).code == RejectCode::out_of_stock);
  p.check_stock("a", 10, 0);
  p.check_stock("b", 5, 0);
  CHECK(p.state.orders.empty());
  // The first line short is the same.
  p.reject(place("o1", {{"b", 6}, {"a", 3}}), RejectCode::out_of_stock);
}

TEST_CASE("PlaceOrder rejects lines it cannot price together") {
  Partition p = with_two_products();
  p.accept(define("other-seller", 10, 100, "seller-2"));
  p.accept(define("euro", 10, 100, "seller-1", "EUR"));

  SUBCASE("unknown sku") { p.reject(place("o1", {{"a", 1}, {"zzz", 1}}), RejectCode::unknown_sku); }
  SUBCASE("same sku twice") {
    p.reject(place("o1", {{"a", 1}, {"b", 1}, {"a", 2}}), RejectCode::invalid_command);
  }
  SUBCASE("two sellers") {
    p.reject(place("o1", {{"a", 1}, {"other-seller", 1}}), RejectCode::mixed_sellers);
  }
  SUBCASE("two currencies") {
    p.reject(place("o1", {{"a", 1}, {"euro", 1}}), RejectCode::mixed_currencies);
  }
  CHECK(p.state.orders.empty());
  p.check_stock("a", 10, 0);
}

TEST_CASE("PlaceOrder whose total passes the money ceiling is amount_overflow") {
  // At 10^12 a unit, 1000 units are exactly kMaxAmountMinor (10^15); 1001 pass it; ten lines
  // of 10^6 units (10^19) would not even fit in int64.
  Partition p;
  Lines ten;
  for (int i = 0; i < 10; ++i) {
    std::string sku = "dear-" + std::to_string(i);
    p.accept(define(sku, kMaxLineQty, kMaxPriceMinor));
    ten.emplace_back(sku, kMaxLineQty);
  }
  p.reject(place("o10", ten), RejectCode::amount_overflow);
  p.reject(place("o1001", {{"dear-0", 1001}}), RejectCode::amount_overflow);
  p.reject(place("o2", {{"dear-0", 500}, {"dear-1", 501}}), RejectCode::amount_overflow);
  CHECK(p.state.orders.empty());
  p.check_stock("dear-0", kMaxLineQty, 0);
  auto events = p.accept(place("o1000", {{"dear-0", 1000}}));
  CHECK(as<OrderPlaced>(events[0]).total_minor.value() == kMaxAmountMinor);
}

TEST_CASE("PlaceOrder with a bad shape is invalid_command") {
  Partition p = with_two_products();
  p.accept(define("plenty", 2 * kMaxLineQty));
  p.reject(place("o1", {{"a", 0}}), RejectCode::invalid_command);
  p.reject(place("o1", {{"a", -1}}), RejectCode::invalid_command);
  p.reject(place("o1", {{"plenty", kMaxLineQty + 1}}), RejectCode::invalid_command);
  p.reject(place("o1", {}), RejectCode::invalid_command);
  p.reject(place("bad id", {{"a", 1}}), RejectCode::invalid_command);
  p.reject(place("o1", {{"a", 1}}, ""), RejectCode::invalid_command);
  p.reject(place(std::string(kMaxIdLength + 1, 'o'), {{"a", 1}}), RejectCode::invalid_command);
  Lines too_many;
  for (size_t i = 0; i <= kMaxOrderLines; ++i) too_many.emplace_back("sku-" + std::to_string(i), 1);
  p.reject(place("o1", too_many), RejectCode::invalid_command);
  p.accept(place("o1", {{"plenty", kMaxLineQty}}));
}

TEST_CASE("PlaceOrder of an existing order id is already_exists") {
  Partition p = with_two_products();
  p.accept(place("o1", {{"a", 1}}));
  p.reject(place("o1", {{"b", 1}}), RejectCode::already_exists);
  p.check_stock("b", 5, 0);
  p.accept(cancel("o1"));
  p.reject(place("o1", {{"a", 1}}), RejectCode::already_exists);  // ids are never reused
}

TEST_CASE("CancelOrder releases every line") {
  Partition p = with_two_products();
  p.accept(place("o1", {{"a", 3}, {"b", 2}}));
  auto events = p.accept(cancel("o1"));
  REQUIRE(events.size() == 3u);
  const auto& c = as<OrderCancelled>(events[0]);
  CHECK(c.order_id.value() == "o1");
  CHECK(c.reason == "changed my mind");
  const auto& ra = as<StockReleased>(events[1]);
  CHECK(ra.sku.value() == "a");
  CHECK(ra.order_id.value() == "o1");
  CHECK(ra.qty.value() == 3);
  const auto& rb = as<StockReleased>(events[2]);
  CHECK(rb.sku.value() == "b");
  CHECK(rb.qty.value() == 2);

  CHECK(p.order("o1").status == OrderStatus::cancelled);
  CHECK(p.order("o1").version == 2);
  p.check_stock("a", 10, 0);
  p.check_stock("b", 5, 0);
  CHECK(p.product("a").version == 3);  // defined, reserved, released

  p.reject(cancel("o1"), RejectCode::invalid_transition);
  p.accept(place("o2", {{"a", 10}}));  // the released stock is available again
}

TEST_CASE("CancelOrder honours the expected version") {
  Partition p = with_two_products();
  p.accept(place("o1", {{"a", 1}}));
  p.reject(cancel("o1", 2), RejectCode::version_conflict);
  p.reject(cancel("o1", 0), RejectCode::version_conflict);
  CHECK(p.order("o1").status == OrderStatus::reserved);
  p.accept(cancel("o1", 1));
  CHECK(p.order("o1").status == OrderStatus::cancelled);
  // On a cancelled order (version 2) the version is checked first.
  p.reject(cancel("o1", 1), RejectCode::version_conflict);
  p.reject(cancel("o1", 2), RejectCode::invalid_transition);
}

TEST_CASE("CancelOrder of an unknown order is not_found") {
  Partition p = with_two_products();
  p.reject(cancel("nope"), RejectCode::not_found);
  p.reject(cancel("nope", 1), RejectCode::not_found);
}

TEST_CASE("ExpireReservation only once the reservation has expired") {
  Partition p = with_two_products();
  p.accept(place("o1", {{"a", 3}, {"b", 1}}));
  const int64_t expires_at = p.order("o1").expires_at.value();

  p.now = expires_at - 1;
  p.reject(expire("o1"), RejectCode::invalid_transition);
  CHECK(p.order("o1").status == OrderStatus::reserved);

  SUBCASE("at the expiry instant") { p.now = expires_at; }
  SUBCASE("long after") { p.now = expires_at + 3'600'000; }

  auto events = p.accept(expire("o1"));
  REQUIRE(events.size() == 3u);
  CHECK(as<OrderExpired>(events[0]).order_id.value() == "o1");
  CHECK(as<StockReleased>(events[1]).qty.value() == 3);
  CHECK(as<StockReleased>(events[2]).sku.value() == "b");
  CHECK(p.order("o1").status == OrderStatus::expired);
  CHECK(p.order("o1").version == 2);
  p.check_stock("a", 10, 0);
  p.check_stock("b", 5, 0);

  p.reject(expire("o1"), RejectCode::invalid_transition);
  p.reject(cancel("o1"), RejectCode::invalid_transition);
}

TEST_CASE("ExpireReservation after a cancel or of an unknown order") {
  Partition p = with_two_products();
  p.accept(place("o1", {{"a", 1}}));
  p.accept(cancel("o1"));
  p.now = kT0 + kTtl + 1;
  p.reject(expire("o1"), RejectCode::invalid_transition);
  CHECK(p.order("o1").status == OrderStatus::cancelled);
  p.reject(expire("nope"), RejectCode::not_found);
}

TEST_CASE("check_invariants catches a reservation no order accounts for") {
  Partition p = with_two_products();
  p.accept(place("o1", {{"a", 2}}));
  std::string why;
  REQUIRE(check_invariants(p.state, &why));

  PartitionState broken = p.state;
  broken.products.at(Sku{"a"}).reserved = Quantity{3};
  CHECK_FALSE(check_invariants(broken, &why));
  CHECK(why.find("a") != std::string::npos);

  broken = p.state;
  broken.products.at(Sku{"b"}).on_hand = Quantity{-1};
  CHECK_FALSE(check_invariants(broken, nullptr));

  broken = p.state;
  broken.orders.at(OrderId{"o1"}).status = OrderStatus::cancelled;  // still holds stock
  CHECK_FALSE(check_invariants(broken, nullptr));
}

TEST_CASE("every reject code has a unique stable name") {
  std::set<std::string_view> names;
  for (RejectCode c : kAllRejectCodes) {
    CAPTURE(static_cast<int>(c));
    CHECK(to_string(c) != "unknown");
    CHECK_FALSE(to_string(c).empty());
    names.insert(to_string(c));
  }
  CHECK(names.size() == std::size(kAllRejectCodes));
  // The list covers the whole enum: the last code's value is its size minus one.
  CHECK(names.size() == static_cast<size_t>(RejectCode::refund_exceeds_capture) + 1);
  CHECK(to_string(RejectCode::out_of_stock) == "out_of_stock");
  CHECK(to_string(RejectCode::version_conflict) == "version_conflict");
}

TEST_CASE("order statuses round-trip through their names") {
  const OrderStatus all[] = {OrderStatus::reserved,  OrderStatus::payment_pending,
                             OrderStatus::paid,      OrderStatus::shipped,
                             OrderStatus::delivered, OrderStatus::completed,
                             OrderStatus::cancelled, OrderStatus::expired};
  std::set<std::string_view> names;
  for (OrderStatus s : all) {
    OrderStatus back = OrderStatus::completed;
    REQUIRE(parse_order_status(to_string(s), back));
    CHECK(back == s);
    names.insert(to_string(s));
  }
  CHECK(names.size() == std::size(all));
  OrderStatus out = OrderStatus::reserved;
  CHECK_FALSE(parse_order_status("unknown", out));
  CHECK_FALSE(parse_order_status("Reserved", out));
}

TEST_CASE("command and event names") {
  CHECK(command_name(Command{define("a")}) == "DefineProduct");
  CHECK(command_name(Command{adjust("a", 1)}) == "AdjustStock");
  CHECK(command_name(Command{place("o", {})}) == "PlaceOrder");
  CHECK(command_name(Command{cancel("o")}) == "CancelOrder");
  CHECK(command_name(Command{expire("o")}) == "ExpireReservation");
  CHECK(event_type(Event{OrderExpired{OrderId{"o"}}}) == "OrderExpired");
  CHECK(event_stream(Event{OrderExpired{OrderId{"o"}}}) == "order-o");
  CHECK(event_stream(Event{StockReleased{Sku{"s"}, OrderId{"o"}, Quantity{1}}}) == "product-s");
}
