#pragma once
// What `ordo` takes: the flags of `serve` and `token`, and the usage text that lists them.
// Kept side by side (a unit test checks that the text names every flag and no other), so a
// new flag cannot be accepted without being documented, or documented without being taken.
#include <string_view>

namespace ordo::api {

inline constexpr std::string_view kServeFlags[] = {
    "data-dir",
    "listen",
    "partitions",
    "jwt-secret-file",
    "jwt-previous-secret-file",
    "jwt-previous-secret-grace",
    "reservation-ttl",
    "payment-timeout",
    "http-threads",
    "queue-capacity",
    "max-batch",
    "min-free-disk-mb",
    "port-file",
    "rate-limit",
    "read-timeout",
    "idle-timeout",
    "tls-cert",
    "tls-key",
    "max-connections",
    "max-connections-per-client",
    "kafka",
    "kafka-topic",
    "kafka-transactional-prefix",
    "kafka-timeout-ms",
    "postgres",
    "views-schema",
    "webhook-secret-file",
    "platform-fee-bps",
    "auto-release-after",
    "flow-wait-timeout",
    "max-subscriptions",
    "max-subscriptions-per-caller",
    "subscribe-queue-limit",
    "subscribe-write-timeout",
    "max-pending-queries",
    "query-timeout",
    "min-position-wait",
};

inline constexpr std::string_view kTokenFlags[] = {
    "sub", "role", "tier", "ttl", "jwt-secret-file", "data-dir",
};

inline constexpr std::string_view kUsage =
    "usage:\n"
    "  ordo serve --data-dir DIR [--listen 127.0.0.1:8080] [--partitions N]\n"
    "             [--jwt-secret-file F] [--jwt-previous-secret-file F "
    "[--jwt-previous-secret-grace 24h]]\n"
    "             [--reservation-ttl 15m] [--payment-timeout 1h (0: never)]\n"
    "             [--http-threads N] [--queue-capacity N]\n"
    "             [--max-batch N] [--min-free-disk-mb 128 (0: off)]\n"
    "             [--port-file F] [--rate-limit RPS (0: off)]\n"
    "             [--read-timeout 10s] [--idle-timeout 60s] [--tls-cert PEM --tls-key PEM]\n"
    "             [--max-connections 4096] [--max-connections-per-client N (0: no cap)]\n"
    "             [--kafka BROKERS [--kafka-topic ordo.events]\n"
    "              [--kafka-transactional-prefix ordo-] [--kafka-timeout-ms 10000]]\n"
    "             [--postgres CONNINFO [--views-schema ordo] [--min-position-wait 5s]]\n"
    "             [--webhook-secret-file F (or ORDO_WEBHOOK_SECRET)] [--platform-fee-bps 500]\n"
    "             [--auto-release-after 7d] [--flow-wait-timeout 10s]\n"
    "             [--max-subscriptions 256] [--max-subscriptions-per-caller 16]\n"
    "             [--subscribe-queue-limit 1000] [--subscribe-write-timeout 10s]\n"
    "             [--max-pending-queries 64] [--query-timeout 10s]\n"
    "  ordo token --sub S --role R [--tier vip] [--ttl 1h]\n"
    "             (--jwt-secret-file F | --data-dir DIR)\n"
    "  ordo replay export|verify|state-at|stats\n"
    "             (--data-dir DIR | --file EXPORT.jsonl | --kafka BROKERS) ...\n"
    "  ordo replay rebuild (--data-dir DIR | --kafka BROKERS) --postgres CONNINFO\n"
    "Every flag can also be set as ORDO_<FLAG> in the environment.\n";

}  // namespace ordo::api
