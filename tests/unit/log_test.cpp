// The log encoding: canonical JSON, the envelope and its hash chain, the event codec.
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/log/canonical_object.hpp"
#include "engine/log/envelope.hpp"
#include "engine/log/envelope_view.hpp"
#include "engine/log/event_codec.hpp"
#include "engine/log/json.hpp"
#include "tests/unit/support.hpp"

using namespace ordo;

namespace {

std::string canonical_of(std::string_view text) {
  auto j = parse_json(text);
  REQUIRE_MESSAGE(j.ok(), "parse of ", text, " failed: ", test::error_of(j));
  return to_canonical(j.value());
}

void check_rejected(std::string_view text) {
  auto j = parse_json(text);
  CHECK_MESSAGE(!j.ok(), "accepted: ", text);
}

std::string json_string(std::string_view s) {
  std::string out;
  write_json_string(s, out);
  return out;
}

Envelope sample_envelope() {
  Envelope e;
  e.partition = PartitionId{3};
  e.offset = Offset{41};
  e.stream = "order-o1";
  e.stream_version = 2;
  e.type = "OrderCancelled";
  e.schema_version = 1;
  e.occurred_at = TimestampMs{1'700'000'000'123};
  e.command_id = "cmd-1";
  e.correlation_id = "corr-1";
  e.causation_id = "cause-1";
  e.actor = Actor{"user-7", "buyer"};
  e.payload = Json(Json::Object{{"order_id", Json("o1")}, {"reason", Json("too \"slow\"\n")}});
  seal(e, kGenesisHash);
  return e;
}

bool is_lower_hex_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// One instance of every alternative of Event, with awkward strings where there are strings.
std::vector<Event> every_event() {
  return {
      ProductDefined{Sku{"sku-1"}, SellerId{"seller-1"}, "Caf\xc3\xa9 \"cr\xc3\xa8me\"\t\\ 1/2",
                     AmountMinor{kMaxPriceMinor}, Currency{"EUR"}, Quantity{0}},
      StockAdjusted{Sku{"sku-1"}, Quantity{-7}, "breakage\x01", Quantity{93}},
      OrderPlaced{OrderId{"o1"},
                  CustomerId{"cust-1"},
                  SellerId{"seller-1"},
                  Currency{"EUR"},
                  {PricedLine{Sku{"sku-1"}, Quantity{3}, AmountMinor{250}},
                   PricedLine{Sku{"sku-2"}, Quantity{1}, AmountMinor{1999}}},
                  AmountMinor{2749},
                  TimestampMs{1'700'000'900'000}},
      StockReserved{Sku{"sku-2"}, OrderId{"o1"}, Quantity{1}},
      StockReleased{Sku{"sku-2"}, OrderId{"o1"}, Quantity{1}},
      OrderCancelled{OrderId{"o1"}, ""},
      OrderExpired{OrderId{"o1"}},
      // The money side: lifecycle and ledger, with edge values (zero, the largest amount,
      // empty provider ids, a partial refund that does not resolve its escrow).
      OrderPaymentRequested{OrderId{"o1"}, PaymentId{"p1"}, PaymentMethod::card,
                            CustomerId{"cust-1"}, SellerId{"seller-1"}, AmountMinor{2749},
                            Currency{"EUR"}},
      OrderPaid{OrderId{"o1"}, PaymentId{"p1"}},
      StockCommitted{Sku{"sku-1"}, OrderId{"o1"}, Quantity{3}},
      OrderPaymentFailed{OrderId{"o1"}, PaymentId{"p1"},
                         "insufficient_funds: available 0, needed 2749"},
      OrderShipped{OrderId{"o1"}},
      OrderDelivered{OrderId{"o1"}, TimestampMs{1'700'604'800'000}},
      OrderCompleted{OrderId{"o1"}, "auto", AmountMinor{0}, Currency{"EUR"}},
      OrderDisputed{OrderId{"o1"}, "arrived broken \xe2\x80\x94 \"badly\""},
      OrderRefunded{OrderId{"o1"}, PaymentId{"p1"}, "", AmountMinor{2749}, Currency{"EUR"}},
      StockRestocked{Sku{"sku-2"}, OrderId{"o1"}, Quantity{1}},
      WalletDeposited{OwnerId{"cust-1"}, Currency{"EUR"}, AmountMinor{kMaxAmountMinor}, "wire 42"},
      PaymentInitiated{PaymentId{"p1"}, OrderId{"o1"}, PaymentMethod::wallet, CustomerId{"cust-1"},
                       SellerId{"seller-1"}, AmountMinor{2749}, Currency{"EUR"}},
      PaymentCaptured{PaymentId{"p1"}, OrderId{"o1"}, AmountMinor{2749}, ""},
      PaymentFailed{PaymentId{"p1"}, OrderId{"o1"}, "card payment failed", "ev-9"},
      PaymentRefunded{PaymentId{"p1"}, OrderId{"o1"}, AmountMinor{1}, "ev-10"},
      EscrowHeld{OrderId{"o1"}, PaymentId{"p1"}, "wallet:cust-1", CustomerId{"cust-1"},
                 SellerId{"seller-1"}, AmountMinor{2749}, Currency{"EUR"}},
      EscrowReleased{OrderId{"o1"}, SellerId{"seller-1"}, AmountMinor{2749}, AmountMinor{137},
                     Currency{"EUR"}},
      EscrowRefunded{OrderId{"o1"}, "external:card", AmountMinor{1}, Currency{"EUR"}, false},
      PayoutRequested{PayoutId{"po1"}, OwnerId{"seller-1"}, Currency{"EUR"}, AmountMinor{500},
                      "iban:DE89"},
      PayoutCompleted{PayoutId{"po1"}, OwnerId{"seller-1"}, Currency{"EUR"}, AmountMinor{500}},
      PayoutRejected{PayoutId{"po1"}, ""},
      OrderPaymentReturned{OrderId{"o1"}, PaymentId{"p1"}, AmountMinor{2749}, Currency{"EUR"}},
  };
}

}  // namespace

