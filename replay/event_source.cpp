#include "replay/event_source.hpp"

#include "engine/log/kafka/kafka_log.hpp"

#include <fmt/core.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "engine/log/rocksdb/rocksdb_log.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo::replay {

Result<bool> EventSource::next_lines(LineBatch& out, size_t max) {
  Envelope e;
  size_t n = 0;
  for (; n < max; ++n) {
    auto r = next(e);
    if (!r) return r.error();
    if (!r.value()) break;
    out.add(encode_envelope(e),
            {.stored_partition = e.partition.value(), .stored_offset = e.offset.value()});
  }
  return n > 0;
}

// ---------------------------------------------------------------- LogSource

LogSource::LogSource(EventLog& log, SourceRange range, size_t chunk, bool to_the_end)
    : log_(log),
      chunk_(chunk),
      to_the_end_(to_the_end),
      from_offset_(range.from_offset),
      next_offset_(range.from_offset) {
  const uint32_t n = log.partition_count();
  for (uint32_t p = 0; p < n; ++p) {
    if (range.partition && *range.partition != p) continue;
    auto t = log.tail(PartitionId{p});
    if (!t) {
      open_error_ = t.error();
      return;
    }
    tails_.emplace_back(PartitionId{p}, t.value());
  }
  if (range.partition && *range.partition >= n)
    open_error_ =
        Error{fmt::format("partition {} does not exist (the log has {})", *range.partition, n)};
}

Result<bool> LogSource::next(Envelope& out) {
  if (open_error_) return *open_error_;
  while (pos_ >= buf_.size()) {
    if (part_ >= tails_.size()) return false;
    const auto& [p, tail] = tails_[part_];
    buf_.clear();
    pos_ = 0;
    if (to_the_end_ || next_offset_ <= tail.last_offset.value()) {
      auto r = log_.read(p, Offset{next_offset_}, chunk_);
      if (!r) return r.error();
      buf_ = std::move(r.value());
      // Events written after this source was made are not part of this read.
      while (!to_the_end_ && !buf_.empty() && buf_.back().offset.value() > tail.last_offset.value())
        buf_.pop_back();
    }
    if (buf_.empty()) {
      ++part_;
      next_offset_ = from_offset_;
      continue;
    }
    next_offset_ = buf_.back().offset.value() + 1;
  }
  out = std::move(buf_[pos_++]);
  return true;
}

Result<bool> LogSource::next_lines(LineBatch& out, size_t max) {
  if (open_error_) return *open_error_;
  if (read_error_) return *read_error_;
  size_t n = 0;
  while (n < max && part_ < tails_.size()) {
    const auto& [p, tail] = tails_[part_];
    size_t got = 0;
    if (to_the_end_ || next_offset_ <= tail.last_offset.value()) {
      auto r =
          log_.read_raw(p, Offset{next_offset_}, max - n, [&](Offset at, std::string_view bytes) {
            // Events written after this source was made are not part of this read.
            if (!to_the_end_ && at.value() > tail.last_offset.value()) return;
            out.add(bytes, {.stored_partition = p.value(), .stored_offset = at.value()});
            next_offset_ = at.value() + 1;
            ++got;
          });
      if (!r) {
        // What was read before the error is handed over first; the error comes next call.
        if (n + got == 0) return r.error();
        read_error_ = r.error();
        return true;
      }
    }
    if (got == 0) {
      ++part_;
      next_offset_ = from_offset_;
      continue;
    }
    n += got;
  }
  return n > 0;
}

// ---------------------------------------------------------------- DataDirSource

DataDirSource::~DataDirSource() {
  // The log's indexer thread uses the database: close the log first.
  source_.reset();
  log_.reset();
  db_.reset();
}

Result<std::unique_ptr<DataDirSource>> DataDirSource::open(const std::string& data_dir,
                                                           SourceRange range) {
  const std::string path = data_dir + "/rocksdb";
  if (!std::filesystem::exists(path + "/CURRENT"))
    return Error{fmt::format("{} holds no Ordo log (no {})", data_dir, path)};
  RocksDbOptions read_only;
  read_only.read_only = true;
  auto db = RocksDb::open(path, read_only);
  if (!db) return db.error();
  // The partition count is recorded in the meta column family on first open; opening the
  // log with another count is refused, so read it first.
  std::string stored;
  auto s =
      db.value()->db().Get(rocksdb::ReadOptions(), db.value()->cf(Cf::meta), "partitions", &stored);
  if (!s.ok())
    return Error{fmt::format("{}: no partition count recorded ({})", data_dir, s.ToString())};
  uint32_t partitions = 0;
  try {
    partitions = static_cast<uint32_t>(std::stoul(stored));
  } catch (...) {
    return Error{fmt::format("{}: corrupt partition count {}", data_dir, stored)};
  }
  auto log = RocksDbLog::open(*db.value(), partitions, /*read_only=*/true);
  if (!log) return log.error();
  std::unique_ptr<DataDirSource> out(new DataDirSource());
  out->db_ = std::move(db.value());
  out->log_ = std::move(log.value());
  out->source_ = std::make_unique<LogSource>(*out->log_, range, 4096, true);  // stopped: all
  return out;
}

