#include "replay/replay_main.hpp"

#include <fmt/core.h>

#include <charconv>
#include <limits>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "projections/rebuild.hpp"
#include "replay/event_source.hpp"
#include "replay/exporter.hpp"
#include "replay/state_at.hpp"
#include "replay/stats.hpp"
#include "replay/verifier.hpp"

namespace ordo::replay {
namespace {

int usage() {
  std::fprintf(
      stderr,
      "usage: ordo replay COMMAND SOURCE [options]\n"
      "  SOURCE: --data-dir DIR (a stopped engine's data) | --file EXPORT.jsonl ('-' = stdin)\n"
      "          | --kafka BROKERS [--kafka-topic ordo.events] [--partitions N (checked against\n"
      "            the topic's count, which is used when not given)] [--kafka-timeout-ms 10000]\n"
      "  export   [--format jsonl|csv] [--out PATH] [--partition N] [--stream S] [--type T]\n"
      "           [--from-time MS] [--to-time MS] [--from-offset N] [--to-offset N]\n"
      "           (csv without --type writes one {Type}.csv per type into the --out directory)\n"
      "  verify   [--format text|json]    exit 0 when everything holds, 1 when not\n"
      "  state-at (--stream S | --kind product|order|wallet|payment|escrow|payout|account)\n"
      "           (--offset N | --time MS) [--partition N]\n"
      "  stats\n"
      "  rebuild  (--data-dir DIR | --kafka BROKERS) --postgres CONNINFO [--views-schema ordo]\n");
  return 2;
}

// `--name value` or `--name=value`; every option takes a value.
struct Flags {
  std::map<std::string, std::string> values;
  std::optional<std::string> get(const std::string& k) const {
    auto it = values.find(k);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

std::optional<Flags> parse_flags(int argc, char** argv, int first,
                                 const std::set<std::string>& allowed) {
  Flags f;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.starts_with("--")) {
      std::fprintf(stderr, "ordo replay: unexpected argument %s\n", a.c_str());
      return std::nullopt;
    }
    a = a.substr(2);
    std::string v;
    if (auto eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      std::fprintf(stderr, "ordo replay: --%s needs a value\n", a.c_str());
      return std::nullopt;
    }
    if (!allowed.contains(a)) {
      std::fprintf(stderr, "ordo replay: unknown option --%s for this command\n", a.c_str());
      return std::nullopt;
    }
    f.values[a] = v;
  }
  return f;
}

std::optional<int64_t> to_int(const std::string& s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Reads an integer option into `out`; false (after a message) when present but malformed.
bool int_flag(const Flags& f, const std::string& name, std::optional<int64_t>& out,
              int64_t min = INT64_MIN, int64_t max = INT64_MAX) {
  auto v = f.get(name);
  if (!v) return true;
  auto n = to_int(*v);
  if (!n || *n < min || *n > max) {
    if (max != INT64_MAX)
      std::fprintf(stderr, "ordo replay: --%s must be an integer in %lld..%lld\n", name.c_str(),
                   static_cast<long long>(min), static_cast<long long>(max));
    else
      std::fprintf(stderr, "ordo replay: --%s must be an integer%s\n", name.c_str(),
                   min == 0 ? " >= 0" : "");
    return false;
  }
  out = n;
  return true;
}

// A partition number: 0..2^32-1, not wrapped into that range.
bool partition_flag(const Flags& f, std::optional<int64_t>& out) {
  return int_flag(f, "partition", out, 0, std::numeric_limits<uint32_t>::max());
}

// Opens the one source the flags name. Sets `exit_code` when it cannot.
std::unique_ptr<EventSource> open_source(const Flags& f, SourceRange range, int& exit_code) {
  int n = (f.get("data-dir") ? 1 : 0) + (f.get("file") ? 1 : 0) + (f.get("kafka") ? 1 : 0);
  if (n != 1) {
    std::fprintf(stderr,
                 "ordo replay: name exactly one source: --data-dir DIR, --file EXPORT.jsonl or "
                 "--kafka BROKERS\n");
    exit_code = 2;
    return nullptr;
  }
  if (!f.get("kafka") &&
      (f.get("partitions") || f.get("kafka-topic") || f.get("kafka-timeout-ms"))) {
    std::fprintf(
        stderr,
        "ordo replay: --partitions, --kafka-topic and --kafka-timeout-ms go with --kafka\n");
    exit_code = 2;
    return nullptr;
  }
  if (auto brokers = f.get("kafka")) {
    // The partition count is the topic's, unless given (then checked against it). The timeout
    // bounds each broker interaction, as `ordo serve --kafka-timeout-ms`: an unreachable broker
    // is an error within this long.
    std::optional<int64_t> partitions, timeout_ms;
    if (!int_flag(f, "partitions", partitions, 1, 1024) ||
        !int_flag(f, "kafka-timeout-ms", timeout_ms, 100, 600'000)) {
      exit_code = 2;
      return nullptr;
    }
    auto s = KafkaSource::open(
        *brokers, f.get("kafka-topic").value_or("ordo.events"),
        partitions ? std::optional<uint32_t>(static_cast<uint32_t>(*partitions)) : std::nullopt,
        range, static_cast<int>(timeout_ms.value_or(10'000)));
    if (!s) {
      std::fprintf(stderr, "ordo replay: %s\n", s.error().message.c_str());
      exit_code = 1;
      return nullptr;
    }
    return std::move(s.value());
  }
  if (auto dir = f.get("data-dir")) {
    auto s = DataDirSource::open(*dir, range);
    if (!s) {
      std::fprintf(stderr, "ordo replay: %s\n", s.error().message.c_str());
      exit_code = 1;
      return nullptr;
    }
    return std::move(s.value());
  }
  auto s = FileSource::open(*f.get("file"));
  if (!s) {
    std::fprintf(stderr, "ordo replay: %s\n", s.error().message.c_str());
    exit_code = 1;
    return nullptr;
  }
  return std::move(s.value());
}

void print_progress(int64_t n) {
  std::fprintf(stderr, "ordo replay: %lld events read\n", static_cast<long long>(n));
}

const std::set<std::string> kSourceFlags = {"data-dir",    "file",       "kafka",
                                            "kafka-topic", "partitions", "kafka-timeout-ms"};
std::set<std::string> with_source(std::set<std::string> s) {
  s.insert(kSourceFlags.begin(), kSourceFlags.end());
  return s;
}

int cmd_export(int argc, char** argv) {
  auto f = parse_flags(argc, argv, 3,
                       with_source({"format", "out", "partition", "stream", "type", "from-time",
                                    "to-time", "from-offset", "to-offset"}));
  if (!f) return usage();
  ExportOptions o;
  std::optional<int64_t> partition;
  if (!partition_flag(*f, partition) || !int_flag(*f, "from-time", o.filter.from_time_ms) ||
      !int_flag(*f, "to-time", o.filter.to_time_ms) ||
      !int_flag(*f, "from-offset", o.filter.from_offset, 0) ||
      !int_flag(*f, "to-offset", o.filter.to_offset, 0))
    return 2;
  if (partition) o.filter.partition = static_cast<uint32_t>(*partition);
  o.filter.stream = f->get("stream");
  o.filter.type = f->get("type");
  o.out = f->get("out").value_or("");
  std::string format = f->get("format").value_or("jsonl");
  if (format == "csv")
    o.format = ExportFormat::csv;
  else if (format != "jsonl")
    return usage();

  SourceRange range{o.filter.partition, o.filter.from_offset.value_or(0)};
  int code = 0;
  auto src = open_source(*f, range, code);
  if (!src) return code;
  auto r = export_events(*src, o, print_progress);
  if (!r) {
    std::fprintf(stderr, "ordo replay export: %s\n", r.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "ordo replay export: %lld events read, %lld written\n",
               static_cast<long long>(r->read), static_cast<long long>(r->written));
  return 0;
}

int cmd_verify(int argc, char** argv) {
  auto f = parse_flags(argc, argv, 3, with_source({"format"}));
  if (!f) return usage();
  std::string format = f->get("format").value_or("text");
  if (format != "text" && format != "json") return usage();
  int code = 0;
  auto src = open_source(*f, {}, code);
  if (!src) return code;
  VerifyReport r = verify(*src, print_progress);
  // A log with no events verifies; a file with none is more likely a failed or cut export
  // than an empty log, and proves nothing either way.
  if (f->get("file") && r.ok() && r.events() == 0)
    r.source_error = "the file holds no events: nothing to verify";
  if (format == "json") {
    std::printf("%s\n", to_canonical(to_json(r)).c_str());
  } else {
    for (const auto& p : r.partitions) {
      if (p.ok)
        std::printf("partition %u: ok, %lld events, last offset %lld, last hash %s\n",
                    p.partition.value(), static_cast<long long>(p.events),
                    static_cast<long long>(p.last_offset.value()), p.last_hash.c_str());
      else
        std::printf("partition %u: BAD at offset %lld: %s\n", p.partition.value(),
                    static_cast<long long>(p.bad_offset.value()), p.reason.c_str());
    }
    if (r.source_error) std::printf("source: %s\n", r.source_error->c_str());
    if (r.ok())
      std::printf("verify: ok (%lld events)\n", static_cast<long long>(r.events()));
    else
      std::printf("verify: FAILED: %s\n", r.first_failure().c_str());
  }
  return r.ok() ? 0 : 1;
}

int cmd_state_at(int argc, char** argv) {
  auto f =
      parse_flags(argc, argv, 3, with_source({"stream", "kind", "offset", "time", "partition"}));
  if (!f) return usage();
  Cut cut;
  std::optional<int64_t> partition;
  if (!int_flag(*f, "offset", cut.offset, -1) || !int_flag(*f, "time", cut.time_ms) ||
      !partition_flag(*f, partition))
    return 2;
  if (partition) cut.partition = static_cast<uint32_t>(*partition);
  auto stream = f->get("stream");
  auto kind = f->get("kind");
  if ((stream.has_value() == kind.has_value()) ||
      (cut.offset.has_value() == cut.time_ms.has_value())) {
    std::fprintf(stderr,
                 "ordo replay state-at: give one of --stream/--kind and one of --offset/--time\n");
    return 2;
  }
  if (kind && !is_state_kind(*kind)) return usage();
  int code = 0;
  auto src = open_source(*f, {}, code);
  if (!src) return code;
  auto folded = fold_until(*src, cut, print_progress);
  if (!folded) {
    std::fprintf(stderr, "ordo replay state-at: %s\n", folded.error().message.c_str());
    return 1;
  }
  auto j = state_at_json(folded.value(), cut, stream, kind);
  if (!j) {
    std::fprintf(stderr, "ordo replay state-at: %s\n", j.error().message.c_str());
    return 2;
  }
  std::printf("%s\n", to_canonical(j.value()).c_str());
  return 0;
}

int cmd_stats(int argc, char** argv) {
  auto f = parse_flags(argc, argv, 3, with_source({}));
  if (!f) return usage();
  int code = 0;
  auto src = open_source(*f, {}, code);
  if (!src) return code;
  auto s = collect_stats(*src, print_progress);
  if (!s) {
    std::fprintf(stderr, "ordo replay stats: %s\n", s.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", to_canonical(to_json(s.value())).c_str());
  return 0;
}

// Rebuilds the PostgreSQL views from a stopped engine's log into a fresh schema and swaps it
// in atomically (projections/rebuild.hpp). Readers never see a half-built view.
int cmd_rebuild(int argc, char** argv) {
  auto f = parse_flags(argc, argv, 3, with_source({"postgres", "views-schema"}));
  if (!f) return usage();
  auto pg = f->get("postgres");
  if ((!f->get("data-dir") && !f->get("kafka")) || !pg) {
    std::fprintf(stderr,
                 "ordo replay rebuild: needs --data-dir DIR or --kafka BROKERS, and --postgres "
                 "CONNINFO\n");
    return 2;
  }
  int code = 0;
  auto src = open_source(*f, {}, code);
  if (!src) return code;
  // The views are built from the log (an engine in Kafka mode keeps its events there).
  EventLog* log = src->log();
  if (!log) {
    std::fprintf(stderr, "ordo replay rebuild: reads a data directory or Kafka, not a file\n");
    return 2;
  }
  auto r =
      projections::rebuild_views(*log, *pg, f->get("views-schema").value_or("ordo"), std::cerr);
  if (!r) {
    std::fprintf(stderr, "ordo replay rebuild: %s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("{\"events\":%llu,\"schema\":\"%s\"}\n", static_cast<unsigned long long>(r->events),
              f->get("views-schema").value_or("ordo").c_str());
  return 0;
}

}  // namespace

int replay_main(int argc, char** argv) {
  if (argc < 3) return usage();
  std::string cmd = argv[2];
  if (cmd == "export") return cmd_export(argc, argv);
  if (cmd == "verify") return cmd_verify(argc, argv);
  if (cmd == "state-at") return cmd_state_at(argc, argv);
  if (cmd == "stats") return cmd_stats(argc, argv);
  if (cmd == "rebuild") return cmd_rebuild(argc, argv);
  return usage();
}

}  // namespace ordo::replay