// ---------------------------------------------------------------- canonical JSON

TEST_CASE("canonical JSON sorts keys and has no whitespace") {
  Json v(Json::Object{{"zeta", Json(1)},
                      {"alpha", Json(Json::Array{Json(3), Json(1), Json(2)})},
                      {"Beta", Json(Json::Object{{"y", Json(true)}, {"x", Json(nullptr)}})},
                      {"m", Json("s")}});
  CHECK(to_canonical(v) == R"({"Beta":{"x":null,"y":true},"alpha":[3,1,2],"m":"s","zeta":1})");

  CHECK(canonical_of(" { \"b\" : 1 ,\n\t\"a\" : [ 1 , 2 , { } , [ ] ] , \"c\":false } ") ==
        R"({"a":[1,2,{},[]],"b":1,"c":false})");
  CHECK(canonical_of("[-5, 0, 9223372036854775807, -9223372036854775808]") ==
        "[-5,0,9223372036854775807,-9223372036854775808]");
  CHECK(to_canonical(Json(std::numeric_limits<int64_t>::min())) == "-9223372036854775808");
  CHECK(to_canonical(Json()) == "null");
  CHECK(to_canonical(Json(false)) == "false");
  CHECK(to_canonical(Json(Json::Object{})) == "{}");
  CHECK(to_canonical(Json(Json::Array{})) == "[]");
}

TEST_CASE("canonical JSON escapes strings the same way every time") {
  CHECK(json_string("plain") == R"("plain")");
  CHECK(json_string("a\"b") == R"("a\"b")");
  CHECK(json_string("a\\b") == R"("a\\b")");
  CHECK(json_string("\x01") == R"("\u0001")");
  CHECK(json_string("\x1f") == R"("\u001f")");
  CHECK(json_string(std::string("a\0b", 3)) == R"("a\u0000b")");
  CHECK(json_string("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  CHECK(json_string("/") == R"("/")");
  CHECK(json_string("\x7f") == "\"\x7f\"");
  CHECK(json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");  // UTF-8 passes through unescaped
  // Keys are escaped like values.
  CHECK(to_canonical(Json(Json::Object{{"k\"\x02", Json("v")}})) == R"({"k\"\u0002":"v"})");
}

TEST_CASE("string escaping is the same whether a byte is met alone or eight at a time") {
  // A byte at a time, as the rules say: the reference the word-at-a-time scan must match.
  auto reference = [](std::string_view in) {
    // RFC 8259's two-character escapes; every other byte below 0x20 is \u00XX.
    static const std::map<unsigned char, std::string_view> kShort = {
        {'"', "\\\""}, {'\\', "\\\\"}, {'\b', "\\b"}, {'\f', "\\f"},
        {'\n', "\\n"}, {'\r', "\\r"},  {'\t', "\\t"}};
    std::string out = "\"";
    for (unsigned char c : in) {
      if (auto it = kShort.find(c); it != kShort.end())
        out += it->second;
      else if (c < 0x20)
        out += fmt::format("\\u{:04x}", c);
      else
        out.push_back(static_cast<char>(c));
    }
    return out + "\"";
  };
  // Every byte value at every position of strings up to 19 bytes long (two words and a
  // tail), in a run of plain bytes and of UTF-8 continuation bytes.
  size_t checked = 0;
  for (char filler : {'a', '\xa9'})
    for (size_t len = 1; len < 20; ++len)
      for (size_t at = 0; at < len; ++at)
        for (int b = 0; b < 256; ++b) {
          std::string in(len, filler);
          in[at] = static_cast<char>(b);
          REQUIRE_MESSAGE(json_string(in) == reference(in), "byte ", b, " at ", at, " of ", len);
          ++checked;
        }
  CHECK(checked == 2 * 190 * 256);
  CHECK(json_string("") == "\"\"");
  CHECK(json_string("0123456789abcdef0123") == "\"0123456789abcdef0123\"");
}

TEST_CASE("parse then canonical is stable and round-trips") {
  const char* texts[] = {
      R"({"b":[1,{"d":"\u0001","c":"x\"y"}],"a":null})",
      R"("\u00e9\/\b\u001F")",
      R"([true,false,null,-1,{}])",
      R"({"nested":{"deeper":{"deepest":[[[]]]}}})",
  };
  for (const char* text : texts) {
    CAPTURE(text);
    std::string once = canonical_of(text);
    CHECK(canonical_of(once) == once);
    auto a = parse_json(text);
    auto b = parse_json(once);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a.value() == b.value());
  }
  CHECK(canonical_of(R"("\u00e9\/\u001F")") == "\"\xc3\xa9/\\u001f\"");
}

