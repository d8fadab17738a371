#pragma once
// Where replay reads events from. Every source yields envelopes in offset order within each
// partition, one at a time, so export, verify, state-at and stats run in constant memory
// whatever the size of the log. Sources:
//   - LogSource: any EventLog (the embedded RocksDB log today; a Kafka log implements the
//     same EventLog interface, so a Kafka source is a LogSource over it);
//   - DataDirSource: opens a stopped engine's data directory and reads its RocksDB log;
//   - FileSource: a JSON Lines export (one canonical envelope per line).
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/log/envelope.hpp"
#include "engine/log/event_log.hpp"
#include "engine/log/result.hpp"

namespace ordo {
class RocksDb;
}

namespace ordo::replay {

// An allocator that leaves new elements default-initialised: a batch's bytes grow by a block
// before the file is read into it, and zeroing 2 MiB that the read overwrites at once cost
// the reader thread more than the read (a tenth of a verify from a file, under perf).
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};
using Bytes = std::vector<char, DefaultInitAllocator<char>>;

// Stored lines in source order, undecoded, for verify, which checks the bytes themselves (on
// worker threads: a batch is self-contained). Each line is a view into `bytes`. A file hands
// a whole block of complete lines instead (`block`, `lines` empty): splitting it is left to
// the worker, and its line numbers count from 1 within the block.
struct LineBatch {
  struct Line {
    size_t begin = 0, size = 0;
    int64_t stored_partition = -1;  // where a log stored it (-1: a file, which has no position)
    int64_t stored_offset = -1;
    int64_t line_no = 0;  // in a file, from 1 (0: not a file)
  };
  Bytes bytes;
  std::vector<Line> lines;
  std::string origin;  // the file's path, for messages
  bool block = false;
  std::string_view text(const Line& l) const {
    return std::string_view(bytes.data(), bytes.size()).substr(l.begin, l.size);
  }
  void clear() {
    bytes.clear();
    lines.clear();
    block = false;
  }
  // Splits a block into `lines` (blank lines are skipped but counted); returns how many
  // lines the block holds, blank ones included.
  int64_t split_block();
  void add(std::string_view text, Line l) {
    l.begin = bytes.size();
    l.size = text.size();
    bytes.insert(bytes.end(), text.begin(), text.end());
    lines.push_back(l);
  }
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Reads the next event into `out`; false at the end of the source.
  virtual Result<bool> next(Envelope& out) = 0;
  // The end each partition's log records for itself (offset and hash of its last event), when
  // the source has such a record: a log does, a file does not. Lets verify see a truncated
  // tail that the chain alone cannot show.
  virtual std::vector<std::pair<PartitionId, LogTail>> recorded_tails() const { return {}; }
  // Appends up to `max` of the next events to `out` as stored lines; false when there were
  // none left. Not to be mixed with next() on one source. The default re-encodes next()'s
  // envelopes; sources that hold lines hand them over as they are.
  virtual Result<bool> next_lines(LineBatch& out, size_t max);
  // The log behind the source, when there is one (a data directory, Kafka; not a file).
  virtual EventLog* log() { return nullptr; }
};

// Narrows what a source reads when it can do so cheaply (a log seeks; a file cannot).
struct SourceRange {
  std::optional<uint32_t> partition;
  int64_t from_offset = 0;
};

// Reads partitions of an EventLog one after the other, in chunks of `chunk` events. The end
// of each partition is fixed when the source is made (its tail then), so a log that is being
// written to is read up to a consistent point. A log nobody writes (a stopped engine's data
// directory: `to_the_end`) is read to its last event instead, so that events its tail record
// does not account for are seen (verify fails on them, as the engine refuses to start).
class LogSource final : public EventSource {
 public:
  explicit LogSource(EventLog& log, SourceRange range = {}, size_t chunk = 4096,
                     bool to_the_end = false);
  Result<bool> next(Envelope& out) override;
  std::vector<std::pair<PartitionId, LogTail>> recorded_tails() const override { return tails_; }
  Result<bool> next_lines(LineBatch& out, size_t max) override;

 private:
  EventLog& log_;
  size_t chunk_;
  bool to_the_end_;
  int64_t from_offset_;                                 // where each partition's read starts
  std::vector<std::pair<PartitionId, LogTail>> tails_;  // the partitions to read, in order
  std::optional<Error> open_error_;
  std::optional<Error> read_error_;  // next_lines: after the lines read before it
  size_t part_ = 0;                  // index into tails_
  int64_t next_offset_ = 0;
  std::vector<Envelope> buf_;
  size_t pos_ = 0;
};

// A stopped engine's data directory (`DIR/rocksdb`), opened with the partition count the
// directory records. Fails when the directory holds no Ordo log or the engine still runs
// (RocksDB's lock).
class DataDirSource final : public EventSource {
 public:
  static Result<std::unique_ptr<DataDirSource>> open(const std::string& data_dir,
                                                     SourceRange range = {});
  ~DataDirSource() override;
  Result<bool> next(Envelope& out) override { return source_->next(out); }
  std::vector<std::pair<PartitionId, LogTail>> recorded_tails() const override {
    return source_->recorded_tails();
  }
  Result<bool> next_lines(LineBatch& out, size_t max) override {
    return source_->next_lines(out, max);
  }
  EventLog* log() override { return log_.get(); }

 private:
  DataDirSource() = default;
  std::unique_ptr<RocksDb> db_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<LogSource> source_;
};

// The Kafka log (topic `topic`, `partitions` partitions), read as a read_committed consumer
// that writes nothing and fences nobody. Each broker interaction is bounded by `timeout_ms`.
class KafkaSource final : public EventSource {
 public:
  static Result<std::unique_ptr<KafkaSource>> open(const std::string& brokers,
                                                   const std::string& topic,
                                                   std::optional<uint32_t> partitions,
                                                   SourceRange range = {}, int timeout_ms = 10'000);
  ~KafkaSource() override;
  Result<bool> next(Envelope& out) override { return source_->next(out); }
  std::vector<std::pair<PartitionId, LogTail>> recorded_tails() const override {
    return source_->recorded_tails();
  }
  Result<bool> next_lines(LineBatch& out, size_t max) override {
    return source_->next_lines(out, max);
  }
  EventLog* log() override { return log_.get(); }

 private:
  KafkaSource() = default;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<LogSource> source_;
};

// A JSON Lines export. Reads in fixed-size chunks; a line longer than kMaxLineBytes is an
// error rather than unbounded memory.
class FileSource final : public EventSource {
 public:
  static constexpr size_t kChunkBytes = 1 << 20;
  static constexpr size_t kMaxLineBytes = 16 << 20;
  static Result<std::unique_ptr<FileSource>> open(const std::string& path);
  ~FileSource() override;
  Result<bool> next(Envelope& out) override;
  Result<bool> next_lines(LineBatch& out, size_t max) override;
  // The raw bytes of the line last returned (without the newline).
  std::string_view last_line() const { return line_; }
  // Next raw line without decoding it; false at the end.
  Result<bool> next_line(std::string_view& line);

 private:
  FileSource(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  std::FILE* f_;
  std::string path_;
  std::string buf_;
  size_t begin_ = 0;  // start of unread bytes in buf_
  bool eof_ = false;
  int64_t line_no_ = 0;
  std::string_view line_;
};

}  // namespace ordo::replay
