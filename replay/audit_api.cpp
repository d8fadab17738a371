#include "replay/audit_api.hpp"

#include <fmt/core.h>

#include "replay/event_source.hpp"
#include "replay/verifier.hpp"

namespace ordo::replay {

Result<std::string> events_page_json(EventLog& log, const EventsPage& page) {
  if (page.partition >= log.partition_count())
    return Error{fmt::format("partition {} does not exist (the log has {})", page.partition,
                             log.partition_count())};
  auto tail = log.tail(PartitionId{page.partition});
  if (!tail) return tail.error();
  std::string body = "{\"events\":[";
  size_t found = 0, scanned = 0;
  int64_t cursor = page.after;
  bool first = true;
  while (found < page.limit && scanned < kMaxEventsScanned && cursor < tail->last_offset.value()) {
    auto batch = log.read(
        PartitionId{page.partition}, Offset{cursor + 1},
        std::min(kMaxEventsScanned - scanned, page.type ? size_t{1000} : page.limit - found));
    if (!batch) return batch.error();
    if (batch->empty()) break;
    for (const Envelope& e : batch.value()) {
      if (e.offset.value() > tail->last_offset.value() || found >= page.limit) break;
      cursor = e.offset.value();
      ++scanned;
      if (page.type && e.type != *page.type) continue;
      if (!first) body.push_back(',');
      first = false;
      body += encode_envelope(e);
      ++found;
    }
  }
  body +=
      fmt::format("],\"more\":{},\"next_after\":{},\"partition\":{}}}",
                  cursor < tail->last_offset.value() ? "true" : "false", cursor, page.partition);
  return body;
}

namespace {

// A source that stops handing over events once `stop` is set.
class StoppableSource final : public EventSource {
 public:
  StoppableSource(EventSource& inner, const std::atomic<bool>& stop) : inner_(inner), stop_(stop) {}
  Result<bool> next(Envelope& out) override {
    if (stop_.load()) return cut();
    return inner_.next(out);
  }
  Result<bool> next_lines(LineBatch& out, size_t max) override {
    if (stop_.load()) return cut();
    return inner_.next_lines(out, max);
  }
  std::vector<std::pair<PartitionId, LogTail>> recorded_tails() const override {
    return inner_.recorded_tails();
  }
  EventLog* log() override { return inner_.log(); }
  bool was_cut() const { return cut_; }

 private:
  Error cut() {
    cut_ = true;
    return Error{"the server is stopping"};
  }

  EventSource& inner_;
  const std::atomic<bool>& stop_;
  bool cut_ = false;
};

}  // namespace

VerifyAnswer audit_verify_json(EventLog& log, const std::atomic<bool>* stop) {
  LogSource source(log);
  if (!stop) return {to_canonical(to_json(verify(source))), false};
  StoppableSource stoppable(source, *stop);
  std::string json = to_canonical(to_json(verify(stoppable)));
  return {std::move(json), stoppable.was_cut()};
}

}  // namespace ordo::replay