TEST_CASE("parse_json accepts integers only") {
  check_rejected("1.5");
  check_rejected("-0.5");
  check_rejected("1e3");
  check_rejected("1.0");
  check_rejected(R"({"price":19.99})");
  check_rejected("[1,2,3.0]");
  check_rejected("9223372036854775808");   // INT64_MAX + 1
  check_rejected("18446744073709551615");  // UINT64_MAX
  check_rejected("-9223372036854775809");
  auto j = parse_json("-9223372036854775808");
  REQUIRE(j.ok());
  CHECK(j->as_int() == std::numeric_limits<int64_t>::min());
}

TEST_CASE("parse_json rejects duplicate keys") {
  check_rejected(R"({"a":1,"a":2})");
  check_rejected(R"({"a":1,"a":1})");
  check_rejected(R"({"x":{"a":1,"b":2,"a":3}})");
  check_rejected(R"([{"k":"v","k":"w"}])");
  CHECK(parse_json(R"({"a":{"a":1}})").ok());  // the same key at two levels is fine
}

TEST_CASE("parse_json rejects malformed text") {
  for (const char* text : {"", " ", "{", "}", "[1,]", R"({"a":})", R"({"a" 1})", "{'a':1}", "tru",
                           "nul", R"("unterminated)", R"({"a":1,})", "[1 2]", "{} {}", "01",
                           R"("bad \x escape")", "\"\xff\xfe\"", "NaN"}) {
    CAPTURE(text);
    check_rejected(text);
  }
  std::string deep(200, '[');
  deep += std::string(200, ']');
  check_rejected(deep);  // nested too deeply
  std::string shallow(10, '[');
  shallow += std::string(10, ']');
  CHECK(parse_json(shallow).ok());
}

TEST_CASE("Json::find looks up object members only") {
  auto j = parse_json(R"({"a":1,"b":"x"})");
  REQUIRE(j.ok());
  REQUIRE(j->find("a") != nullptr);
  CHECK(j->find("a")->as_int() == 1);
  CHECK(j->find("c") == nullptr);
  CHECK(Json(5).find("a") == nullptr);
  CHECK(Json(Json::Array{Json(1)}).find("a") == nullptr);
}

// ---------------------------------------------------------------- envelope and hash chain

TEST_CASE("sha256_hex matches the standard test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(kGenesisHash == std::string(64, '0'));
}

TEST_CASE("an envelope is canonical JSON that decodes to an equal envelope") {
  const Envelope e = sample_envelope();
  const std::string text = encode_envelope(e);
  CHECK(text == canonical_of(text));
  CHECK(text.rfind(R"({"actor":{"role":"buyer","sub":"user-7"},"causation_id":"cause-1",)", 0) ==
        0);
  CHECK(text.find(R"("offset":41)") != std::string::npos);
  CHECK(text.find(R"("hash":")" + e.hash + "\"") != std::string::npos);

  auto back = decode_envelope(text);
  REQUIRE_MESSAGE(back.ok(), "decode_envelope failed: ", test::error_of(back));
  CHECK(back.value() == e);
  CHECK(encode_envelope(back.value()) == text);
}

