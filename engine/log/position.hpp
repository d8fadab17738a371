#pragma once
#include <cstdint>
#include <string>

#include "engine/domain/named_type.hpp"

namespace ordo {

using PartitionId = named_type<uint32_t, struct PartitionIdTag>;
// Position of an event in its partition. Increasing, but not necessarily contiguous (Kafka's
// transaction markers take offsets too), so nothing may assume `offset + 1`.
using Offset = named_type<int64_t, struct OffsetTag>;

// `{partition}-{offset}`, as in the `Ordo-Position` header.
struct Position {
  PartitionId partition{0};
  Offset offset{-1};  // -1: nothing written yet
  std::string to_string() const {
    return std::to_string(partition.value()) + "-" + std::to_string(offset.value());
  }
};

}  // namespace ordo
