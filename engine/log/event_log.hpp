#pragma once
// The event log seam. Two backends implement it: embedded RocksDB (default) and Kafka.
// Offsets are assigned by the backend on append; a batch is appended atomically or not at
// all; readers read from an offset. Nothing above this interface knows which backend runs.
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/log/envelope.hpp"
#include "engine/log/position.hpp"
#include "engine/log/result.hpp"
#include "engine/log/state_delta.hpp"

namespace ordo {

struct LogTail {
  Offset last_offset{-1};                // -1 when the partition is empty
  std::string last_hash = kGenesisHash;  // the hash the next event chains to
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  virtual uint32_t partition_count() const = 0;

  // The last event's offset and hash of a partition, as recovered on open.
  virtual Result<LogTail> tail(PartitionId p) = 0;

  // The tail as the log last knew it, without waiting on a writer or a broker: for request
  // threads (readiness, metrics, positions), which must not stall behind them. An error while
  // the partition's end is unknown. A backend whose tail() never waits needs no override.
  virtual Result<LogTail> known_tail(PartitionId p) { return tail(p); }

  // Builds the state writes of a batch once its offsets are known (idempotency records and
  // the applied position name offsets).
  using DeltaBuilder = std::function<void(std::span<const Envelope>, StateDelta&)>;

  // Appends `events` (already sealed into the hash chain) durably and atomically, writes the
  // assigned offsets into `events`, and makes the state writes of `build_delta` durable with
  // them. When this returns an error, none of the events is visible to readers.
  virtual Status append(PartitionId p, std::span<Envelope> events,
                        const DeltaBuilder& build_delta) = 0;

  // Up to `max` events of partition `p` with offset >= `from`, in offset order.
  virtual Result<std::vector<Envelope>> read(PartitionId p, Offset from, size_t max) = 0;

  // Like read(), but returns only the events whose type `want` accepts, and sets `scanned`
  // to the last offset looked at (-1 when none). A backend may skip decoding the others.
  using TypeFilter = std::function<bool(std::string_view type)>;
  virtual Result<std::vector<Envelope>> read_types(PartitionId p, Offset from, size_t max,
                                                   const TypeFilter& want, Offset& scanned) {
    auto all = read(p, from, max);
    if (!all) return all;
    scanned = all->empty() ? Offset{-1} : all->back().offset;
    std::vector<Envelope> out;
    for (auto& e : all.value())
      if (want(e.type)) out.push_back(std::move(e));
    return out;
  }

  // The stored bytes of up to `max` events of partition `p` with offset >= `from`, in offset
  // order, each handed to `sink` undecoded with the offset it is stored under (for readers
  // that check the bytes themselves: verify). Returns how many were handed. The default
  // re-encodes what read() decodes; a backend that stores canonical lines hands them as they are.
  using RawSink = std::function<void(Offset stored_at, std::string_view bytes)>;
  virtual Result<size_t> read_raw(PartitionId p, Offset from, size_t max, const RawSink& sink) {
    auto all = read(p, from, max);
    if (!all) return all.error();
    for (const auto& e : all.value()) sink(e.offset, encode_envelope(e));
    return all->size();
  }

  // Up to `max` events of one stream with stream_version >= `from_version`.
  virtual Result<std::vector<Envelope>> read_stream(std::string_view stream, int64_t from_version,
                                                    size_t max) = 0;
};

}  // namespace ordo