TEST_CASE("seal chains an envelope to its predecessor") {
  Envelope first = sample_envelope();
  CHECK(first.prev_hash == kGenesisHash);
  CHECK(is_lower_hex_sha256(first.hash));
  CHECK(compute_hash(first) == first.hash);
  CHECK(first.hash == sha256_hex(first.prev_hash + hashed_bytes(first)));

  Envelope second = sample_envelope();
  second.stream_version = 3;
  const std::string& returned = seal(second, first.hash);
  CHECK(&returned == &second.hash);
  CHECK(second.prev_hash == first.hash);
  CHECK(compute_hash(second) == second.hash);
  CHECK(second.hash != first.hash);

  // The same bytes chained to another predecessor hash differently.
  Envelope elsewhere = second;
  seal(elsewhere, kGenesisHash);
  CHECK(elsewhere.hash != second.hash);

  // An edit to the first event no longer matches what the second chained to.
  Envelope edited = first;
  edited.payload.as_object()["reason"] = Json("edited");
  CHECK(compute_hash(edited) != second.prev_hash);
}

TEST_CASE("an appender's line from the sealed bytes is the line encode_envelope writes") {
  auto joined = [](const Envelope& e) {
    std::array<char, 32> offset_member;
    std::string out;
    for (std::string_view piece : stored_pieces(e, offset_member)) out += piece;
    return out;
  };
  Envelope tree = sample_envelope();  // payload as a Json tree
  Envelope direct = sample_envelope();
  direct.payload = Json();
  write_event_payload(OrderCancelled{OrderId{"o1"}, "too \"slow\"\n"}, direct.payload_bytes);
  seal(direct, kGenesisHash);
  for (Envelope* e : {&tree, &direct}) {
    REQUIRE(!e->sealed.hashed.empty());
    CHECK(e->sealed.hashed == hashed_bytes(*e));
    // The offset is assigned after sealing (and is -1 in a Kafka message's value).
    for (int64_t offset : {int64_t{-1}, int64_t{0}, int64_t{41}, int64_t{1'234'567'890'123},
                           std::numeric_limits<int64_t>::max()}) {
      e->offset = Offset{offset};
      CHECK(encode_sealed(*e) == encode_envelope(*e));
      CHECK(joined(*e) == encode_envelope(*e));
    }
    auto back = decode_envelope(encode_sealed(*e));
    REQUIRE(back.ok());
    CHECK(back.value() == *e);
    CHECK(back.value().sealed.hashed.empty());  // decoded, not sealed: encoded from fields
    CHECK(encode_sealed(back.value()) == encode_envelope(*e));
  }
  // Changed and re-hashed without seal(): the kept bytes no longer go with the hash, so the
  // line comes from the fields (in a release build nothing else would notice).
  Envelope rehashed = sample_envelope();
  rehashed.correlation_id = "corr-2";
  rehashed.hash = compute_hash(rehashed);
  CHECK_FALSE(has_sealed_bytes(rehashed));
  CHECK(encode_sealed(rehashed) == encode_envelope(rehashed));
  CHECK(encode_sealed(rehashed).find("corr-2") != std::string::npos);
}

TEST_CASE("the hash covers every field but the offset and the hash itself") {
  const Envelope base = sample_envelope();
  const std::vector<std::pair<const char*, std::function<void(Envelope&)>>> edits = {
      {"partition", [](Envelope& e) { e.partition = PartitionId{4}; }},
      {"stream", [](Envelope& e) { e.stream = "order-o2"; }},
      {"stream_version", [](Envelope& e) { e.stream_version += 1; }},
      {"type", [](Envelope& e) { e.type = "OrderExpired"; }},
      {"schema_version", [](Envelope& e) { e.schema_version = 2; }},
      {"occurred_at", [](Envelope& e) { e.occurred_at = TimestampMs{e.occurred_at.value() + 1}; }},
      {"command_id", [](Envelope& e) { e.command_id = "cmd-2"; }},
      {"correlation_id", [](Envelope& e) { e.correlation_id = "corr-2"; }},
      {"causation_id", [](Envelope& e) { e.causation_id = ""; }},
      {"actor.sub", [](Envelope& e) { e.actor.sub = "user-8"; }},
      {"actor.role", [](Envelope& e) { e.actor.role = "admin"; }},
      {"prev_hash", [](Envelope& e) { e.prev_hash = std::string(64, 'f'); }},
      {"payload.order_id", [](Envelope& e) { e.payload.as_object()["order_id"] = Json("o2"); }},
      {"payload.reason",
       [](Envelope& e) { e.payload.as_object()["reason"] = Json("too \"slow\" "); }},
      {"payload.reason type", [](Envelope& e) { e.payload.as_object()["reason"] = Json(1); }},
      {"payload new field", [](Envelope& e) { e.payload.as_object()["extra"] = Json(nullptr); }},
      {"payload field removed", [](Envelope& e) { e.payload.as_object().erase("reason"); }},
  };
  std::set<std::string> hashes{base.hash};
  for (const auto& [what, edit] : edits) {
    CAPTURE(what);
    Envelope e = base;
    edit(e);
    const std::string h = compute_hash(e);
    CHECK(h != base.hash);
    hashes.insert(h);
  }
  CHECK(hashes.size() == edits.size() + 1);

  Envelope moved = base;
  moved.offset = Offset{9999};
  CHECK(compute_hash(moved) == base.hash);
  CHECK(hashed_bytes(moved) == hashed_bytes(base));
  CHECK(hashed_bytes(base).find("\"offset\"") == std::string::npos);
  CHECK(hashed_bytes(base).find("\"hash\"") == std::string::npos);
  CHECK(hashed_bytes(base).find("\"prev_hash\"") != std::string::npos);
  Envelope rehashed = base;
  rehashed.hash = std::string(64, 'a');
  CHECK(compute_hash(rehashed) == base.hash);
}

