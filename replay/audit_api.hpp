#pragma once
// The auditor's HTTP answers, computed here so api/ only parses the request and sends the
// body (no HTTP types in replay/, no log logic in api/).
#include <atomic>
#include <optional>
#include <string>

#include "engine/log/event_log.hpp"
#include "engine/log/result.hpp"

namespace ordo::replay {

struct EventsPage {
  uint32_t partition = 0;
  int64_t after = -1;  // exclusive: the page starts after this offset
  size_t limit = 100;
  std::optional<std::string> type;
};

// A type filter may skip many events: one page scans at most this many before answering
// with what it found and a cursor to continue from.
inline constexpr size_t kMaxEventsScanned = 10'000;
inline constexpr size_t kMaxEventsPage = 1000;

// {"events":[envelope…],"partition":P,"next_after":N,"more":bool}: `next_after` is the last
// offset looked at (pass it as `after` for the next page); `more` is false once the page
// reached the partition's tail.
Result<std::string> events_page_json(EventLog& log, const EventsPage& page);

// The verify report of the whole log as of now, as JSON (see to_json(VerifyReport)).
struct VerifyAnswer {
  std::string json;
  // `stop` became true before the read reached the end (a stopping server does not wait out
  // a long verify): `json` is then a partial report and no verdict on the log.
  bool cut_short = false;
};
VerifyAnswer audit_verify_json(EventLog& log, const std::atomic<bool>* stop = nullptr);

}  // namespace ordo::replay