// ---------------------------------------------------------------- FileSource

Result<std::unique_ptr<FileSource>> FileSource::open(const std::string& path) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) return Error{fmt::format("cannot open {}: {}", path, std::strerror(errno))};
  return std::unique_ptr<FileSource>(new FileSource(f, path));
}

FileSource::~FileSource() {
  if (f_ && f_ != stdin) std::fclose(f_);
}

Result<bool> FileSource::next_line(std::string_view& line) {
  for (;;) {
    const char* start = buf_.data() + begin_;
    const size_t avail = buf_.size() - begin_;
    const void* nl = avail ? std::memchr(start, '\n', avail) : nullptr;
    if (nl || (eof_ && avail > 0)) {
      size_t len = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : avail;
      begin_ += len + (nl ? 1 : 0);
      ++line_no_;
      line = std::string_view(start, len);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;  // blank lines (a trailing newline) carry nothing
      line_ = line;
      return true;
    }
    if (eof_) return false;
    if (avail > kMaxLineBytes)
      return Error{
          fmt::format("{} line {}: longer than {} bytes", path_, line_no_ + 1, kMaxLineBytes)};
    // Keep the unread tail, drop what was consumed, read the next chunk behind it.
    buf_.erase(0, begin_);
    begin_ = 0;
    const size_t old = buf_.size();
    buf_.resize(old + kChunkBytes);
    const size_t got = std::fread(buf_.data() + old, 1, kChunkBytes, f_);
    buf_.resize(old + got);
    if (got == 0) {
      if (std::ferror(f_))
        return Error{fmt::format("{}: read error: {}", path_, std::strerror(errno))};
      eof_ = true;
    }
  }
}

Result<bool> FileSource::next(Envelope& out) {
  std::string_view line;
  auto r = next_line(line);
  if (!r || !r.value()) return r;
  auto e = decode_envelope(line);
  if (!e)
    return Error{fmt::format("{} line {}: not a valid event envelope: {}", path_, line_no_,
                             e.error().message)};
  out = std::move(e.value());
  return true;
}

int64_t LineBatch::split_block() {
  lines.clear();
  int64_t line_no = 0;
  size_t begin = 0;
  while (begin < bytes.size()) {
    const void* nl = std::memchr(bytes.data() + begin, '\n', bytes.size() - begin);
    const size_t end =
        nl ? static_cast<size_t>(static_cast<const char*>(nl) - bytes.data()) : bytes.size();
    size_t len = end - begin;
    ++line_no;
    if (len > 0 && bytes[begin + len - 1] == '\r') --len;
    if (len > 0) lines.push_back(Line{begin, len, -1, -1, line_no});
    begin = end + 1;
  }
  return line_no;
}

Result<bool> FileSource::next_lines(LineBatch& out, size_t max) {
  // A block of about `max` lines of typical size, ending at a newline; the partial line
  // after it waits in buf_ for the next block. Lines are not split here (see LineBatch).
  out.origin = path_;
  out.block = true;
  out.bytes.assign(buf_.begin() + static_cast<std::ptrdiff_t>(begin_), buf_.end());
  buf_.clear();
  begin_ = 0;
  const size_t want = std::clamp<size_t>(max * 512, 64 << 10, 4 << 20);
  while (!eof_) {
    const size_t old = out.bytes.size();
    out.bytes.resize(old + want);
    const size_t got = std::fread(out.bytes.data() + old, 1, want, f_);
    out.bytes.resize(old + got);
    if (got == 0) {
      if (std::ferror(f_))
        return Error{fmt::format("{}: read error: {}", path_, std::strerror(errno))};
      eof_ = true;
      break;
    }
    const void* last_nl = memrchr(out.bytes.data() + old, '\n', got);
    if (last_nl) {
      const size_t cut =
          static_cast<size_t>(static_cast<const char*>(last_nl) - out.bytes.data()) + 1;
      buf_.assign(out.bytes.data() + cut, out.bytes.size() - cut);
      out.bytes.resize(cut);
      break;
    }
    // The block's first line has no end in sight: named as next() names it.
    if (out.bytes.size() > kMaxLineBytes)
      return Error{
          fmt::format("{} line {}: longer than {} bytes", path_, line_no_ + 1, kMaxLineBytes)};
  }
  // Lines handed over so far, for the message above (the workers number a block's own lines).
  line_no_ += std::count(out.bytes.begin(), out.bytes.end(), '\n');
  return !out.bytes.empty();
}

Result<std::unique_ptr<KafkaSource>> KafkaSource::open(const std::string& brokers,
                                                       const std::string& topic,
                                                       std::optional<uint32_t> partitions,
                                                       SourceRange range, int timeout_ms) {
  kafka::Options options;
  options.brokers = brokers;
  options.topic = topic;
  options.timeout_ms = timeout_ms;
  auto log = KafkaLog::open_reader(partitions, options);
  if (!log) return log.error();
  std::unique_ptr<KafkaSource> s(new KafkaSource());
  s->log_ = std::move(log.value());
  s->source_ = std::make_unique<LogSource>(*s->log_, range);
  return s;
}

KafkaSource::~KafkaSource() = default;

}  // namespace ordo::replay