TEST_CASE("decode_envelope rejects unknown, missing and mistyped fields") {
  const Envelope e = sample_envelope();
  auto parsed = parse_json(encode_envelope(e));
  REQUIRE(parsed.ok());
  const Json good = parsed.value();
  auto decodes = [](const Json& j) { return decode_envelope(to_canonical(j)).ok(); };

  SUBCASE("an unknown field") {
    Json j = good;
    j.as_object()["extra"] = Json(1);
    CHECK_FALSE(decodes(j));
  }
  SUBCASE("each field missing") {
    for (const auto& [key, value] : good.as_object()) {
      CAPTURE(key);
      Json j = good;
      j.as_object().erase(key);
      CHECK_FALSE(decodes(j));
    }
  }
  SUBCASE("a field missing and an unknown one in its place") {
    Json j = good;
    j.as_object().erase("causation_id");
    j.as_object()["causation"] = Json("cause-1");
    CHECK_FALSE(decodes(j));
  }
  SUBCASE("mistyped fields") {
    const std::vector<std::pair<const char*, Json>> edits = {
        {"offset", Json("41")},      {"stream_version", Json("2")},
        {"stream", Json(1)},         {"hash", Json(nullptr)},
        {"payload", Json("{}")},     {"payload", Json(Json::Array{})},
        {"actor", Json("user-7")},   {"partition", Json(-1)},
        {"occurred_at", Json(true)}, {"actor", Json(Json::Object{{"sub", Json("u")}})},
    };
    for (const auto& [key, value] : edits) {
      CAPTURE(key);
      Json j = good;
      j.as_object()[key] = value;
      CHECK_FALSE(decodes(j));
    }
  }
  SUBCASE("not an envelope at all") {
    CHECK_FALSE(decode_envelope("[]").ok());
    CHECK_FALSE(decode_envelope("{}").ok());
    CHECK_FALSE(decode_envelope("{\"partition\":").ok());
  }
}

// ---------------------------------------------------------------- event codec

