#include "replay/verifier.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "engine/domain/assert.hpp"
#include "engine/domain/decide.hpp"
#include "engine/log/event_codec.hpp"
#include "replay/check_pipeline.hpp"
#include "replay/preconditions.hpp"

namespace ordo::replay {

bool VerifyReport::ok() const {
  if (source_error) return false;
  for (const auto& p : partitions)
    if (!p.ok) return false;
  return true;
}

int64_t VerifyReport::events() const {
  int64_t n = 0;
  for (const auto& p : partitions) n += p.events;
  return n;
}

std::string VerifyReport::first_failure() const {
  for (const auto& p : partitions)
    if (!p.ok)
      return fmt::format("partition {} offset {}: {}", p.partition.value(), p.bad_offset.value(),
                         p.reason);
  if (source_error) return *source_error;
  return {};
}

Json to_json(const VerifyReport& r) {
  Json::Array parts;
  for (const auto& p : r.partitions) {
    Json::Object o{{"partition", Json(int64_t(p.partition.value()))},
                   {"ok", Json(p.ok)},
                   {"events", Json(p.events)},
                   {"last_offset", Json(p.last_offset.value())},
                   {"last_hash", Json(p.last_hash)}};
    if (!p.ok) {
      o.emplace("bad_offset", Json(p.bad_offset.value()));
      o.emplace("reason", Json(p.reason));
    }
    parts.push_back(Json(std::move(o)));
  }
  Json::Object out{
      {"ok", Json(r.ok())}, {"events", Json(r.events())}, {"partitions", Json(std::move(parts))}};
  if (r.source_error) out.emplace("error", Json(*r.source_error));
  if (!r.ok()) out.emplace("first_failure", Json(r.first_failure()));
  return Json(std::move(out));
}

Verifier::Part& Verifier::part(PartitionId p) {
  auto [it, inserted] = parts_.try_emplace(p.value());
  if (inserted) it->second.verdict.partition = p;
  return it->second;
}

bool Verifier::accepts(PartitionId p) const {
  auto it = parts_.find(p.value());
  return it == parts_.end() || (it->second.verdict.ok && !it->second.closed);
}

void Verifier::fail(Part& pt, Offset at, std::string why) {
  pt.verdict.ok = false;
  pt.verdict.bad_offset = at;
  pt.verdict.reason = std::move(why);
}

int64_t Verifier::Part::held_by_orders(const Product* p) const {
  auto it = reserved_by_orders.find(p);
  return it == reserved_by_orders.end() ? 0 : it->second;
}

bool Verifier::end_command(Part& pt) {
  std::string why;
  for (const Product* p : pt.touched) {
    if (!check_product_invariant(*p, pt.held_by_orders(p), &why)) {
      fail(pt, pt.command_last, fmt::format("after command {}: {}", pt.command_id, why));
      return false;
    }
  }
  pt.touched.clear();
  pt.touched_compact_at = kTouchedCompactAt;
  return true;
}

bool Verifier::end_log(Part& pt) {
  if (!end_command(pt)) return false;
  // What end_command checks for the products of each command, here for all of them: with
  // reserved_by_orders kept from order statuses event by event, this is check_invariants
  // without its sum over every order (most of a long fold's end).
  std::string why;
  for (const auto& [sku, p] : pt.state.products)
    if (!check_product_invariant(p, pt.held_by_orders(&p), &why)) break;
  if (why.empty()) check_ledger_invariants(pt.state, &why);
  if (why.empty()) return true;
  fail(pt, pt.verdict.last_offset, "invariant broken: " + why);
  return false;
}

namespace {

int64_t version_after(const PartitionState& s, const Event& ev) {
  // The preconditions held, so the event's aggregate exists after apply.
  return stream_version_after(s, ev);
}

}  // namespace

void Verifier::add(const EventFacts& e, const Result<Event>& ev) {
  Part& pt = part(e.partition);
  if (!pt.verdict.ok || pt.closed) return;
  PartitionVerdict& v = pt.verdict;

  // The chain first: an event whose own hash fails says nothing trustworthy about anything.
  if (e.offset.value() <= v.last_offset.value())
    return fail(
        pt, e.offset,
        fmt::format("offset {} does not come after offset {}: events are out of order or repeated",
                    e.offset.value(), v.last_offset.value()));
  if (e.prev_hash != v.last_hash) {
    if (v.events == 0)
      return fail(
          pt, e.offset,
          "the first event does not chain to genesis: the partition's first events are missing "
          "(a filtered or partial export cannot be verified; verify needs whole partitions)");
    return fail(
        pt, e.offset,
        fmt::format(
            "prev_hash does not match the hash of the event before it (offset {}): an event "
            "is missing, reordered or altered here",
            v.last_offset.value()));
  }
  if (!e.hash_ok)
    return fail(pt, e.offset, "hash does not match the event's content: the event was altered");

  if (e.command_id != pt.command_id) {
    if (!end_command(pt)) return;
    pt.command_id = e.command_id;
  }

  if (!ev) return fail(pt, e.offset, "payload does not decode: " + ev.error().message);
  if (!e.stream_ok)
    return fail(pt, e.offset,
                fmt::format("stream {} is not the stream of its payload ({})", e.stream,
                            event_stream(ev.value())));
  if (auto why = precondition_violation(pt.state, ev.value()))
    return fail(pt, e.offset, std::move(*why));
  // The order the event names, and whether it held its stock reserved before the event
  // (orders are never removed and unordered_map keeps its elements where they are, so the
  // pointer stays good across apply).
  const Order* order = nullptr;
  std::visit(
      [&](const auto& x) {
        if constexpr (requires { x.order_id; }) order = pt.state.find_order(x.order_id);
      },
      ev.value());
  const bool held_before = order && holds_reservation(order->status);
  apply(pt.state, ev.value(), e.occurred_at);
  if (int64_t want = version_after(pt.state, ev.value()); want != e.stream_version)
    return fail(pt, e.offset,
                fmt::format("stream_version {} but this is event {} of stream {}", e.stream_version,
                            want, e.stream));

  // Bookkeeping for the between-commands invariant: reserved == lines of the orders that
  // hold a reservation, kept from order statuses (as check_invariants sums them), whatever
  // event moved one. Products are never removed either, so a product's address names it
  // for the whole fold (cheaper to hash than its SKU).
  auto touch = [&](const Sku& sku, int64_t reserved_delta) {
    const Product* p = pt.state.find_product(sku);
    if (!p) return;  // the preconditions make this unreachable; nothing to check then
    if (reserved_delta != 0) pt.reserved_by_orders[p] += reserved_delta;
    // A repeat is checked again at the command's end, harmlessly; a command touches few
    // products, but the log is not trusted, so the list is kept to its distinct products.
    if (!pt.touched.empty() && pt.touched.back() == p) return;
    pt.touched.push_back(p);
    if (pt.touched.size() >= pt.touched_compact_at) {
      std::sort(pt.touched.begin(), pt.touched.end());
      pt.touched.erase(std::unique(pt.touched.begin(), pt.touched.end()), pt.touched.end());
      // Twice what is left: a command with many distinct products is compacted a logarithmic
      // number of times, not once per product.
      pt.touched_compact_at = std::max(kTouchedCompactAt, 2 * pt.touched.size());
    }
  };
  std::visit(
      [&](const auto& x) {
        if constexpr (requires { x.sku; }) touch(x.sku, 0);
        if constexpr (requires { x.order_id; }) {
          if (!order) order = pt.state.find_order(x.order_id);  // placed by this event
          const bool held_after = order && holds_reservation(order->status);
          if (held_after != held_before)
            for (const auto& l : order->lines)
              touch(l.sku, held_after ? l.qty.value() : -l.qty.value());
        }
      },
      ev.value());
  pt.command_last = e.offset;
  ++v.events;
  v.last_offset = e.offset;
  v.last_hash = e.hash;
}

VerifyReport Verifier::finish(const std::vector<std::pair<PartitionId, LogTail>>& recorded_tails) {
  for (const auto& [p, tail] : recorded_tails) {
    Part& pt = part(p);
    if (!pt.verdict.ok || pt.closed) continue;
    if (pt.verdict.last_offset != tail.last_offset || pt.verdict.last_hash != tail.last_hash)
      fail(pt, Offset{std::min(pt.verdict.last_offset, tail.last_offset).value() + 1},
           fmt::format("the log ends at offset {} but its tail record says offset {}: {}",
                       pt.verdict.last_offset.value(), tail.last_offset.value(),
                       pt.verdict.last_offset.value() > tail.last_offset.value()
                           ? "events were added after the recorded end"
                           : "events are missing at the end"));
  }
  VerifyReport report;
  for (auto& [id, pt] : parts_) {
    if (pt.verdict.ok && !pt.closed) end_log(pt);
    report.partitions.push_back(pt.verdict);
  }
  return report;
}

const PartitionState* Verifier::state(PartitionId p) const {
  auto it = parts_.find(p.value());
  return it == parts_.end() ? nullptr : &it->second.state;
}

std::vector<PartitionId> Verifier::partitions() const {
  std::vector<PartitionId> out;
  for (const auto& [id, pt] : parts_) out.push_back(PartitionId{id});
  return out;
}

std::optional<std::string> for_each_checked(EventSource& source, const VerifyOptions& options,
                                            const Progress& progress,
                                            const std::function<void(const CheckedLine&)>& each) {
  ORDO_ASSERT(options.batch_lines > 0, "a read needs batches of at least one line");
  int64_t n = 0;
  std::optional<std::string> source_error;
  std::optional<std::pair<uint32_t, int64_t>> last_read;  // partition and offset, for messages
  int64_t file_lines = 0;  // lines of a file's blocks handed on so far, for messages
  // Hands on one checked batch; false when the source cannot be read past it.
  auto fold = [&](const CheckedBatch& b) {
    for (const CheckedLine& c : b.events) {
      each(c);
      if (++n % kProgressEvery == 0 && progress) progress(n);
    }
    if (!b.events.empty())
      last_read.emplace(b.events.back().facts.partition.value(),
                        b.events.back().facts.offset.value());
    if (b.error)
      source_error = b.error_line > 0 ? fmt::format("{} line {}: {}", b.batch.origin,
                                                    file_lines + b.error_line, *b.error)
                                      : *b.error;
    file_lines += b.block_lines;
    return !b.error;
  };
  // Fills `b` from the source; false at its end or on its error. Runs on the pipeline's
  // reader thread, the only one touching the source and `read_error` until it is joined.
  std::optional<std::string> read_error;
  auto fill = [&](LineBatch& b) {
    auto r = source.next_lines(b, options.batch_lines);
    if (!r) read_error = r.error().message;
    return r && r.value();
  };
  if (options.check_threads <= 0) {
    CheckedBatch b;
    while (fill(b.batch)) {
      check_lines(b);
      if (!fold(b)) break;
      b.batch.clear();
    }
  } else {
    // Two batches per worker in flight, one being filled, one being folded.
    CheckPipeline pipe([&](LineBatch& b) { return fill(b); }, options.check_threads,
                       2 * static_cast<size_t>(options.check_threads) + 2, options.worker_nice);
    while (CheckedBatch* b = pipe.take()) {
      const bool go_on = fold(*b);
      pipe.release();
      if (!go_on) break;
    }
  }
  // A bad line ends the read before anything the reader met after it.
  if (!source_error) source_error = std::move(read_error);
  if (source_error && last_read)
    *source_error +=
        fmt::format(" (after partition {} offset {})", last_read->first, last_read->second);
  return source_error;
}

VerifyReport verify(EventSource& source, const Progress& progress, const VerifyOptions& options) {
  Verifier v;
  std::optional<std::string> source_error = for_each_checked(
      source, options, progress, [&](const CheckedLine& c) { v.add(c.facts, c.event); });
  VerifyReport report = v.finish(source_error ? std::vector<std::pair<PartitionId, LogTail>>{}
                                              : source.recorded_tails());
  report.source_error = std::move(source_error);
  return report;
}

}  // namespace ordo::replay
