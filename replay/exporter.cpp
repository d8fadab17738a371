#include "replay/exporter.hpp"

#include <fmt/core.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "engine/log/envelope_view.hpp"
#include "replay/csv.hpp"
#include "replay/line_check.hpp"

namespace ordo::replay {
namespace {

constexpr size_t kOutBuffer = 1 << 20;
constexpr size_t kExportBatchLines = 4096;

// An output file (or stdout) with a large buffer, closed and checked at the end. A regular
// file is written as PATH.partial and renamed to PATH only when complete: an export that
// fails halfway leaves no file that ends at a line boundary and would verify as a whole log,
// and `--out` naming the input file does not truncate it before it is read. Anything else
// that exists (/dev/null, a FIFO, /dev/fd/N) is written in place.
class Output {
 public:
  static Result<std::unique_ptr<Output>> open(const std::string& path) {
    const bool to_stdout = path.empty() || path == "-";
    std::error_code ec;
    const auto st = to_stdout ? std::filesystem::file_status{} : std::filesystem::status(path, ec);
    const bool in_place =
        to_stdout || (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st));
    const std::string partial = in_place ? std::string() : path + ".partial";
    std::FILE* f = to_stdout ? stdout : std::fopen(in_place ? path.c_str() : partial.c_str(), "wb");
    if (!f)
      return Error{
          fmt::format("cannot write {}: {}", in_place ? path : partial, std::strerror(errno))};
    auto out = std::unique_ptr<Output>(new Output(f, path, partial));
    std::setvbuf(f, nullptr, _IOFBF, kOutBuffer);
    return out;
  }
  ~Output() {
    if (f_ && f_ != stdout) std::fclose(f_);
    if (!partial_.empty()) std::remove(partial_.c_str());  // not completed: not left behind
  }
  std::FILE* file() { return f_; }
  Status close() {
    bool ok = std::fflush(f_) == 0 && !std::ferror(f_);
    if (f_ != stdout) ok = std::fclose(f_) == 0 && ok;
    f_ = nullptr;
    if (ok && !partial_.empty()) {
      ok = std::rename(partial_.c_str(), path_.c_str()) == 0;
      if (ok) partial_.clear();
    }
    if (!ok)
      return Error{fmt::format("writing {} failed: {}", path_.empty() ? "stdout" : path_,
                               std::strerror(errno))};
    return {};
  }

 private:
  Output(std::FILE* f, std::string path, std::string partial)
      : f_(f), path_(std::move(path)), partial_(std::move(partial)) {}
  std::FILE* f_;
  std::string path_;
  std::string partial_;  // the file being written, until renamed to path_
};

bool safe_type_name(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  for (char c : t)
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  return true;
}

// JSON Lines: each event's canonical envelope. A stored line that is canonical already (its
// envelope read in place, its payload accepted by CanonicalText) is copied as it is, which is
// byte for byte what decoding and re-encoding it would write; any other line is decoded in
// full and re-encoded, as before. No hash is checked here: export copies, verify judges.
Result<ExportSummary> export_jsonl(EventSource& source, const EventFilter& filter, Output& out,
                                   const Progress& progress) {
  ExportSummary sum;
  std::string line;
  auto write = [&](std::string_view text) -> Status {
    ++sum.written;
    if (std::fwrite(text.data(), 1, text.size(), out.file()) == text.size() &&
        std::fputc('\n', out.file()) != EOF)
      return {};
    return Error{"write failed: " + std::string(std::strerror(errno))};
  };
  auto read = [&] {
    if (++sum.read % kProgressEvery == 0 && progress) progress(sum.read);
  };
  auto copied = read_stored_lines(
      source, kExportBatchLines,
      [&](const EnvelopeView& v, std::string_view text) -> Status {
        read();
        if (!filter.matches(v.partition, v.offset, v.occurred_at, v.type, v.stream)) return {};
        return write(text);
      },
      [&](const Envelope& e) -> Status {
        read();
        if (!filter.matches(e)) return {};
        line = encode_envelope(e);
        return write(line);
      });
  if (!copied) return Error{copied.message()};
  if (auto s = out.close(); !s) return Error{s.message()};
  return sum;
}

}  // namespace

Result<ExportSummary> export_events(EventSource& source, const ExportOptions& options,
                                    const Progress& progress) {
  ExportSummary sum;
  const bool per_type_dir = options.format == ExportFormat::csv && !options.filter.type;
  std::unique_ptr<Output> single;
  std::unique_ptr<CsvWriter> single_csv;
  std::map<std::string, std::pair<std::unique_ptr<Output>, std::unique_ptr<CsvWriter>>> per_type;
  if (per_type_dir) {
    if (options.out.empty() || options.out == "-")
      return Error{
          "CSV of every type needs --out DIR (one file per type), or pick one with --type"};
    std::error_code ec;
    std::filesystem::create_directories(options.out, ec);
    if (ec) return Error{fmt::format("cannot create {}: {}", options.out, ec.message())};
  } else {
    auto o = Output::open(options.out);
    if (!o) return o.error();
    single = std::move(o.value());
    if (options.format == ExportFormat::jsonl)
      return export_jsonl(source, options.filter, *single, progress);
    if (options.format == ExportFormat::csv)
      single_csv = std::make_unique<CsvWriter>(single->file());
  }

  Envelope e;
  for (;;) {
    auto r = source.next(e);
    if (!r) return Error{r.error().message};
    if (!r.value()) break;
    if (++sum.read % kProgressEvery == 0 && progress) progress(sum.read);
    if (!options.filter.matches(e)) continue;
    ++sum.written;
    CsvWriter* w = single_csv.get();
    if (per_type_dir) {
      auto it = per_type.find(e.type);
      if (it == per_type.end()) {
        if (!safe_type_name(e.type))
          return Error{fmt::format("event type {} is not a file name", e.type)};
        auto o = Output::open((std::filesystem::path(options.out) / (e.type + ".csv")).string());
        if (!o) return o.error();
        auto csv = std::make_unique<CsvWriter>(o.value()->file());
        it = per_type.emplace(e.type, std::make_pair(std::move(o.value()), std::move(csv))).first;
      }
      w = it->second.second.get();
    }
    if (auto s = w->write(e); !s) return Error{s.message()};
  }
  if (single)
    if (auto s = single->close(); !s) return Error{s.message()};
  for (auto& [_, o] : per_type)
    if (auto s = o.first->close(); !s) return Error{s.message()};
  return sum;
}

}  // namespace ordo::replay