TEST_CASE("every event type round-trips through its payload") {
  const auto events = every_event();
  std::set<size_t> kinds;
  for (const Event& e : events) kinds.insert(e.index());
  REQUIRE(kinds.size() == std::variant_size_v<Event>);

  std::set<std::string_view> types;
  for (const Event& e : events) {
    const std::string_view type = event_type(e);
    CAPTURE(type);
    types.insert(type);
    CHECK(current_schema_version(type) == (type == "OrderPlaced" ? 2 : 1));
    const Json payload = encode_event_payload(e);
    REQUIRE(payload.is_object());
    const std::string bytes = to_canonical(payload);

    // Straight from the value, and through the canonical text as a reader meets it.
    auto direct = decode_event(type, current_schema_version(type), payload);
    REQUIRE_MESSAGE(direct.ok(), test::error_of(direct));
    CHECK(direct->index() == e.index());
    CHECK(to_canonical(encode_event_payload(direct.value())) == bytes);
    CHECK(event_stream(direct.value()) == event_stream(e));

    auto reparsed = parse_json(bytes);
    REQUIRE(reparsed.ok());
    auto via_text = decode_event(type, current_schema_version(type), reparsed.value());
    REQUIRE(via_text.ok());
    CHECK(to_canonical(encode_event_payload(via_text.value())) == bytes);
  }
  CHECK(types.size() == std::variant_size_v<Event>);

  // Field-level spot checks, so that a codec that drops a field both ways is caught.
  auto placed = decode_event("OrderPlaced", 1, encode_event_payload(events[2]));
  REQUIRE(placed.ok());
  const auto& op = std::get<OrderPlaced>(placed.value());
  CHECK(op.customer_id.value() == "cust-1");
  CHECK(op.total_minor.value() == 2749);
  CHECK(op.expires_at.value() == 1'700'000'900'000);
  REQUIRE(op.lines.size() == 2u);
  CHECK(op.lines[1].unit_price_minor.value() == 1999);
  auto defined = decode_event("ProductDefined", 1, encode_event_payload(events[0]));
  REQUIRE(defined.ok());
  CHECK(std::get<ProductDefined>(defined.value()).name == "Caf\xc3\xa9 \"cr\xc3\xa8me\"\t\\ 1/2");
  CHECK(std::get<ProductDefined>(defined.value()).price_minor.value() == kMaxPriceMinor);
  auto refunded =
      decode_event("EscrowRefunded", 1,
                   encode_event_payload(Event{EscrowRefunded{
                       OrderId{"o1"}, "external:card", AmountMinor{1}, Currency{"EUR"}, false}}));
  REQUIRE(refunded.ok());
  CHECK_FALSE(std::get<EscrowRefunded>(refunded.value()).resolves);
  CHECK(std::get<EscrowRefunded>(refunded.value()).to_account == "external:card");
  auto released = decode_event(
      "EscrowReleased", 1,
      encode_event_payload(Event{EscrowReleased{OrderId{"o1"}, SellerId{"s"}, AmountMinor{2749},
                                                AmountMinor{137}, Currency{"EUR"}}}));
  REQUIRE(released.ok());
  CHECK(std::get<EscrowReleased>(released.value()).fee_minor.value() == 137);
  auto requested =
      decode_event("OrderPaymentRequested", 1,
                   encode_event_payload(Event{OrderPaymentRequested{
                       OrderId{"o1"}, PaymentId{"p1"}, PaymentMethod::card, CustomerId{"c"},
                       SellerId{"s"}, AmountMinor{2749}, Currency{"EUR"}}}));
  REQUIRE(requested.ok());
  CHECK(std::get<OrderPaymentRequested>(requested.value()).method == PaymentMethod::card);
  auto deposited =
      decode_event("WalletDeposited", 1,
                   encode_event_payload(Event{WalletDeposited{OwnerId{"w"}, Currency{"EUR"},
                                                              AmountMinor{kMaxAmountMinor}, "r"}}));
  REQUIRE(deposited.ok());
  CHECK(std::get<WalletDeposited>(deposited.value()).amount_minor.value() == kMaxAmountMinor);
}

TEST_CASE("the writer's direct payload bytes are the canonical bytes of the Json payload") {
  // The hot path serialises payloads without a tree; it must agree byte for byte with the
  // tree (the hash covers these bytes), for every event type and awkward string.
  for (const Event& e : every_event()) {
    CAPTURE(event_type(e));
    std::string direct;
    write_event_payload(e, direct);
    CHECK(direct == to_canonical(encode_event_payload(e)));
  }
  // An envelope sealed from direct bytes hashes and encodes as one sealed from the tree.
  Envelope tree = sample_envelope();
  Envelope bytes = tree;
  bytes.payload = Json();
  bytes.payload_bytes = to_canonical(tree.payload);
  seal(bytes, kGenesisHash);
  CHECK(bytes.hash == tree.hash);
  CHECK(encode_envelope(bytes) == encode_envelope(tree));
  CHECK(bytes == tree);
  auto decoded = decode_envelope(encode_envelope(bytes));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == bytes);
  bytes.payload_bytes = R"({"order_id":"o2","reason":"too \"slow\"\n"})";
  CHECK_FALSE(bytes == tree);
}

TEST_CASE("peek_event_type reads the type off a canonical envelope's end, or declines") {
  const Envelope e = sample_envelope();
  CHECK(peek_event_type(encode_envelope(e)) == std::optional<std::string_view>("OrderCancelled"));
  CHECK(peek_event_type(hashed_bytes(e)) == std::optional<std::string_view>("OrderCancelled"));
  for (std::string_view bad :
       {"", "{}", R"({"type":"X"})", R"({"a":1,"type":"X" })", R"({"a":1,"type":""})",
        R"({"a":1,"type":"X\"Y"})", R"({"a":1,"kind":"X"})", R"(,"type":"X"})"})
    CHECK_MESSAGE(!peek_event_type(bad).has_value(), bad);
  CHECK(peek_event_type(R"({"a":1,"type":"X"})") == std::optional<std::string_view>("X"));
}

