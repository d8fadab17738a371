#pragma once
// A RocksDB file system that drops a write-ahead log's pages from the page cache once they
// are synced. The WAL is read only by recovery, so its synced pages are dead weight; dropped
// at once, the next appends reuse the pages just freed instead of taking new ones (which on
// a VM whose host backs guest memory on first touch made the WAL's copy into the page cache
// several times slower than the same bytes written by a lone writer). Only whole pages up to
// the synced size are dropped; data files are left alone. Best effort: a failed advice
// changes nothing but the cache.
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <memory>

namespace ordo {

// An Env over the default one (threads, clock) whose file system drops WAL pages after sync,
// over `base` (null: the machine's file system).
std::unique_ptr<rocksdb::Env> new_wal_page_dropping_env(
    std::shared_ptr<rocksdb::FileSystem> base = nullptr);

}  // namespace ordo
