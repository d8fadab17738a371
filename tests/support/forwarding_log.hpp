#pragma once
// A test's log with faults in front of a real one: every call goes to the inner log unless
// the wrapper overrides it (usually append or tail).
#include "engine/log/event_log.hpp"

namespace ordo::test {

class ForwardingLog : public EventLog {
 public:
  explicit ForwardingLog(EventLog& inner) : inner_(inner) {}

  uint32_t partition_count() const override { return inner_.partition_count(); }
  Result<LogTail> tail(PartitionId p) override { return inner_.tail(p); }
  Status append(PartitionId p, std::span<Envelope> events, const DeltaBuilder& b) override {
    return inner_.append(p, events, b);
  }
  Result<std::vector<Envelope>> read(PartitionId p, Offset from, size_t max) override {
    return inner_.read(p, from, max);
  }
  Result<std::vector<Envelope>> read_stream(std::string_view s, int64_t v, size_t max) override {
    return inner_.read_stream(s, v, max);
  }

 protected:
  EventLog& inner_;
};

}  // namespace ordo::test