TEST_CASE("the writer's direct payload bytes are the canonical form of every event's payload") {
  // write_event_payload (the hot path, no Json tree; priced lines written by hand) must spell
  // exactly what to_canonical makes of the tree: the hash covers these bytes.
  for (const Event& e : every_event()) {
    CAPTURE(event_type(e));
    std::string direct;
    write_event_payload(e, direct);
    CHECK(direct == to_canonical(encode_event_payload(e)));
    CHECK(canonical_of(direct) == direct);
  }
  OrderPlaced many = std::get<OrderPlaced>(every_event()[2]);
  many.lines.clear();
  for (int i = 0; i < 5; ++i)
    many.lines.push_back(PricedLine{Sku{"s\"" + std::to_string(i)}, Quantity{i + 1},
                                    AmountMinor{int64_t{1} << (10 * i)}});
  std::string direct;
  write_event_payload(many, direct);
  CHECK(direct == to_canonical(encode_event_payload(many)));
  std::string none;
  many.lines.clear();
  write_event_payload(many, none);
  CHECK(none == to_canonical(encode_event_payload(many)));
}

TEST_CASE("CanonicalObject sorts members by their bytes and writes integers exactly") {
  CanonicalObject o;
  o.num("b", std::numeric_limits<int64_t>::min());
  o.str("a", "x\"y");
  o.boolean("B", true);
  o.num("c", 0);
  o.raw("aa", "[1,2]");
  o.num("d", std::numeric_limits<int64_t>::max());
  std::string out;
  o.write_to(out);
  CHECK(
      out ==
      R"({"B":true,"a":"x\"y","aa":[1,2],"b":-9223372036854775808,"c":0,"d":9223372036854775807})");
  CHECK(canonical_of(out) == out);
  std::string n;
  write_int(-42, n);
  write_int(7, n);
  CHECK(n == "-427");
}

TEST_CASE("decode_event refuses what it does not know") {
  const Event e = OrderCancelled{OrderId{"o1"}, "why"};
  const Json payload = encode_event_payload(e);
  CHECK(decode_event("OrderCancelled", 1, payload).ok());
  CHECK_FALSE(decode_event("PriceChanged", 1, payload).ok());
  CHECK_FALSE(decode_event("", 1, payload).ok());
  CHECK_FALSE(decode_event("orderCancelled", 1, payload).ok());
  CHECK_FALSE(decode_event("OrderCancelled", 2, payload).ok());
  CHECK_FALSE(decode_event("OrderCancelled", 0, payload).ok());
  CHECK_FALSE(decode_event("OrderCancelled", -1, payload).ok());
  CHECK_FALSE(decode_event("OrderCancelled", 1, Json("o1")).ok());
  CHECK_FALSE(decode_event("OrderCancelled", 1, Json(Json::Object{{"order_id", Json("o1")}})).ok());
  CHECK_FALSE(decode_event("OrderCancelled", 1,
                           Json(Json::Object{{"order_id", Json(1)}, {"reason", Json("why")}}))
                  .ok());

  Json placed = encode_event_payload(every_event()[2]);
  Json bad_line = placed;
  bad_line.as_object()["lines"].as_array()[0].as_object().erase("qty");
  CHECK_FALSE(decode_event("OrderPlaced", 1, bad_line).ok());
  Json bad_lines = placed;
  bad_lines.as_object()["lines"] = Json("none");
  CHECK_FALSE(decode_event("OrderPlaced", 1, bad_lines).ok());
  Json line_not_object = placed;
  line_not_object.as_object()["lines"].as_array()[0] = Json(3);
  CHECK_FALSE(decode_event("OrderPlaced", 1, line_not_object).ok());
}

// ---------------------------------------------------------------- in-place reading (verify)
namespace {

Envelope sealed_envelope_of(const Event& ev, uint32_t partition, int64_t offset) {
  Envelope e;
  e.partition = PartitionId{partition};
  e.offset = Offset{offset};
  e.stream = event_stream(ev);
  e.stream_version = 7;
  e.type = std::string(event_type(ev));
  e.schema_version = current_schema_version(e.type);
  e.occurred_at = TimestampMs{-5};  // negative numbers are spelt canonically too
  e.command_id = "cmd-1";
  e.correlation_id = "corr-1";
  e.causation_id = "";
  e.actor = Actor{"user-7", "buyer"};
  e.payload = encode_event_payload(ev);
  seal(e, std::string(64, 'c'));
  return e;
}

}  // namespace

TEST_CASE("a canonical envelope is read in place with the values it was sealed with") {
  int64_t offset = 0;
  for (const Event& ev : every_event()) {
    const Envelope e = sealed_envelope_of(ev, 3, offset++);
    const std::string line = encode_envelope(e);
    CAPTURE(line);
    auto v = view_canonical_envelope(line);
    REQUIRE(v.has_value());
    CHECK(v->partition == 3);
    CHECK(v->offset == e.offset.value());
    CHECK(v->stream == e.stream);
    CHECK(v->stream_version == e.stream_version);
    CHECK(v->type == e.type);
    CHECK(v->schema_version == e.schema_version);
    CHECK(v->occurred_at == e.occurred_at.value());
    CHECK(v->command_id == e.command_id);
    CHECK(v->correlation_id == e.correlation_id);
    CHECK(v->causation_id == e.causation_id);
    CHECK(v->actor_sub == e.actor.sub);
    CHECK(v->actor_role == e.actor.role);
    CHECK(v->prev_hash == e.prev_hash);
    CHECK(v->hash == e.hash);
    CHECK(v->payload == to_canonical(e.payload));
    CHECK(std::string(v->hashed[0]) + std::string(v->hashed[1]) + std::string(v->hashed[2]) ==
          hashed_bytes(e));
    CHECK(hash_matches(*v));

    // The payload decodes from its canonical text in place as it does from the tree; text
    // with an escaped string is left to the full decode.
    auto from_tree = decode_event(e.type, e.schema_version, e.payload);
    REQUIRE(from_tree.ok());
    Event from_text;
    const bool escaped = v->payload.find('\\') != std::string_view::npos;
    REQUIRE(decode_canonical_payload(e.type, e.schema_version, v->payload, from_text) == !escaped);
    if (!escaped)
      CHECK(to_canonical(encode_event_payload(from_text)) ==
            to_canonical(encode_event_payload(from_tree.value())));
  }
}

TEST_CASE("any changed byte of a canonical envelope fails the in-place hash check or the view") {
  const Envelope e = sealed_envelope_of(every_event()[2], 0, 12);
  const std::string line = encode_envelope(e);
  const size_t offset_at = line.find("\"offset\":12");
  REQUIRE(offset_at != std::string::npos);
  for (size_t i = 0; i < line.size(); ++i) {
    std::string bad = line;
    bad[i] = bad[i] == 'x' ? 'y' : 'x';
    auto v = view_canonical_envelope(bad);
    // The offset's digits are not hashed (the chain orders events); everything else is.
    if (i >= offset_at + 9 && i < offset_at + 11) continue;
    CHECK_MESSAGE(!(v && hash_matches(*v)), "byte ", i, " changed and still matched");
  }
  const std::string moved_line = std::string(line).replace(offset_at, 11, "\"offset\":13");
  auto moved = view_canonical_envelope(moved_line);  // views into moved_line
  REQUIRE(moved.has_value());
  CHECK(moved->offset == 13);
  CHECK(hash_matches(*moved));
}

TEST_CASE("the in-place view declines every spelling but the canonical one") {
  const Envelope e = sealed_envelope_of(every_event()[3], 1, 5);
  const std::string line = encode_envelope(e);
  REQUIRE(view_canonical_envelope(line).has_value());
  const std::vector<std::string> others = {
      " " + line,
      line + " ",
      line + "\n",
      std::string(line).insert(1, " "),
      std::string(line).replace(line.find("\"offset\":5"), 10, "\"offset\":05"),
      std::string(line).replace(line.find("\"offset\":5"), 10, "\"offset\":5.0"),
      std::string(line).replace(line.find("\"command_id\":\"cmd-1\""), 20,
                                "\"command_id\":\"cmd\\u002d1\""),
      std::string(line).replace(line.find("\"hash\":\"") + 8, 1, ""),         // a short hash
      std::string(line).replace(line.find("\"prev_hash\":\"") + 13, 0, "c"),  // a long prev_hash
      line.substr(0, line.size() - 1),
      "{}",
      "",
      // A raw control byte or a byte that is not UTF-8 in an envelope string: the canonical
      // writer escapes the one and decode_envelope refuses the other.
      std::string(line).replace(line.find("\"cmd-1\""), 7,
                                "\"cmd\x01"
                                "1\""),
      std::string(line).replace(line.find("\"cmd-1\""), 7,
                                "\"cmd\xff"
                                "1\""),
  };
  for (const auto& t : others) CHECK_MESSAGE(!view_canonical_envelope(t).has_value(), t);
  // Keys out of order are not canonical either (decode_envelope still reads them).
  Json reordered = parse_json(line).value();
  std::string spelled = "{\"type\":" + to_canonical(*reordered.find("type"));
  for (const auto& [k, v] : reordered.as_object())
    if (k != "type") spelled += ",\"" + k + "\":" + to_canonical(v);
  spelled += "}";
  CHECK(!view_canonical_envelope(spelled).has_value());
  REQUIRE(decode_envelope(spelled).ok());
  CHECK(decode_envelope(spelled).value() == e);
}
